//! Benchmarking query plans: `\bench [N] QUERY` in the REPL, and `tarn bench run | compare |
//! tpch | tpcds`: a directory of `.sql` queries run for N iterations into a JSON result, two
//! results compared query by query with the geometric mean of the ratios (like DataFusion's
//! `compare.py`), and TPC-H or TPC-DS data generated and registered in a warehouse.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use tarn_engine::{QueryTiming, Session};

/// Min, median, max and standard deviation of some durations.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    pub min: Duration,
    pub median: Duration,
    pub max: Duration,
    pub stddev: Duration,
}

impl Stats {
    pub fn of(samples: &[Duration]) -> Stats {
        let mut sorted = samples.to_vec();
        sorted.sort();
        let n = sorted.len().max(1) as f64;
        let mean = sorted.iter().map(Duration::as_secs_f64).sum::<f64>() / n;
        let variance = sorted.iter().map(|d| (d.as_secs_f64() - mean).powi(2)).sum::<f64>() / n;
        let median = match sorted.len() {
            0 => Duration::ZERO,
            len if !len.is_multiple_of(2) => sorted[len / 2],
            len => (sorted[len / 2 - 1] + sorted[len / 2]) / 2,
        };
        Stats {
            min: sorted.first().copied().unwrap_or_default(),
            median,
            max: sorted.last().copied().unwrap_or_default(),
            stddev: Duration::from_secs_f64(variance.sqrt()),
        }
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// What `\bench` prints.
#[derive(Debug, Clone)]
pub struct BenchReport {
    pub runs: usize,
    pub rows: u64,
    pub planning: Stats,
    pub execution: Stats,
    pub total: Stats,
}

impl fmt::Display for BenchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} runs after 1 warm-up, {} rows", self.runs, self.rows)?;
        writeln!(f, "{:<10} {:>12} {:>12} {:>12} {:>12}", "", "min", "median", "max", "stddev")?;
        for (name, s) in [("planning", self.planning), ("execution", self.execution), ("total", self.total)] {
            writeln!(f, "{name:<10} {:>12} {:>12} {:>12} {:>12}", ms(s.min), ms(s.median), ms(s.max), ms(s.stddev))?;
        }
        Ok(())
    }
}

/// Runs `query` once to warm up, then `runs` timed times.
async fn timed_runs(session: &mut Session, query: &str, runs: usize) -> Result<Vec<QueryTiming>> {
    let query = query.trim().trim_end_matches(';');
    session.time_query(query).await?;
    let mut timings = Vec::with_capacity(runs);
    for _ in 0..runs {
        timings.push(session.time_query(query).await?);
    }
    Ok(timings)
}

/// `\bench`: `query` after a warm-up, `runs` times.
pub async fn bench_query(session: &mut Session, query: &str, runs: usize) -> Result<BenchReport> {
    let timings = timed_runs(session, query, runs).await?;
    let planning: Vec<Duration> = timings.iter().map(|t| t.planning).collect();
    let execution: Vec<Duration> = timings.iter().map(|t| t.execution).collect();
    let total: Vec<Duration> = timings.iter().map(|t| t.planning + t.execution).collect();
    Ok(BenchReport {
        runs,
        rows: timings.last().map_or(0, |t| t.rows),
        planning: Stats::of(&planning),
        execution: Stats::of(&execution),
        total: Stats::of(&total),
    })
}

/// The `.sql` files of `dir`, in natural order (`q2` before `q10`), with their names.
pub fn query_files(dir: &Path) -> Result<Vec<(String, String)>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the query directory {}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    let key = |p: &PathBuf| {
        let stem = p.file_stem().unwrap_or_default().to_string_lossy().to_string();
        let digits: String = stem.chars().filter(char::is_ascii_digit).collect();
        (digits.parse::<u64>().unwrap_or(u64::MAX), stem)
    };
    files.sort_by_key(key);
    if files.is_empty() {
        bail!("no .sql files in {}", dir.display());
    }
    files
        .into_iter()
        .map(|path| {
            let name = path.file_stem().unwrap_or_default().to_string_lossy().to_string();
            let sql = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
            Ok((name, sql))
        })
        .collect()
}

