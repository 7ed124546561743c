//! TPC-DS correctness: `tarn bench tpcds --sf 0.01` (DuckDB's dsdgen from the pinned wheels of
//! `benches/tpcds/requirements.txt`, installed into `target/python-tpcds`; the data is cached
//! under `target/tpcds-test-sf0.01`, apart from `benches/tpcds.sh`'s `target/tpcds-sfN`)
//! registers the Parquet files as external tables and copies them into managed tables; the 99
//! queries of `benches/tpcds/queries` (DuckDB's `tpcds_queries()`) must answer on both exactly
//! as DuckDB does on the same files (`benches/tpcds/tpcds.py check`: rows as multisets, numbers
//! within a tolerance, AVG with Redshift's result type).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{assert_success, tarn, warehouse};

fn tpcds_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../benches/tpcds")
}

#[test]
fn tpcds_99_queries_answer_as_duckdb_does_on_lake_and_managed_tables() {
    let python = tarn_testkit::python::venv("python-tpcds", &tpcds_dir().join("requirements.txt"))
        .unwrap_or_else(|e| panic!("cannot set up DuckDB's TPC-DS (python3 with venv and PyPI are needed): {e}"));
    let data = tarn_testkit::target_dir().join("tpcds-test-sf0.01");
    let (_dir, wh) = warehouse();
    let args =
        ["bench", "tpcds", "--sf", "0.01", "--data", data.to_str().unwrap(), "--python", python.to_str().unwrap()];
    assert_success(&tarn(&wh, &args));
    let counts = tarn(
        &wh,
        &[
            "--format",
            "csv",
            "-c",
            "SELECT count(*) FROM store_sales",
            "-c",
            "SELECT count(*) FROM tpcds_lake.store_sales",
        ],
    );
    assert_success(&counts);
    let counts: Vec<String> = String::from_utf8_lossy(&counts.stdout).lines().map(str::to_string).collect();
    assert_eq!(counts.len(), 4, "{counts:?}");
    assert_eq!(counts[1], counts[3], "managed and lake store_sales differ: {counts:?}");

    for schema in ["tpcds_lake", "public"] {
        let output = Command::new(&python)
            .arg(tpcds_dir().join("tpcds.py"))
            .arg("check")
            .arg(&data)
            .arg(tpcds_dir().join("queries"))
            .arg(env!("CARGO_BIN_EXE_tarn"))
            .arg(&wh)
            .arg(schema)
            .output()
            .expect("run tpcds.py check");
        let report = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{report}\n{}", String::from_utf8_lossy(&output.stderr));
        assert!(report.contains(&format!("99 of 99 queries answered as DuckDB answers them ({schema})")), "{report}");
    }
}
