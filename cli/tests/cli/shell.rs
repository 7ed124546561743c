//! The shell: backslash commands through piped stdin and files (`\x`, `\maxrows`, `\o`, `\i`,
//! `\explain`, `\bench`), the configuration flags, `tarn bench` on a tiny TPC-H, and the REPL on a
//! pseudo-terminal (`~/.tarnrc`, Tab completion, `\e`, the pager).

use std::io::Write;
use std::path::Path;
use std::process::{Output, Stdio};

use crate::{assert_success, stderr, stdout, tarn, tarn_command, warehouse};

fn piped(warehouse: &Path, args: &[&str], input: &str) -> Output {
    let mut child = tarn_command(warehouse)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn expanded_display_and_row_limits() {
    let (_dir, wh) = warehouse();
    let output = piped(
        &wh,
        &[],
        "CREATE TABLE t (id int, name varchar(10));\n\
         INSERT INTO t VALUES (1, 'ann'), (2, NULL), (3, 'cy');\n\
         \\x on\n\
         \\maxrows 2\n\
         SELECT * FROM t\n ORDER BY id;\n",
    );
    assert_success(&output);
    let out = stdout(&output);
    assert!(out.contains("Expanded display is on.") && out.contains("Showing at most 2 rows."), "{out}");
    assert!(
        out.contains("-[ RECORD 1 ]") && out.contains("id   | 1\nname | ann\n") && out.contains("name | NULL\n"),
        "{out}"
    );
    assert!(out.contains("(3 rows (2 shown))"), "{out}");
    assert!(!out.contains("RECORD 3"), "{out}");
}

#[test]
fn results_go_to_a_file_and_scripts_run_from_files() {
    let (dir, wh) = warehouse();
    let results = dir.path().join("out.csv");
    let script = dir.path().join("setup.sql");
    std::fs::write(&script, "CREATE TABLE s (v int);\n\\timing on\nINSERT INTO s VALUES (7), (8);\n").unwrap();
    let input = format!(
        "\\i {}\n\\format csv\n\\o {}\nSELECT v FROM s ORDER BY v;\n\\o\nSELECT count(*) AS n FROM s;\n",
        script.display(),
        results.display()
    );
    let output = piped(&wh, &[], &input);
    assert_success(&output);
    assert_eq!(std::fs::read_to_string(&results).unwrap(), "v\n7\n8\n");
    let out = stdout(&output);
    assert!(out.ends_with("n\n2\n"), "{out}");
    assert!(!out.contains("7\n8"), "{out}");
    assert!(stderr(&output).contains("Time: "), "{}", stderr(&output));
}

#[test]
fn a_bad_command_or_script_error_stops_the_run() {
    let (_dir, wh) = warehouse();
    let output = piped(&wh, &[], "\\frobnicate\nSELECT 1;\n");
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("unknown command \\frobnicate"), "{}", stderr(&output));
    let output = piped(&wh, &[], "\\i /nonexistent/file.sql\n");
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("cannot read /nonexistent/file.sql"), "{}", stderr(&output));
}

#[test]
fn explain_toggle_and_bench_print_plans_and_timings() {
    let (_dir, wh) = warehouse();
    let output = piped(
        &wh,
        &["--format", "csv"],
        "CREATE TABLE e (k int);\nINSERT INTO e VALUES (1), (2);\n\\explain on\nSELECT sum(k) AS s FROM e;\n\\explain off\n\\bench 3 SELECT k FROM e WHERE k > 1\n",
    );
    assert_success(&output);
    let out = stdout(&output);
    assert!(out.contains("AggregateExec") && out.contains("DataSourceExec"), "{out}");
    assert!(out.contains("s\n3\n"), "{out}");
    assert!(out.contains("3 runs after 1 warm-up, 1 rows"), "{out}");
    for line in ["planning", "execution", "total"] {
        assert!(out.lines().any(|l| l.starts_with(line) && l.contains(" ms")), "{out}");
    }

    // EXPLAIN ANALYZE: per-operator rows, time, bytes and pruning of the managed table's files.
    let output = tarn(&wh, &["--format", "csv", "-c", "EXPLAIN ANALYZE SELECT k FROM e WHERE k > 1"]);
    assert_success(&output);
    let out = stdout(&output);
    for metric in [
        "output_rows=",
        "elapsed_compute=",
        "bytes_scanned=",
        "files_ranges_pruned_statistics=",
        "row_groups_pruned_statistics=",
    ] {
        assert!(out.contains(metric), "{metric}: {out}");
    }
    let output = tarn(&wh, &["--format", "csv", "-c", "EXPLAIN FORMAT graphviz SELECT k FROM e"]);
    assert_success(&output);
    assert!(stdout(&output).contains("digraph"), "{}", stdout(&output));
}

