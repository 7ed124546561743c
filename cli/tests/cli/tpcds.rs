//! TPC-DS correctness: the 99 queries of `benches/tpcds/queries` (DuckDB's `tpcds_queries()`)
//! over SF 0.01 data made by DuckDB's dsdgen (pinned wheels, `benches/tpcds/requirements.txt`,
//! installed into `target/python-tpcds`; the data is cached under `target/tpcds-sf0.01`),
//! registered in tarn as external Parquet tables; every answer must equal DuckDB's on the same
//! files (`benches/tpcds/tpcds.py check`: rows as multisets, numbers within a tolerance, AVG
//! with Redshift's result type).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{assert_success, tarn, warehouse};

fn tpcds_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../benches/tpcds")
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
}

/// SF 0.01 as one folder of Parquet per table, generated once.
fn data(python: &Path) -> PathBuf {
    let data = target_dir().join("tpcds-sf0.01");
    if !data.join("store_sales").exists() {
        let partial = target_dir().join("tpcds-sf0.01.partial");
        let _ = std::fs::remove_dir_all(&partial);
        let output = Command::new(python)
            .arg(tpcds_dir().join("tpcds.py"))
            .args(["generate", "0.01"])
            .arg(&partial)
            .output()
            .expect("run tpcds.py");
        assert!(output.status.success(), "dsdgen: {}", String::from_utf8_lossy(&output.stderr));
        let _ = std::fs::remove_dir_all(&data);
        std::fs::rename(&partial, &data).unwrap();
    }
    data
}

#[test]
fn tpcds_99_queries_answer_as_duckdb_does() {
    let python = tarn_testkit::python::venv("python-tpcds", &tpcds_dir().join("requirements.txt"))
        .unwrap_or_else(|e| panic!("cannot set up DuckDB's TPC-DS (python3 with venv and PyPI are needed): {e}"));
    let data = data(&python);
    let (_dir, wh) = warehouse();
    // External tables, as a lake user registers them; the queries name tables unqualified,
    // so each has a view in public (Redshift resolves no external table by search_path).
    let mut tables: Vec<String> =
        std::fs::read_dir(&data).unwrap().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    tables.sort();
    assert_eq!(tables.len(), 24, "{tables:?}");
    let mut sql = String::from(
        "CREATE EXTERNAL SCHEMA tpcds FROM DATA CATALOG DATABASE 'tpcds' CREATE EXTERNAL DATABASE IF NOT EXISTS;\n",
    );
    for table in &tables {
        sql.push_str(&format!(
            "CREATE EXTERNAL TABLE tpcds.{table} STORED AS PARQUET LOCATION '{}/';\n\
             CREATE VIEW {table} AS SELECT * FROM tpcds.{table};\n",
            data.join(table).display()
        ));
    }
    assert_success(&tarn(&wh, &["-c", &sql]));

    let output = Command::new(&python)
        .arg(tpcds_dir().join("tpcds.py"))
        .arg("check")
        .arg(&data)
        .arg(tpcds_dir().join("queries"))
        .arg(env!("CARGO_BIN_EXE_tarn"))
        .arg(&wh)
        .output()
        .expect("run tpcds.py check");
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{report}\n{}", String::from_utf8_lossy(&output.stderr));
    assert!(report.contains("99 of 99 queries answered as DuckDB answers them"), "{report}");
}
