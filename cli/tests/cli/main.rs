//! End-to-end tests of the `tarn` binary: the command-line contract users and scripts rely on,
//! and what only separate processes can show (durability, concurrency).

mod catalog;
mod durability;
mod lake;
mod lineage;
mod serve;
mod shared_data;
mod shell;
mod tpcds;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub(crate) fn tarn_command(warehouse: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tarn"));
    command
        .arg("--warehouse")
        .arg(warehouse)
        .env_remove("TARN_WAREHOUSE")
        .env("TARN_HISTORY", warehouse.with_extension("history"))
        .stdin(Stdio::null());
    command
}

pub(crate) fn tarn(warehouse: &Path, args: &[&str]) -> Output {
    tarn_command(warehouse).args(args).output().expect("tarn runs")
}

pub(crate) fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub(crate) fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[track_caller]
pub(crate) fn assert_success(output: &Output) {
    assert!(output.status.success(), "tarn failed: {}\nstdout: {}", stderr(output), stdout(output));
}

fn data(file: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../data").join(file).display().to_string()
}

pub(crate) fn warehouse() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("warehouse");
    (dir, path)
}

#[test]
fn seed_sections_run_from_files_and_a_second_process_sees_the_tables() {
    let (_dir, wh) = warehouse();
    let (schema, load, summary) = (data("schema.sql"), data("load.sql"), data("summary.sql"));
    let output = tarn(&wh, &["-f", &schema, "-f", &load, "-f", &summary, "--format", "csv"]);
    assert_success(&output);
    // Verified independently from the CSV files (see data/generate.py).
    assert_eq!(
        stdout(&output),
        "month,mau\n2019-11,33\n2019-10,44\n2019-09,40\n2019-08,36\n2019-07,53\n2019-06,41\n2019-05,28\n"
    );
    // Command tags go to stderr in machine formats.
    assert!(stderr(&output).contains("INSERT 0 400"), "{}", stderr(&output));

    let output = tarn(
        &wh,
        &[
            "-c",
            "SELECT count(*) AS n FROM raw_data.user_session_channel; \
             SELECT nspname FROM pg_namespace WHERE nspname IN ('raw_data','analytics','adhoc','pii') ORDER BY 1",
            "--format",
            "csv",
        ],
    );
    assert_success(&output);
    assert_eq!(stdout(&output), "n\n400\nnspname\nadhoc\nanalytics\npii\nraw_data\n");
}

#[test]
fn commands_and_files_run_in_the_order_given() {
    let (dir, wh) = warehouse();
    let file = dir.path().join("insert.sql");
    std::fs::write(&file, "INSERT INTO t VALUES (2);\n-- a comment\nINSERT INTO t VALUES (3);").unwrap();
    let output = tarn(
        &wh,
        &[
            "-c",
            "CREATE TABLE t (a integer)",
            "-f",
            file.to_str().unwrap(),
            "-c",
            "INSERT INTO t VALUES (1)",
            "-c",
            "SELECT a FROM t ORDER BY a",
            "--format",
            "csv",
        ],
    );
    assert_success(&output);
    assert_eq!(stdout(&output), "a\n1\n2\n3\n");
}