/// `tarn bench run`: every query of `dir`, cold (its first run in a session of a freshly opened
/// engine from `fresh`, with none of its caches), then one warm-up and `iterations` timed runs
/// in `session`; prints a line per query and returns the JSON result.
pub async fn run_suite(
    session: &mut Session,
    fresh: impl AsyncFn() -> Result<Session>,
    dir: &Path,
    iterations: usize,
    name: &str,
) -> Result<Value> {
    let queries = query_files(dir)?;
    let started = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    let mut results = Vec::new();
    eprintln!("{:<8} {:>12} {:>12} {:>12} {:>12} {:>10}", "query", "cold", "min", "median", "planning", "rows");
    let mut failed = 0;
    for (query, sql) in queries {
        match run_one(session, &fresh, &sql, iterations).await {
            Ok((cold, runs)) => {
                let elapsed: Vec<Duration> = runs.iter().map(|t| t.planning + t.execution).collect();
                let planning: Vec<Duration> = runs.iter().map(|t| t.planning).collect();
                let stats = Stats::of(&elapsed);
                let rows = runs.last().map_or(0, |t| t.rows);
                eprintln!(
                    "{query:<8} {:>12} {:>12} {:>12} {:>12} {rows:>10}",
                    ms(cold),
                    ms(stats.min),
                    ms(stats.median),
                    ms(Stats::of(&planning).median)
                );
                let iterations: Vec<Value> = runs
                    .iter()
                    .map(|t| {
                        json!({
                            "elapsed": (t.planning + t.execution).as_secs_f64() * 1000.0,
                            "planning": t.planning.as_secs_f64() * 1000.0,
                            "row_count": t.rows,
                        })
                    })
                    .collect();
                results.push(json!({ "query": query, "cold": cold.as_secs_f64() * 1000.0, "iterations": iterations }));
            }
            // A failing query is recorded with its error; the others still run.
            Err(e) => {
                failed += 1;
                let error = format!("{e:#}");
                eprintln!("{query:<8} failed: {error}");
                results.push(json!({ "query": query, "error": error }));
            }
        }
    }
    if failed > 0 {
        eprintln!("{failed} of {} queries failed", results.len());
    }
    Ok(json!({
        "context": {
            "engine": "tarn",
            "name": name,
            "version": env!("CARGO_PKG_VERSION"),
            "iterations": iterations,
            "queries": dir.display().to_string(),
            "start_time": started,
        },
        "queries": results,
    }))
}

/// One query: its cold time (first run in a fresh engine), then `iterations` timed runs after a
/// warm-up in `session`.
async fn run_one(
    session: &mut Session,
    fresh: &impl AsyncFn() -> Result<Session>,
    sql: &str,
    iterations: usize,
) -> Result<(Duration, Vec<QueryTiming>)> {
    let mut cold_session = fresh().await?;
    let timing = cold_session.time_query(sql.trim().trim_end_matches(';')).await?;
    let runs = timed_runs(session, sql, iterations).await?;
    Ok((timing.planning + timing.execution, runs))
}

/// Median elapsed milliseconds per query of a result file, or the error the query failed with.
fn medians(result: &Value, path: &Path) -> Result<Vec<(String, std::result::Result<f64, String>)>> {
    let queries =
        result["queries"].as_array().with_context(|| format!("{} has no \"queries\" array", path.display()))?;
    queries
        .iter()
        .map(|q| {
            let name = q["query"].as_str().with_context(|| format!("a query in {} has no name", path.display()))?;
            if let Some(error) = q["error"].as_str() {
                return Ok((name.to_string(), Err(error.to_string())));
            }
            let times: Vec<Duration> = q["iterations"]
                .as_array()
                .with_context(|| format!("query {name} in {} has no iterations", path.display()))?
                .iter()
                .filter_map(|i| i["elapsed"].as_f64())
                .map(|ms| Duration::from_secs_f64(ms / 1000.0))
                .collect();
            if times.is_empty() {
                bail!("query {name} in {} has no timed iteration", path.display());
            }
            Ok((name.to_string(), Ok(Stats::of(&times).median.as_secs_f64() * 1000.0)))
        })
        .collect()
}

fn label(result: &Value, path: &Path) -> String {
    let context = &result["context"];
    let engine = context["engine"].as_str().unwrap_or("?");
    match context["name"].as_str().filter(|n| !n.is_empty()) {
        Some(name) => format!("{engine} ({name})"),
        None => path.file_stem().unwrap_or_default().to_string_lossy().to_string(),
    }
}