#[test]
fn threads_and_memory_limit_configure_execution() {
    let (_dir, wh) = warehouse();
    let output = tarn(&wh, &["--threads", "3", "--format", "csv", "-c", "SHOW datafusion.execution.target_partitions"]);
    assert_success(&output);
    assert_eq!(stdout(&output), "name,value\ndatafusion.execution.target_partitions,3\n");
    let output = tarn(
        &wh,
        &[
            "--memory-limit",
            "1MB",
            "-c",
            "SELECT v, repeat('x', 100) FROM generate_series(1, 2000000) AS t(v) ORDER BY v DESC LIMIT 1000000",
        ],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("out of memory") && stderr(&output).contains("pool_size: 1024.0 KB"),
        "{}",
        stderr(&output)
    );
    let output = tarn(&wh, &["--memory-limit", "lots", "-c", "SELECT 1"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("invalid value 'lots' for '--memory-limit <SIZE>'"), "{}", stderr(&output));
}

#[test]
fn cache_size_bounds_the_decoded_data_cache() {
    let (_dir, wh) = warehouse();
    let setup = "CREATE TABLE t AS SELECT n AS a FROM generate_series(1, 1000) AS g(n)";
    assert_success(&tarn(&wh, &["-c", setup]));
    // Read three times in one process: the second read fills the cache, the third hits it.
    let read = "SELECT sum(a) FROM t";
    let output = tarn(
        &wh,
        &[
            "--cache-size",
            "64MB",
            "--format",
            "csv",
            "-c",
            "SHOW tarn.cache_size",
            "-c",
            read,
            "-c",
            read,
            "-c",
            read,
            "-c",
            "SELECT capacity, hits > 0 AS hit FROM tarn_cache",
        ],
    );
    assert_success(&output);
    assert_eq!(
        stdout(&output),
        "tarn.cache_size\n64MB\nsum\n500500\nsum\n500500\nsum\n500500\ncapacity,hit\n67108864,true\n"
    );
    let output = tarn(
        &wh,
        &["--cache-size", "0", "--format", "csv", "-c", read, "-c", read, "-c", "SELECT entries FROM tarn_cache"],
    );
    assert_success(&output);
    assert_eq!(stdout(&output), "sum\n500500\nsum\n500500\nentries\n0\n");
    let output = tarn(&wh, &["--cache-size", "lots", "-c", "SELECT 1"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("invalid value 'lots' for '--cache-size <SIZE>'"), "{}", stderr(&output));
}

#[test]
fn bench_generates_tpch_runs_the_queries_and_compares_results() {
    let (dir, wh) = warehouse();
    let data = dir.path().join("tpch");
    let output = tarn(&wh, &["bench", "tpch", "--sf", "0.01", "--data", data.to_str().unwrap()]);
    assert_success(&output);
    let output = tarn(
        &wh,
        &["--format", "csv", "-c", "SELECT count(*) FROM lineitem", "-c", "SELECT count(*) FROM tpch_lake.orders"],
    );
    assert_success(&output);
    assert_eq!(stdout(&output), "count\n60175\ncount\n15000\n");

    let queries = concat!(env!("CARGO_MANIFEST_DIR"), "/../benches/tpch/queries");
    let mut results = Vec::new();
    for schema in ["public", "tpch_lake"] {
        let result = dir.path().join(format!("{schema}.json"));
        let output = tarn(
            &wh,
            &["bench", "run", queries, "-n", "1", "--schema", schema, "--name", schema, "-o", result.to_str().unwrap()],
        );
        assert_success(&output);
        let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&result).unwrap()).unwrap();
        let names: Vec<&str> =
            json["queries"].as_array().unwrap().iter().map(|q| q["query"].as_str().unwrap()).collect();
        assert_eq!(names.len(), 22, "{names:?}");
        assert_eq!((names[0], names[21]), ("q1", "q22"));
        let rows: Vec<u64> = json["queries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|q| q["iterations"][0]["row_count"].as_u64().unwrap())
            .collect();
        results.push((result, rows));
    }
    // The same data as managed and as Parquet lake tables: the same answers.
    assert_eq!(results[0].1, results[1].1);
    assert_eq!(results[0].1[0], 4, "Q1 has four groups");

    let output = tarn(&wh, &["bench", "compare", results[0].0.to_str().unwrap(), results[1].0.to_str().unwrap()]);
    assert_success(&output);
    let out = stdout(&output);
    assert!(out.contains("geometric mean of B / A over 22 queries"), "{out}");
    assert!(out.lines().filter(|l| l.starts_with('q')).count() >= 22, "{out}");
}

#[test]
fn bench_run_records_a_failing_query_and_goes_on() {
    let (dir, wh) = warehouse();
    assert_success(&tarn(&wh, &["-c", "CREATE TABLE t (a int); INSERT INTO t VALUES (1), (2)"]));
    let queries = dir.path().join("queries");
    std::fs::create_dir(&queries).unwrap();
    std::fs::write(queries.join("q1.sql"), "SELECT count(*) FROM t").unwrap();
    std::fs::write(queries.join("q2.sql"), "SELECT no_such_column FROM t").unwrap();
    std::fs::write(queries.join("q3.sql"), "SELECT sum(a) FROM t").unwrap();
    let result = dir.path().join("result.json");
    let output = tarn(&wh, &["bench", "run", queries.to_str().unwrap(), "-n", "1", "-o", result.to_str().unwrap()]);
    assert_success(&output);
    assert!(stderr(&output).contains("1 of 3 queries failed"), "{}", stderr(&output));
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&result).unwrap()).unwrap();
    let queries = json["queries"].as_array().unwrap();
    assert_eq!(queries.len(), 3);
    assert!(queries[1]["error"].as_str().unwrap().contains("no_such_column"), "{json}");
    assert_eq!(queries[2]["iterations"][0]["row_count"], 1);

    let output = tarn(&wh, &["bench", "compare", result.to_str().unwrap(), result.to_str().unwrap()]);
    assert_success(&output);
    let out = stdout(&output);
    assert!(out.contains("geometric mean of B / A over 2 queries"), "{out}");
    assert!(out.lines().any(|l| l.starts_with("q2") && l.ends_with("failed")), "{out}");
}

