//! COPY of TPC-H lineitem into a managed table, from CSV (tpchgen's, through tarn's own
//! generator) and from Parquet (tpchgen-cli's file, `FORMAT AS PARQUET`), side by side in one
//! run with DuckDB loading the same files into a table of the same types on disk
//! (`benches/peers/duckdb_copy.py`: `COPY ... FROM` the CSV, `INSERT ... SELECT FROM
//! read_parquet` the Parquet, each followed by a `CHECKPOINT`). Reports rows/s, tarn's ratio to
//! DuckDB's (targets: 2.5x from CSV, 2x from Parquet), peak resident memory, the size of the
//! files tarn wrote and how long three queries take to read them back with the decoded-data
//! cache off (what a file layout costs reads).
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
    /// Bytes of the Parquet files tarn wrote (its tables' size on disk).
    written: Option<u64>,
    /// Reading the loaded table back without the decoded-data cache (median of the runs'
    /// sums of [`READS`]): what the files' layout costs queries.
    read: Option<Duration>,
}

/// Queries over the loaded table: TPC-H Q1 (numbers, dates, two flags), Q6 (a selective
/// filter) and a scan of every character column.
const READS: &[&str] = &[
    "SELECT l_returnflag, l_linestatus, sum(l_quantity), sum(l_extendedprice), \
     sum(l_extendedprice * (1 - l_discount) * (1 + l_tax)), avg(l_discount), count(*) \
     FROM lineitem WHERE l_shipdate <= DATE '1998-09-02' GROUP BY 1, 2 ORDER BY 1, 2",
    "SELECT sum(l_extendedprice * l_discount) FROM lineitem WHERE l_shipdate >= DATE '1994-01-01' \
     AND l_shipdate < DATE '1995-01-01' AND l_discount BETWEEN 0.05 AND 0.07 AND l_quantity < 24",
    "SELECT count(*) FROM lineitem WHERE l_comment LIKE '%special%' OR l_shipinstruct = 'NONE' \
     OR l_shipmode = 'FOB' OR l_returnflag = 'X' OR l_linestatus = 'X'",
];

/// Bytes of the `.parquet` files under `dir`, at any depth.
fn parquet_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|entry| {
            let path = entry.path();
            match entry.file_type() {
                Ok(t) if t.is_dir() => parquet_bytes(&path),
                Ok(_) if path.extension().is_some_and(|e| e == "parquet") => entry.metadata().map_or(0, |m| m.len()),
                _ => 0,
            }
        })
        .sum()
}

async fn tarn_copy(file: &Path, options: &str) -> Measured {
    let mut samples = Vec::new();
    let (mut rows, mut peak, mut written) = (0, None, None);
    let mut reads = Vec::new();
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
        written = Some(parquet_bytes(dir.path()));
        session.query("SET tarn.cache_size = 0").await.expect("cache off");
        let mut read = Duration::ZERO;
        for query in READS {
            read += timed(&mut session, query).await.0;
        }
        reads.push(read);
    }
    Measured { time: median(samples), rows, peak_rss: peak, written, read: Some(median(reads)) }
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
                written: None,
                read: None,
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
    let files = |m: &Measured| m.written.map_or("".to_string(), |b| format!("{:.0} MB", b as f64 / 1e6));
    let read = |m: &Measured| m.read.map_or("".to_string(), |t| format!("{:.2} s", t.as_secs_f64()));
    println!(
        "{:<8} {:>10} {:>14} {:>12} {:>12} {:>12}",
        "engine", "median", "rows/s", "peak RSS", "files", "read back"
    );
    println!(
        "{:<8} {:>8.2} s {:>14.0} {:>12} {:>12} {:>12}",
        "tarn",
        tarn.time.as_secs_f64(),
        rate(tarn),
        mb(tarn),
        files(tarn),
        read(tarn)
    );
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