/// `tarn bench compare A B`: per-query medians, B's time over A's, and the geometric mean.
pub fn compare(a_path: &Path, b_path: &Path) -> Result<String> {
    let read = |path: &Path| -> Result<Value> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("{} is not a benchmark result", path.display()))
    };
    let (a, b) = (read(a_path)?, read(b_path)?);
    let (a_times, b_times) = (medians(&a, a_path)?, medians(&b, b_path)?);
    let (a_label, b_label) = (label(&a, a_path), label(&b, b_path));
    let mut out = format!("{:<8} {:>16} {:>16} {:>10}  {}\n", "query", a_label, b_label, "B / A", "change");
    let mut logs = Vec::new();
    let mut failures = Vec::new();
    for (name, a_ms) in &a_times {
        let Some((_, b_ms)) = b_times.iter().find(|(n, _)| n == name) else { continue };
        match (a_ms, b_ms) {
            (Ok(a_ms), Ok(b_ms)) => {
                let ratio = b_ms / a_ms;
                logs.push(ratio.ln());
                out.push_str(&format!("{name:<8} {a_ms:>13.2} ms {b_ms:>13.2} ms {ratio:>10.3}  {}\n", change(ratio)));
            }
            (a, b) => {
                let cell = |t: &std::result::Result<f64, String>| match t {
                    Ok(ms) => format!("{ms:>13.2} ms"),
                    Err(_) => format!("{:>16}", "failed"),
                };
                out.push_str(&format!("{name:<8} {} {} {:>10}  failed\n", cell(a), cell(b), "-"));
                for (label, time) in [(&a_label, a), (&b_label, b)] {
                    if let Err(error) = time {
                        failures.push(format!("{name} failed in {label}: {error}"));
                    }
                }
            }
        }
    }
    if logs.is_empty() && failures.is_empty() {
        bail!("{} and {} have no query in common", a_path.display(), b_path.display());
    }
    if !logs.is_empty() {
        let geometric_mean = (logs.iter().sum::<f64>() / logs.len() as f64).exp();
        out.push_str(&format!(
            "geometric mean of B / A over {} queries: {geometric_mean:.3} ({b_label}: {})\n",
            logs.len(),
            change(geometric_mean)
        ));
    }
    if !failures.is_empty() {
        out.push_str(&format!("{} failed (left out of the mean):\n", failures.len()));
        for failure in failures {
            out.push_str(&format!("  {failure}\n"));
        }
    }
    Ok(out)
}

/// A ratio B / A in words; within 5% either way is no change.
fn change(ratio: f64) -> String {
    if ratio < 0.95 {
        format!("{:.2}x faster", 1.0 / ratio)
    } else if ratio > 1.05 {
        format!("{ratio:.2}x slower")
    } else {
        "no change".to_string()
    }
}

/// `tarn bench tpch --sf N`: generates the eight TPC-H tables as CSV under `data` (with their
/// DDL in `schema.sql`), loads them into managed tables with COPY, unloads them as Parquet and
/// registers those as external tables of schema `tpch_lake`, and with `sort_keys` copies them
/// into schema `tpch_sorted` with the sort keys of AWS's Redshift TPC-H DDL (the same queries
/// run on each with the default schema set). Every table is analyzed, as Redshift does after
/// loading an empty table (DuckDB keeps such statistics of its tables too).
pub async fn tpch(session: &mut Session, sf: f64, data: &Path, sort_keys: bool) -> Result<()> {
    use tarn_engine::tpch::{TABLES, aws_keys, ddl, write_csv};
    let data = std::path::absolute(data)?;
    for table in TABLES {
        let csv = data.join(format!("{table}.csv"));
        if !csv.exists() {
            eprintln!("generating {table} (SF {sf})");
            let partial = data.join(format!("{table}.csv.partial"));
            write_csv(table, sf, &partial)?;
            std::fs::rename(&partial, &csv)?;
        }
    }
    // The tables' DDL beside the data, so that peers load the same types (benches/peers/).
    let schema: String = TABLES.iter().map(|table| format!("{};\n", ddl(table).expect("a TPC-H table"))).collect();
    std::fs::write(data.join("schema.sql"), schema)?;
    session
        .query("CREATE EXTERNAL SCHEMA IF NOT EXISTS tpch_lake FROM DATA CATALOG DATABASE 'tpch_lake' CREATE EXTERNAL DATABASE IF NOT EXISTS")
        .await?;
    for table in TABLES {
        let started = std::time::Instant::now();
        let csv = data.join(format!("{table}.csv"));
        let parquet = data.join("parquet").join(table);
        let ddl = ddl(table).expect("a TPC-H table");
        session.query(&format!("DROP TABLE IF EXISTS {table}")).await?;
        session.query(ddl).await?;
        // STATUPDATE ON: statistics with distinct counts, as Redshift's COPY gathers into an
        // empty table (the join order reads them).
        session.query(&format!("COPY {table} FROM '{}' CSV IGNOREHEADER 1 STATUPDATE ON", csv.display())).await?;
        session
            .query(&format!(
                "UNLOAD ('SELECT * FROM {table}') TO '{}/' FORMAT AS PARQUET ALLOWOVERWRITE",
                parquet.display()
            ))
            .await?;
        session.query(&format!("DROP TABLE IF EXISTS tpch_lake.{table}")).await?;
        session
            .query(&format!(
                "CREATE EXTERNAL TABLE tpch_lake.{table} STORED AS PARQUET LOCATION '{}/'",
                parquet.display()
            ))
            .await?;
        session.query(&format!("ANALYZE tpch_lake.{table}")).await?;
        eprintln!("{table}: loaded and registered in {:.1} s", started.elapsed().as_secs_f64());
    }
    if !sort_keys {
        return Ok(());
    }
    session.query("CREATE SCHEMA IF NOT EXISTS tpch_sorted").await?;
    for table in TABLES {
        let started = std::time::Instant::now();
        let ddl = ddl(table).expect("a TPC-H table").replacen("CREATE TABLE ", "CREATE TABLE tpch_sorted.", 1);
        let keys = aws_keys(table).expect("a TPC-H table");
        session.query(&format!("DROP TABLE IF EXISTS tpch_sorted.{table}")).await?;
        session.query(&format!("{ddl} {keys}")).await?;
        session.query(&format!("INSERT INTO tpch_sorted.{table} SELECT * FROM public.{table}")).await?;
        // Each writer wrote a sorted run; VACUUM merges them into one, as after a Redshift load.
        session.query(&format!("VACUUM SORT ONLY tpch_sorted.{table}")).await?;
        session.query(&format!("ANALYZE tpch_sorted.{table}")).await?;
        eprintln!("tpch_sorted.{table}: written sorted in {:.1} s", started.elapsed().as_secs_f64());
    }
    Ok(())
}

