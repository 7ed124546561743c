//! Helpers shared by tarn's benchmarks.

use std::time::{Duration, Instant};

use tarn_engine::Session;

/// The allocator of the `tarn` binary (cli/src/main.rs), so that benchmarks measure what it runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Runs `sql` and returns how long it took and the rows of its last statement.
pub async fn timed(session: &mut Session, sql: &str) -> (Duration, Vec<tarn_engine::arrow::array::RecordBatch>) {
    let started = Instant::now();
    let batches = session.query(sql).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    (started.elapsed(), batches)
}

/// The single integer a query such as `SELECT count(*) ...` returns.
pub async fn scalar(session: &mut Session, sql: &str) -> i64 {
    let (_, batches) = timed(session, sql).await;
    let column = batches[0].column(0);
    tarn_engine::arrow::array::cast::as_primitive_array::<tarn_engine::arrow::datatypes::Int64Type>(column).value(0)
}

/// Median of several measurements.
pub fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// TPC-H lineitem at scale factor `sf` as CSV with a header (tpchgen's format), generated
/// once into the system's temporary directory and reused by later runs.
pub fn tpch_lineitem_csv(sf: f64) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tarn-bench-tpch/sf{sf}"));
    let path = dir.join("lineitem.csv");
    if !path.exists() {
        let partial = dir.join("lineitem.csv.partial");
        tarn_engine::tpch::write_csv("lineitem", sf, &partial).expect("generate lineitem");
        std::fs::rename(&partial, &path).expect("rename the data file");
    }
    path
}

/// TPC-H lineitem at scale factor `sf` as one Parquet file written by tpchgen-cli (PyPI
/// `tpchgen-cli`, on `PATH`), generated once beside [`tpch_lineitem_csv`]'s file.
pub fn tpch_lineitem_parquet(sf: f64) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tarn-bench-tpch/sf{sf}"));
    let path = dir.join("lineitem.parquet");
    if !path.exists() {
        let partial = dir.join("parquet.partial");
        std::fs::create_dir_all(&partial).expect("the data directory");
        let status = std::process::Command::new("tpchgen-cli")
            .args(["parquet", "-s", &sf.to_string(), "--tables", "lineitem", "--output-dir"])
            .arg(&partial)
            .status()
            .unwrap_or_else(|e| panic!("cannot run tpchgen-cli (pip install tpchgen-cli): {e}"));
        assert!(status.success(), "tpchgen-cli failed");
        std::fs::rename(partial.join("lineitem.parquet"), &path).expect("move the data file");
    }
    path
}

/// Starts a new peak of this process's resident memory (Linux: `/proc/self/clear_refs`).
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// This process's peak resident memory since the last [`reset_peak_rss`], in bytes.
pub fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
