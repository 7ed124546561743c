//! Helpers shared by tarn's benchmarks.

use std::time::{Duration, Instant};

use tarn_engine::Session;

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