/// The 24 tables of TPC-DS.
pub const TPCDS_TABLES: [&str; 24] = [
    "call_center",
    "catalog_page",
    "catalog_returns",
    "catalog_sales",
    "customer",
    "customer_address",
    "customer_demographics",
    "date_dim",
    "household_demographics",
    "income_band",
    "inventory",
    "item",
    "promotion",
    "reason",
    "ship_mode",
    "store",
    "store_returns",
    "store_sales",
    "time_dim",
    "warehouse",
    "web_page",
    "web_returns",
    "web_sales",
    "web_site",
];

/// The generator (DuckDB's dsdgen, driven by `benches/tpcds/tpcds.py`) and the wheels it pins.
const TPCDS_SCRIPT: &str = include_str!("../../benches/tpcds/tpcds.py");
const TPCDS_REQUIREMENTS: &str = include_str!("../../benches/tpcds/requirements.txt");

/// `tarn bench tpcds --sf N`: generates the 24 TPC-DS tables as Parquet under `data`
/// (`data/<table>/<table>.parquet`, with DuckDB's dsdgen run by `python`, or by a virtual
/// environment made in `data/.python` from the pinned wheels), registers them as the external
/// tables of schema `tpcds_lake` and copies them into managed tables of the same names in
/// `public`.
pub async fn tpcds(session: &mut Session, sf: f64, data: &Path, python: Option<PathBuf>) -> Result<()> {
    let data = std::path::absolute(data)?;
    let parquet = |table: &str| data.join(table).join(format!("{table}.parquet"));
    if !TPCDS_TABLES.iter().all(|table| parquet(table).exists()) {
        let python = match python {
            Some(python) => python,
            None => tpcds_venv(&data.join(".python"))?,
        };
        let partial = data.join(".partial");
        let _ = std::fs::remove_dir_all(&partial);
        std::fs::create_dir_all(&partial).with_context(|| format!("cannot create {}", partial.display()))?;
        let script = partial.join("tpcds.py");
        std::fs::write(&script, TPCDS_SCRIPT)?;
        eprintln!("generating TPC-DS SF {sf} with DuckDB's dsdgen");
        run_python(Command::new(&python).arg(&script).arg("generate").arg(sf.to_string()).arg(&partial))?;
        for table in TPCDS_TABLES {
            let _ = std::fs::remove_dir_all(data.join(table));
            std::fs::rename(partial.join(table), data.join(table))
                .with_context(|| format!("dsdgen wrote no {table} in {}", partial.display()))?;
        }
        std::fs::remove_dir_all(&partial)?;
    }
    session
        .query("CREATE EXTERNAL SCHEMA IF NOT EXISTS tpcds_lake FROM DATA CATALOG DATABASE 'tpcds_lake' CREATE EXTERNAL DATABASE IF NOT EXISTS")
        .await?;
    for table in TPCDS_TABLES {
        let started = std::time::Instant::now();
        session.query(&format!("DROP TABLE IF EXISTS tpcds_lake.{table}")).await?;
        session
            .query(&format!(
                "CREATE EXTERNAL TABLE tpcds_lake.{table} STORED AS PARQUET LOCATION '{}/'",
                data.join(table).display()
            ))
            .await?;
        session.query(&format!("DROP TABLE IF EXISTS {table}")).await?;
        session.query(&format!("CREATE TABLE {table} AS SELECT * FROM tpcds_lake.{table}")).await?;
        eprintln!("{table}: registered and loaded in {:.1} s", started.elapsed().as_secs_f64());
    }
    Ok(())
}

