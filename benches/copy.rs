//! COPY of TPC-H lineitem into a managed table, from CSV (tpchgen's, through tarn's own
//! generator) and from Parquet (tpchgen-cli's file, `FORMAT AS PARQUET`), side by side in one
//! run with DuckDB loading the same files into a table of the same types on disk
//! (`benches/peers/duckdb_copy.py`: `COPY ... FROM` the CSV, `INSERT ... SELECT FROM
//! read_parquet` the Parquet, each followed by a `CHECKPOINT`). Reports rows/s, tarn's ratio to
//! DuckDB's (targets: 2.5x from CSV, 2x from Parquet) and peak resident memory.
//!
//! `cargo bench -p tarn-benches --bench copy [-- SF [csv|parquet] [--tarn-only]]` (default scale
//! factor 1: 6,001,215 rows; both inputs; `--tarn-only` skips DuckDB, for profiling).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use tarn_benches::{median, peak_rss, reset_peak_rss, scalar, timed, tpch_lineitem_csv, tpch_lineitem_parquet};
use tarn_engine::Engine;

const RUNS: usize = 3;

struct Measured {
    time: Duration,
    rows: i64,
    peak_rss: Option<u64>,
}

async fn tarn_copy(file: &Path, options: &str) -> Measured {
    let mut samples = Vec::new();
    let (mut rows, mut peak) = (0, None);
    for _ in 0..RUNS {
        let dir = tempfile::tempdir().expect("temporary directory");
        let engine = Engine::open(dir.path().join("warehouse")).expect("warehouse");
        let mut session = engine.session().expect("session");
        session.query(tarn_engine::tpch::ddl("lineitem").expect("lineitem DDL")).await.expect("create lineitem");
        // TARN_COPY_BENCH_SET="name=value,...": settings to load with (file layouts, say).
        for setting in std::env::var("TARN_COPY_BENCH_SET").unwrap_or_default().split(',').filter(|s| !s.is_empty()) {
            let (name, value) = setting.split_once('=').expect("TARN_COPY_BENCH_SET: name=value,...");
            session.query(&format!("SET {name} = '{value}'")).await.expect("setting");
        }
        let copy = format!("COPY lineitem FROM '{}' {options}", file.display());
        reset_peak_rss();
        samples.push(timed(&mut session, &copy).await.0);
        peak = peak.max(peak_rss());
        rows = scalar(&mut session, "SELECT count(*) FROM lineitem").await;
    }
    Measured { time: median(samples), rows, peak_rss: peak }
}

fn duckdb_copy(format: &str, file: &Path) -> Option<Measured> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/peers/duckdb_copy.py");
    let output = Command::new("python3").arg(script).arg(format).arg(file).arg(RUNS.to_string()).output();
    match output {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout);
            let lines: Vec<&str> = text.lines().collect();
            let [times @ .., rows, rss] = lines.as_slice() else { panic!("duckdb_copy.py output: {text}") };
            let times = times.iter().map(|t| Duration::from_secs_f64(t.trim().parse().expect("seconds"))).collect();
            Some(Measured {
                time: median(times),
                rows: rows.trim().parse().expect("row count"),
                peak_rss: rss.trim().parse().ok(),
            })
        }
        Ok(out) => {
            eprintln!("DuckDB run failed: {}", String::from_utf8_lossy(&out.stderr).trim());
            None
        }
        Err(e) => {
            eprintln!("cannot run python3 for DuckDB: {e}");
            None
        }
    }
}

fn report(input: &str, target: f64, tarn: &Measured, duckdb: Option<&Measured>) {
    let rate = |m: &Measured| m.rows as f64 / m.time.as_secs_f64();
    let mb = |m: &Measured| m.peak_rss.map_or("?".to_string(), |b| format!("{:.0} MB", b as f64 / 1e6));
    println!("\nfrom {input}");
    println!("{:<8} {:>10} {:>14} {:>12}", "engine", "median", "rows/s", "peak RSS");
    println!("{:<8} {:>8.2} s {:>14.0} {:>12}", "tarn", tarn.time.as_secs_f64(), rate(tarn), mb(tarn));
    if let Some(duckdb) = duckdb {
        assert_eq!(duckdb.rows, tarn.rows, "DuckDB loaded another row count");
        println!("{:<8} {:>8.2} s {:>14.0} {:>12}", "duckdb", duckdb.time.as_secs_f64(), rate(duckdb), mb(duckdb));
        println!("tarn / DuckDB rows/s: {:.2}x (target {target}x)", rate(tarn) / rate(duckdb));
    }
}

#[tokio::main]
async fn main() {
    let sf: f64 = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(1.0);
    let csv = tpch_lineitem_csv(sf);
    let parquet = tpch_lineitem_parquet(sf);
    let size = |p: &Path| std::fs::metadata(p).expect("the data file").len() as f64 / 1e6;
    println!(
        "lineitem SF {sf}: {} ({:.0} MB), {} ({:.0} MB)",
        csv.display(),
        size(&csv),
        parquet.display(),
        size(&parquet)
    );

    let args: Vec<String> = std::env::args().collect();
    let wanted = |input: &str| !args.iter().any(|a| a == "csv" || a == "parquet") || args.iter().any(|a| a == input);
    let peers = !args.iter().any(|a| a == "--tarn-only");
    if wanted("csv") {
        let tarn = tarn_copy(&csv, "CSV IGNOREHEADER 1").await;
        let duckdb = peers.then(|| duckdb_copy("csv", &csv)).flatten();
        report("CSV", 2.5, &tarn, duckdb.as_ref());
    }
    if wanted("parquet") {
        let tarn = tarn_copy(&parquet, "FORMAT AS PARQUET").await;
        let duckdb = peers.then(|| duckdb_copy("parquet", &parquet)).flatten();
        report("Parquet", 2.0, &tarn, duckdb.as_ref());
    }
}
