//! DML on a large managed table: a DELETE or UPDATE whose predicate touches few files must cost
//! a small fraction of rewriting the table. Reports each operation against a full rewrite of
//! the same table (same run, same machine), as a ratio.
//!
//! `cargo bench -p tarn-benches --bench dml [-- ROWS]` (default 8,000,000 rows).

use std::time::Duration;

use tarn_benches::{median, scalar, timed};
use tarn_engine::Engine;

const RUNS: usize = 3;

#[tokio::main]
async fn main() {
    let rows: u64 = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(8_000_000);
    let dir = tempfile::tempdir().expect("temporary directory");
    let engine = Engine::open(dir.path().join("warehouse")).expect("warehouse");
    let mut session = engine.session().expect("session");

    let (load, _) = timed(
        &mut session,
        &format!(
            "CREATE TABLE facts (id bigint, day date, amount double precision);
             INSERT INTO facts SELECT value, DATE '2024-01-01' + CAST(value / 100000 AS INT), value * 0.5
             FROM generate_series(1, {rows}) ORDER BY value"
        ),
    )
    .await;
    let files = scalar(&mut session, "SELECT files FROM svv_table_info WHERE \"table\" = 'facts'").await;
    println!("loaded {rows} rows into {files} files in {:.2} s", load.as_secs_f64());

    let mut results: Vec<(&str, Duration)> = Vec::new();
    let cases = [
        ("full rewrite: UPDATE every row", "UPDATE facts SET amount = amount + 1"),
        ("DELETE one day (few files)", "DELETE FROM facts WHERE day = DATE '2024-01-05'"),
        ("UPDATE 10 rows (one file)", "UPDATE facts SET amount = 0 WHERE id BETWEEN 4000 AND 4009"),
        ("DELETE nothing (no file matches)", "DELETE FROM facts WHERE id < 0"),
    ];
    for (name, sql) in cases {
        let mut samples = Vec::new();
        for _ in 0..RUNS {
            // Each run in a transaction that is rolled back, so every run sees the same table.
            session.query("BEGIN").await.expect("begin");
            samples.push(timed(&mut session, sql).await.0);
            session.query("ROLLBACK").await.expect("rollback");
        }
        results.push((name, median(samples)));
    }
    let baseline = results[0].1.as_secs_f64();
    println!("\n{:<36} {:>10} {:>16}", "operation", "median", "vs full rewrite");
    for (name, time) in &results {
        println!("{name:<36} {:>8.1} ms {:>15.3}x", time.as_secs_f64() * 1000.0, time.as_secs_f64() / baseline);
    }
}