/// A virtual environment at `dir` with the generator's pinned wheels (remade when the pins change).
fn tpcds_venv(dir: &Path) -> Result<PathBuf> {
    let python = dir.join("bin/python");
    let marker = dir.join("requirements.txt");
    if python.exists() && std::fs::read_to_string(&marker).is_ok_and(|pins| pins == TPCDS_REQUIREMENTS) {
        return Ok(python);
    }
    eprintln!("installing DuckDB's TPC-DS generator into {}", dir.display());
    run_python(Command::new("python3").args(["-m", "venv", "--clear"]).arg(dir))
        .context("TPC-DS data needs python3 with venv (or --python)")?;
    let requirements = dir.join("requirements.in");
    std::fs::write(&requirements, TPCDS_REQUIREMENTS)?;
    run_python(
        Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--only-binary", ":all:", "-r"])
            .arg(&requirements),
    )?;
    std::fs::write(&marker, TPCDS_REQUIREMENTS)?;
    Ok(python)
}

fn run_python(command: &mut Command) -> Result<()> {
    let status = command.status().with_context(|| format!("cannot run {:?}", command.get_program()))?;
    if !status.success() {
        bail!("{command:?} failed ({status})");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_take_the_middle_and_spread() {
        let ms = |n: u64| Duration::from_millis(n);
        let s = Stats::of(&[ms(30), ms(10), ms(20), ms(40)]);
        assert_eq!((s.min, s.median, s.max), (ms(10), ms(25), ms(40)));
        assert!((s.stddev.as_secs_f64() - 0.01118).abs() < 1e-4, "{s:?}");
    }

    #[test]
    fn compare_reports_ratios_and_their_geometric_mean() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, engine: &str, times: [f64; 2]| {
            let path = dir.path().join(name);
            let value = json!({
                "context": {"engine": engine},
                "queries": [
                    {"query": "q1", "iterations": [{"elapsed": times[0]}]},
                    {"query": "q2", "iterations": [{"elapsed": times[1]}]},
                ]
            });
            std::fs::write(&path, value.to_string()).unwrap();
            path
        };
        let a = write("a.json", "duckdb", [100.0, 10.0]);
        let b = write("b.json", "tarn", [50.0, 40.0]);
        let out = compare(&a, &b).unwrap();
        assert!(out.contains("q1") && out.contains("2.00x faster"), "{out}");
        assert!(out.contains("4.00x slower"), "{out}");
        assert!(out.contains("geometric mean of B / A over 2 queries: 1.414"), "{out}");
    }

    #[test]
    fn compare_shows_failed_queries_and_leaves_them_out_of_the_mean() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, engine: &str, queries: Value| {
            let path = dir.path().join(name);
            std::fs::write(&path, json!({"context": {"engine": engine}, "queries": queries}).to_string()).unwrap();
            path
        };
        let a = write(
            "a.json",
            "duckdb",
            json!([{"query": "q1", "iterations": [{"elapsed": 100.0}]}, {"query": "q5", "iterations": [{"elapsed": 10.0}]}]),
        );
        let b = write(
            "b.json",
            "tarn",
            json!([{"query": "q1", "iterations": [{"elapsed": 50.0}]}, {"query": "q5", "error": "Invalid function 'rollup'"}]),
        );
        let out = compare(&a, &b).unwrap();
        assert!(out.contains("geometric mean of B / A over 1 queries: 0.500"), "{out}");
        let q5 = out.lines().find(|l| l.starts_with("q5")).unwrap();
        assert!(q5.contains("10.00 ms") && q5.contains("failed"), "{out}");
        assert!(out.contains("1 failed (left out of the mean):\n  q5 failed in b: Invalid function 'rollup'"), "{out}");
    }
}
