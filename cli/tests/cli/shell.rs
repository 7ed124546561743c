//! The shell's backslash commands through piped stdin and files (`\x`, `\maxrows`, `\o`, `\i`,
//! `\explain`, `\bench`), the configuration flags, and `tarn bench` on a tiny TPC-H.

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
    assert_eq!(stdout(&output), "count(*)\n60175\ncount(*)\n15000\n");

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
