//! COPY of TPC-H lineitem (CSV, generated with tpchgen) into a managed table, side by side in
//! one run with DuckDB's `COPY lineitem FROM '...'` (PyPI duckdb, through
//! `benches/peers/duckdb_copy.py`). Reports rows/s of each and tarn's ratio; the target is 1.5x.
//!
//! `cargo bench -p tarn-benches --bench copy [-- SF]` (default scale factor 1: 6,001,215 rows).

use std::process::Command;
use std::time::Duration;

use tarn_benches::{median, scalar, timed, tpch_lineitem_csv};
use tarn_engine::Engine;

const RUNS: usize = 3;

#[tokio::main]
async fn main() {
    let sf: f64 = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(1.0);
    let csv = tpch_lineitem_csv(sf);
    let bytes = std::fs::metadata(&csv).expect("the data file").len();
    println!("lineitem SF {sf}: {} ({:.0} MB)", csv.display(), bytes as f64 / 1e6);

    let mut samples = Vec::new();
    let mut rows = 0;
    for _ in 0..RUNS {
        let dir = tempfile::tempdir().expect("temporary directory");
        let engine = Engine::open(dir.path().join("warehouse")).expect("warehouse");
        let mut session = engine.session().expect("session");
        session.query(tarn_engine::tpch::ddl("lineitem").expect("lineitem DDL")).await.expect("create lineitem");
        let copy = format!("COPY lineitem FROM '{}' CSV IGNOREHEADER 1", csv.display());
        samples.push(timed(&mut session, &copy).await.0);
        rows = scalar(&mut session, "SELECT count(*) FROM lineitem").await;
    }
    let tarn = median(samples);

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/peers/duckdb_copy.py");
    let output = Command::new("python3").arg(script).arg(&csv).arg(RUNS.to_string()).output();
    let duckdb = match output {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            let lines: Vec<&str> = text.lines().collect();
            let (count, times) = lines.split_last().expect("duckdb_copy.py output");
            assert_eq!(count.trim().parse::<i64>().ok(), Some(rows), "DuckDB loaded another row count");
            Some(median(times.iter().map(|t| Duration::from_secs_f64(t.trim().parse().expect("seconds"))).collect()))
        }
        Ok(out) => {
            eprintln!("DuckDB run failed: {}", String::from_utf8_lossy(&out.stderr).trim());
            None
        }
        Err(e) => {
            eprintln!("cannot run python3 for DuckDB: {e}");
            None
        }
    };

    let rate = |time: Duration| rows as f64 / time.as_secs_f64();
    println!("\n{:<8} {:>10} {:>14}", "engine", "median", "rows/s");
    println!("{:<8} {:>8.2} s {:>14.0}", "tarn", tarn.as_secs_f64(), rate(tarn));
    if let Some(duckdb) = duckdb {
        println!("{:<8} {:>8.2} s {:>14.0}", "duckdb", duckdb.as_secs_f64(), rate(duckdb));
        println!("\ntarn / DuckDB rows/s: {:.2}x (target 1.5x)", rate(tarn) / rate(duckdb));
    }
}
