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
    use std::io::Write;
    let dir = std::env::temp_dir().join(format!("tarn-bench-tpch/sf{sf}"));
    let path = dir.join("lineitem.csv");
    if path.exists() {
        return path;
    }
    std::fs::create_dir_all(&dir).expect("a data directory");
    let partial = dir.join("lineitem.csv.partial");
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(&partial).expect("a data file"));
    writeln!(out, "{}", tpchgen::csv::LineItemCsv::header()).expect("write");
    for line in tpchgen::generators::LineItemGenerator::new(sf, 1, 1).iter() {
        writeln!(out, "{}", tpchgen::csv::LineItemCsv::new(line)).expect("write");
    }
    out.flush().expect("write");
    drop(out);
    std::fs::rename(&partial, &path).expect("rename the data file");
    path
}

/// TPC-H's lineitem in Redshift's types.
pub const LINEITEM_DDL: &str = "CREATE TABLE lineitem (
  l_orderkey bigint NOT NULL, l_partkey bigint NOT NULL, l_suppkey bigint NOT NULL,
  l_linenumber integer NOT NULL, l_quantity decimal(15,2) NOT NULL,
  l_extendedprice decimal(15,2) NOT NULL, l_discount decimal(15,2) NOT NULL,
  l_tax decimal(15,2) NOT NULL, l_returnflag char(1) NOT NULL, l_linestatus char(1) NOT NULL,
  l_shipdate date NOT NULL, l_commitdate date NOT NULL, l_receiptdate date NOT NULL,
  l_shipinstruct varchar(25) NOT NULL, l_shipmode varchar(10) NOT NULL,
  l_comment varchar(44) NOT NULL)";
