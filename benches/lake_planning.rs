//! Planning a one-partition query on an external table with 10,000 registered partitions:
//! tarn prunes partitions from its catalog and lists only the selected partition's folder,
//! where a DataFusion `ListingTable` over the same directory tree lists the whole tree.
//! Target: tarn plans in at most 20 ms.
//!
//! `cargo bench -p tarn-benches --bench lake_planning [-- PARTITIONS]` (default 10,000).

use std::time::{Duration, Instant};

use datafusion::prelude::SessionContext;
use tarn_benches::{median, timed};
use tarn_engine::Engine;

const RUNS: usize = 21;

#[tokio::main]
async fn main() {
    let partitions: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(10_000);
    let dir = tempfile::tempdir().expect("temporary directory");
    let lake = dir.path().join("lake/facts");
    for p in 0..partitions {
        let folder = lake.join(format!("p={p}"));
        std::fs::create_dir_all(&folder).expect("partition folder");
        std::fs::write(folder.join("part-0.csv"), format!("{p}\n{}\n", p * 2)).expect("data file");
    }
    let engine = Engine::open(dir.path().join("warehouse")).expect("warehouse");
    let mut session = engine.session().expect("session");
    let location = lake.display().to_string();
    let (register, _) = timed(
        &mut session,
        &format!(
            "CREATE EXTERNAL TABLE facts (v bigint) PARTITIONED BY (p int) ROW FORMAT DELIMITED FIELDS TERMINATED BY ',' \
             STORED AS TEXTFILE LOCATION '{location}'; MSCK REPAIR TABLE facts"
        ),
    )
    .await;
    println!("registered {partitions} partitions in {:.2} s", register.as_secs_f64());

    let query = format!("SELECT sum(v) FROM facts WHERE p = {}", partitions / 2);
    let (_, result) = timed(&mut session, &query).await;
    assert_eq!(result[0].num_rows(), 1);
    let mut samples = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let (elapsed, _) = timed(&mut session, &format!("EXPLAIN {query}")).await;
        samples.push(elapsed);
    }
    let tarn = median(samples);

    let ctx = SessionContext::new();
    ctx.sql(&format!(
        "CREATE EXTERNAL TABLE facts (v BIGINT, p INT) STORED AS CSV PARTITIONED BY (p) LOCATION '{location}/' \
         OPTIONS ('format.has_header' 'false')"
    ))
    .await
    .expect("a DataFusion listing table");
    let mut listing = Vec::new();
    for _ in 0..RUNS {
        let started = Instant::now();
        let df = ctx.sql(&format!("EXPLAIN {query}")).await.expect("plan");
        df.collect().await.expect("explain");
        listing.push(started.elapsed());
    }
    let listing = median(listing);

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("planning `{query}` (median of {RUNS}, logical + physical plan):");
    println!("  tarn (catalog partitions): {:8.2} ms  (target <= 20 ms)", ms(tarn));
    println!("  DataFusion ListingTable:   {:8.2} ms", ms(listing));
    println!("  ratio ListingTable / tarn: {:8.1}x", ms(listing) / ms(tarn));
}