#[test]
fn piped_stdin_runs_without_a_prompt() {
    let (_dir, wh) = warehouse();
    let mut child = tarn_command(&wh)
        .args(["--format", "tsv"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"CREATE TABLE t (a int, b varchar(5));\nINSERT INTO t VALUES (1, 'x'), (2, NULL);\nSELECT * FROM t ORDER BY a;\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert_success(&output);
    assert_eq!(stdout(&output), "a\tb\n1\tx\n2\t\n");
}

#[test]
fn the_first_error_stops_the_run_with_exit_code_1_and_one_line() {
    let (_dir, wh) = warehouse();
    let output = tarn(&wh, &["-c", "CREATE TABLE t (a int); SELECT * FROM nope; CREATE TABLE u (b int)"]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("Error: ") && err.contains("nope"), "{err}");
    assert!(!err.contains("panicked") && !err.contains("backtrace"), "{err}");

    let output = tarn(&wh, &["-c", "SELECT table_name FROM information_schema.tables", "--format", "csv"]);
    assert_success(&output);
    assert_eq!(stdout(&output), "table_name\nt\n");

    let output = tarn(&wh, &["-c", "SELEC 1"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("syntax error"), "{}", stderr(&output));

    let output = tarn(&wh, &["-f", "/nonexistent/file.sql"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("cannot read /nonexistent/file.sql"), "{}", stderr(&output));
}

#[test]
fn a_closed_output_pipe_ends_quietly() {
    let (_dir, wh) = warehouse();
    let mut child = tarn_command(&wh)
        .args(["-c", "SELECT * FROM generate_series(1, 2000000)", "--format", "csv"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 6];
    std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut first).unwrap();
    assert_eq!(&first, b"value\n");
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stderr(&output).is_empty(), "{}", stderr(&output));
}

#[test]
fn usage_errors_exit_with_code_2() {
    let (_dir, wh) = warehouse();
    let output = tarn(&wh, &["--format", "yaml", "-c", "select 1"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("yaml"));
}

#[test]
fn output_formats_are_exactly_parseable() {
    let (_dir, wh) = warehouse();
    let setup = "CREATE TABLE t (id int, name varchar(10), ts timestamp, amount decimal(6,2)); \
                 INSERT INTO t VALUES (1, 'a,b', '2024-01-02 03:04:05', 1.50), (2, NULL, NULL, NULL)";
    assert_success(&tarn(&wh, &["-c", setup]));
    let query = "SELECT * FROM t ORDER BY id";

    let json = tarn(&wh, &["-c", query, "--format", "json"]);
    assert_success(&json);
    let value: serde_json::Value = serde_json::from_str(&stdout(&json)).expect("valid JSON");
    assert_eq!(value[0]["id"], 1);
    assert_eq!(value[0]["name"], "a,b");
    assert_eq!(value.as_array().unwrap().len(), 2);

    let ndjson = tarn(&wh, &["-c", query, "--format", "ndjson"]);
    let lines: Vec<serde_json::Value> =
        stdout(&ndjson).lines().map(|l| serde_json::from_str(l).expect("valid JSON line")).collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1]["id"], 2);

    let csv = tarn(&wh, &["-c", query, "--format", "csv"]);
    assert_eq!(stdout(&csv), "id,name,ts,amount\n1,\"a,b\",2024-01-02 03:04:05,1.50\n2,,,\n");

    let empty = tarn(&wh, &["-c", "SELECT * FROM t WHERE id < 0", "--format", "json"]);
    assert_eq!(stdout(&empty).trim(), "[]");
    let empty = tarn(&wh, &["-c", "SELECT * FROM t WHERE id < 0", "--format", "csv"]);
    assert_eq!(stdout(&empty), "id,name,ts,amount\n");

    let markdown = tarn(&wh, &["-c", "SELECT id, name FROM t ORDER BY id", "--format", "markdown"]);
    assert_eq!(stdout(&markdown), "| id | name |\n|---|---|\n| 1 | a,b |\n| 2 | NULL |\n");

    let table = tarn(&wh, &["-c", "SELECT id FROM t ORDER BY id"]);
    assert_eq!(stdout(&table), "+----+\n| id |\n+----+\n| 1  |\n| 2  |\n+----+\n(2 rows)\n");
}

#[test]
fn the_warehouse_comes_from_the_environment_when_no_flag_is_given() {
    let (_dir, wh) = warehouse();
    let output = Command::new(env!("CARGO_BIN_EXE_tarn"))
        .env("TARN_WAREHOUSE", &wh)
        .args(["-c", "CREATE TABLE from_env (a int)"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_success(&output);
    assert!(wh.join("catalog.db").exists());
}

/// The data files of a warehouse (its `data/` directory).
pub(crate) fn parquet_files(warehouse: &Path) -> Vec<PathBuf> {
    parquet_files_under(&warehouse.join("data"))
}

/// The Parquet files anywhere under `root`.
pub(crate) fn parquet_files_under(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "parquet") {
                out.push(path);
            }
        }
    }
    out
}

#[test]
fn killing_tarn_during_a_large_insert_keeps_the_previous_contents() {
    let (_dir, wh) = warehouse();
    assert_success(&tarn(&wh, &["-c", "CREATE TABLE t (a bigint); INSERT INTO t VALUES (1), (2), (3)"]));
    let committed = parquet_files(&wh);
    assert_eq!(committed.len(), 1);

    let mut child = tarn_command(&wh)
        .args(["-c", "INSERT INTO t SELECT value FROM generate_series(1, 500000000)"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the insert is writing its first file, then kill it without warning.
    let deadline = Instant::now() + Duration::from_secs(60);
    while parquet_files(&wh).len() <= committed.len() {
        assert!(Instant::now() < deadline, "the insert never started writing");
        assert!(child.try_wait().unwrap().is_none(), "the insert finished before it could be killed");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(parquet_files(&wh).len() > committed.len(), "the killed insert left a partial file behind");

    // The next process sees the previous contents and removes the dead writer's files.
    let output = tarn(&wh, &["-c", "SELECT count(*) AS n, sum(a) AS s FROM t", "--format", "csv"]);
    assert_success(&output);
    assert_eq!(stdout(&output), "n,s\n3,6\n");
    assert_eq!(parquet_files(&wh), committed);
}

#[test]
fn result_columns_carry_postgresql_names_and_may_repeat() {
    let (_dir, wh) = warehouse();
    let output = tarn(
        &wh,
        &[
            "-c",
            "CREATE TABLE t (a int, d date); INSERT INTO t VALUES (1, '2024-01-31')",
            "-c",
            "SELECT a, a, count(*), 1, extract(year FROM d), cast(a AS text), dateadd(day, 1, d) FROM t GROUP BY a, d",
            "--format",
            "csv",
        ],
    );
    assert_success(&output);
    assert_eq!(stdout(&output), "a,a,count,?column?,date_part,a,date_add\n1,1,1,1,2024,1,2024-02-01 00:00:00\n");
}

#[test]
fn check_reports_violated_keys_and_exits_with_one() {
    let (_dir, wh) = warehouse();
    let setup = "CREATE TABLE mau (month varchar(7) PRIMARY KEY, mau int NOT NULL); \
                 INSERT INTO mau VALUES ('2019-05', 2), ('2019-06', 3);";
    assert_success(&tarn(&wh, &["-c", setup]));
    let output = tarn(&wh, &["--format", "csv", "check", "mau", "--primary-key"]);
    assert_success(&output);
    assert_eq!(
        stdout(&output),
        "constraint_name,constraint_type,columns,status,offending_rows,duplicate_keys,sample\n\
         mau_pkey,PRIMARY KEY,month,ok,0,0,\n"
    );

    assert_success(&tarn(&wh, &["-c", "INSERT INTO mau VALUES ('2019-06', 4)"]));
    let output = tarn(&wh, &["--format", "csv", "check", "mau"]);
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        stdout(&output),
        "constraint_name,constraint_type,columns,status,offending_rows,duplicate_keys,sample\n\
         mau_pkey,PRIMARY KEY,month,violated,2,1,2019-06 (2 rows)\n\
         mau_month_not_null,NOT NULL,month,ok,0,0,\n\
         mau_mau_not_null,NOT NULL,mau,ok,0,0,\n"
    );
    assert_eq!(stderr(&output).trim(), "Error: 1 constraint(s) of mau violated");
}

#[test]
fn history_lists_the_last_statements_of_earlier_processes_with_secrets_masked() {
    let (_dir, wh) = warehouse();
    assert_success(&tarn(&wh, &["-c", "CREATE TABLE h (a int)", "-c", "CREATE USER u PASSWORD 'Secret123'"]));
    let _ = tarn(&wh, &["-c", "SELECT nope FROM h"]);
    let mut child = tarn_command(&wh)
        .args(["--format", "csv"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"\\history 2\n").unwrap();
    let output = child.wait_with_output().unwrap();
    assert_success(&output);
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert_eq!(lines[0], "query,starttime,status,rows,querytxt");
    assert!(lines[1].starts_with("2,") && lines[1].ends_with(",success,,CREATE USER u PASSWORD '***'"), "{text}");
    assert!(lines[2].starts_with("3,") && lines[2].ends_with(",error,,SELECT nope FROM h"), "{text}");
}