/// The REPL on a real terminal: `script` (util-linux) gives tarn a pseudo-terminal whose input
/// is typed ahead. `~/.tarnrc` ($TARNRC) runs first, Tab completes a table name, `\e` edits the
/// last statement with $EDITOR, and a result taller than the screen goes through $PAGER.
#[test]
fn the_repl_on_a_terminal_runs_tarnrc_completes_edits_and_pages() {
    let (dir, wh) = warehouse();
    let rc = dir.path().join("tarnrc");
    std::fs::write(
        &rc,
        "SET datafusion.execution.batch_size = 777;\n\
         CREATE TABLE IF NOT EXISTS tab_target (n int);\n\
         INSERT INTO tab_target VALUES (1), (2), (3);\n",
    )
    .unwrap();
    let paged = dir.path().join("paged.txt");
    let command = format!(
        "stty rows 12 cols 100; exec '{}' --warehouse '{}' --no-color",
        env!("CARGO_BIN_EXE_tarn"),
        wh.display()
    );
    // Each line is typed once the prompt for it is on the screen, as a person would.
    let lines = [
        "SHOW datafusion.execution.batch_size;\n",
        "SELECT count(*) AS tabbed FROM tab_ta\t;\n",
        "SELECT 41 AS answer;\n",
        "\\e\n",
        "\n",
        "SELECT n AS tall FROM generate_series(1, 40) AS t(n);\n",
        "\\q\n",
    ];
    let mut child = std::process::Command::new("timeout")
        .args(["120", "script", "-qec", &command, "/dev/null"])
        .env("TARNRC", &rc)
        .env("TARN_HISTORY", dir.path().join("history"))
        .env("EDITOR", "sed -i s/41/42/")
        .env_remove("VISUAL")
        .env("PAGER", format!("cat > '{}'", paged.display()))
        .env_remove("NO_COLOR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script (util-linux) runs");
    let screen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let mut terminal_out = child.stdout.take().unwrap();
    let reader = {
        let screen = screen.clone();
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(n @ 1..) = std::io::Read::read(&mut terminal_out, &mut buffer) {
                screen.lock().unwrap().push_str(&String::from_utf8_lossy(&buffer[..n]));
            }
        })
    };
    let mut terminal_in = child.stdin.take().unwrap();
    for (typed, line) in lines.iter().enumerate() {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        // rustyline turns bracketed paste on once per prompt (redraws of the line do not).
        while screen.lock().unwrap().matches("\u{1b}[?2004h").count() <= typed {
            assert!(std::time::Instant::now() < deadline, "no prompt for {line:?}:\n{}", screen.lock().unwrap());
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        terminal_in.write_all(line.as_bytes()).unwrap();
        terminal_in.flush().unwrap();
    }
    let status = child.wait().unwrap();
    drop(terminal_in);
    reader.join().unwrap();
    let screen = screen.lock().unwrap().clone();
    assert_eq!(status.code(), Some(0), "{screen}");
    // $TARNRC ran: its SET holds and its table is there.
    assert!(screen.contains("777"), "{screen}");
    // Tab completed tab_ta to tab_target (3 rows).
    assert!(screen.contains("tab_target"), "{screen}");
    assert!(screen.lines().any(|l| l.contains("│") && l.contains(" 3 ")), "{screen}");
    // \e put the edited statement at the prompt; Enter ran it.
    assert!(screen.contains("SELECT 42 AS answer") && screen.lines().any(|l| l.contains(" 42 ")), "{screen}");
    // 40 rows do not fit 12 lines: the pager got them, the screen did not.
    let pager = std::fs::read_to_string(&paged).unwrap_or_default();
    assert!(pager.contains("tall") && pager.contains(" 40 "), "{pager}\n{screen}");
    assert!(!screen.lines().any(|l| l.starts_with('│') && l.contains(" 40 ")), "{screen}");
}
