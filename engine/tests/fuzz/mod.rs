//! A seeded, grammar-based SQL fuzzer over tarn's dialect, run against a warehouse and a model.
//!
//! It generates queries (joins, subqueries, windows, aggregates, every function of Redshift's
//! reference with random arguments, NULLs and extremes), DDL, DML (the model follows the tracked
//! tables `t0`..: `INSERT`, `UPDATE [FROM]`, `DELETE [USING]`, `MERGE`, `TRUNCATE`, CTAS,
//! `COPY`), transactions, `COPY`/`UNLOAD` with random options, and garbage. No statement may
//! panic or hang, every error must be one line, and the tracked tables must equal the model
//! during the run and after the warehouse is opened again. `TARN_FUZZ_SEED` and
//! `TARN_FUZZ_STATEMENTS` change the seed and the count (default: 10,000 statements);
//! `TARN_FUZZ_TRACE=from..to` prints those statements with their outcomes.
//!
//! [`corrupt_inputs`] feeds broken files (truncated and wrong-magic Parquet, CSV with NUL
//! bytes, invalid UTF-8, a 10 MB line, truncated gzip and zstd, JSON that is not JSON) through
//! COPY and external tables: each must give a clean error naming the file and leave the table
//! as it was.

mod corpus;
mod generate;
mod model;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tarn_engine::{Engine, Output, Session, display};

pub use corpus::corrupt_inputs;
use generate::{Generator, Step};
use model::Model;

/// How long one statement may take before it counts as a hang.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(60);

/// Panics seen anywhere in the process since the hook was installed, with their messages.
static PANICS: AtomicUsize = AtomicUsize::new(0);
static PANIC_MESSAGES: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        PANICS.fetch_add(1, Ordering::SeqCst);
        if let Ok(mut messages) = PANIC_MESSAGES.lock() {
            messages.push(info.to_string());
        }
        previous(info);
    }));
}

/// The result of one statement: rows as text, a command's row count, or the error's text.
enum Outcome {
    Rows(Vec<Vec<String>>),
    Count(u64),
    Error(String),
}

async fn run(session: &mut Session, sql: &str) -> Result<Outcome, String> {
    let work = async {
        let mut results = match session.execute(sql) {
            Ok(results) => results,
            Err(e) => return Outcome::Error(e.to_string()),
        };
        let mut last = Outcome::Count(0);
        while let Some(output) = results.next().await {
            last = match output {
                Ok(Output::Command(tag)) => Outcome::Count(tag.rows.unwrap_or(0)),
                Ok(Output::Rows(rows)) => match rows.collect().await {
                    Ok(batches) => match display::rows_as_strings(&batches, &display::format_options()) {
                        Ok(rows) => Outcome::Rows(rows),
                        Err(e) => Outcome::Error(e.to_string()),
                    },
                    Err(e) => Outcome::Error(e.to_string()),
                },
                Err(e) => Outcome::Error(e.to_string()),
            };
            if matches!(last, Outcome::Error(_)) {
                break;
            }
        }
        last
    };
    tokio::time::timeout(STATEMENT_TIMEOUT, work).await.map_err(|_| format!("hung for {STATEMENT_TIMEOUT:?}"))
}

/// What is wrong with an error message, if anything.
fn bad_error(message: &str) -> Option<&'static str> {
    if message.trim().is_empty() {
        Some("an empty error message")
    } else if message.contains('\n') {
        Some("an error of more than one line")
    } else if message.contains("panicked") || message.to_lowercase().contains("join error") {
        Some("a panic reported as an error")
    } else {
        None
    }
}

struct Fuzz {
    failures: Vec<String>,
    statements: usize,
    errors: usize,
}

impl Fuzz {
    fn fail(&mut self, what: String) {
        if self.failures.len() < 50 {
            self.failures.push(what);
        }
    }
}

/// Runs the fuzzer; returns a list of failures (empty: none).
pub async fn run_fuzzer(scratch: &Path) -> Vec<String> {
    install_panic_hook();
    let seed: u64 = std::env::var("TARN_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(20_261_130);
    let count: usize = std::env::var("TARN_FUZZ_STATEMENTS").ok().and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let warehouse = scratch.join("warehouse");
    let files = scratch.join("files");
    std::fs::create_dir_all(&files).expect("a folder for generated files");
    let engine = Engine::open(&warehouse).expect("a warehouse");
    let mut session = engine.session().expect("a session");
    let mut generator = Generator::new(seed, files);
    let mut model = Model::default();
    let mut fuzz = Fuzz { failures: Vec::new(), statements: 0, errors: 0 };
    let started = Instant::now();
    // `TARN_FUZZ_TRACE=from..to` prints those statements and their outcomes.
    let trace = std::env::var("TARN_FUZZ_TRACE").ok().and_then(|t| {
        let (from, to) = t.split_once("..")?;
        Some(from.parse::<usize>().ok()?..to.parse::<usize>().ok()?)
    });

    for n in 0..count {
        let step = generator.next(&model);
        let panics_before = PANICS.load(Ordering::SeqCst);
        let outcome = match run(&mut session, &step.sql).await {
            Ok(outcome) => outcome,
            Err(hang) => {
                fuzz.fail(format!("statement {n} {hang}: {}", step.sql));
                break;
            }
        };
        fuzz.statements += 1;
        if trace.as_ref().is_some_and(|range| range.contains(&n)) {
            let shown = match &outcome {
                Outcome::Rows(rows) => format!("{} rows", rows.len()),
                Outcome::Count(c) => format!("ok {c}"),
                Outcome::Error(e) => format!("error: {e}"),
            };
            println!("{n}: {} => {shown}", step.sql);
        }
        if PANICS.load(Ordering::SeqCst) > panics_before {
            let message = PANIC_MESSAGES.lock().map(|m| m.last().cloned().unwrap_or_default()).unwrap_or_default();
            fuzz.fail(format!("statement {n} panicked ({message}): {}", step.sql));
        }
        if let Outcome::Error(message) = &outcome {
            fuzz.errors += 1;
            if let Some(problem) = bad_error(message) {
                fuzz.fail(format!("statement {n} gave {problem} ({message:?}): {}", step.sql));
            }
        }
        generator.observe(if let Outcome::Error(e) = &outcome { Some(e.as_str()) } else { None });
        check_step(&mut fuzz, &mut model, n, &step, &outcome);
        // Now and then, and at the end, the tables must equal the model.
        if (n % 500 == 499 || n + 1 == count) && !model.in_transaction() {
            compare(&mut fuzz, &mut session, &model, &format!("after statement {n}")).await;
        }
        if fuzz.failures.len() >= 50 {
            break;
        }
    }
    // Close everything; the warehouse opened again must hold the committed state.
    let _ = run(&mut session, "ROLLBACK").await;
    model.rollback();
    drop(session);
    drop(engine);
    match Engine::open(&warehouse).and_then(|e| e.session()) {
        Ok(mut reopened) => compare(&mut fuzz, &mut reopened, &model, "after reopening the warehouse").await,
        Err(e) => fuzz.fail(format!("the warehouse does not open again: {e}")),
    }
    println!(
        "fuzz: seed {seed}, {} statements ({} errors) in {:.1} s, {} tracked tables",
        fuzz.statements,
        fuzz.errors,
        started.elapsed().as_secs_f64(),
        model.tables().len()
    );
    fuzz.failures
}

/// Checks a modeled statement's outcome against the model, and applies it to the model.
fn check_step(fuzz: &mut Fuzz, model: &mut Model, n: usize, step: &Step, outcome: &Outcome) {
    let succeeded = !matches!(outcome, Outcome::Error(_));
    match &step.effect {
        None => {
            // Not modeled; but a failure inside a transaction aborts it.
            if !succeeded {
                model.statement_failed();
            }
        }
        Some(effect) => match model.apply(effect) {
            Ok(expected_rows) => {
                if !succeeded {
                    let Outcome::Error(message) = outcome else { unreachable!() };
                    fuzz.fail(format!("statement {n} should succeed but failed ({message}): {}", step.sql));
                    model.statement_failed();
                    return;
                }
                if let (Some(expected), Outcome::Count(actual)) = (expected_rows, outcome)
                    && expected != *actual
                {
                    fuzz.fail(format!("statement {n} affected {actual} rows, the model {expected}: {}", step.sql));
                }
            }
            Err(why) => {
                if succeeded {
                    fuzz.fail(format!("statement {n} should fail ({why}) but succeeded: {}", step.sql));
                }
                model.statement_failed();
            }
        },
    }
}

async fn compare(fuzz: &mut Fuzz, session: &mut Session, model: &Model, when: &str) {
    for (name, rows) in model.tables().clone() {
        let sql = format!("SELECT id, s, n FROM {name}");
        let actual = match run(session, &sql).await {
            Ok(Outcome::Rows(rows)) => rows,
            Ok(Outcome::Error(e)) => {
                fuzz.fail(format!("{when}: reading {name}: {e}"));
                continue;
            }
            Ok(Outcome::Count(_)) => Vec::new(),
            Err(hang) => {
                fuzz.fail(format!("{when}: reading {name} {hang}"));
                continue;
            }
        };
        let count = |rows: Vec<Vec<String>>| {
            let mut counts: BTreeMap<Vec<String>, usize> = BTreeMap::new();
            for row in rows {
                *counts.entry(row).or_default() += 1;
            }
            counts
        };
        let (actual, expected) = (count(actual), count(model::rows_as_text(&rows.rows)));
        if actual != expected {
            fuzz.fail(format!("{when}: table {name} holds {actual:?}, the model {expected:?}"));
        }
    }
    // Tables the model does not know must not exist among the tracked names.
    if let Ok(Outcome::Rows(rows)) = run(
        session,
        "SELECT table_name FROM information_schema.tables WHERE table_name LIKE 't%' AND table_schema = 'public'",
    )
    .await
    {
        let known = model.tables();
        for row in rows {
            if !known.contains_key(row[0].as_str()) {
                fuzz.fail(format!("{when}: table {} exists, the model has no such table", row[0]));
            }
        }
    }
}

/// Shared by the generator and the corpus: a unique file name under `dir`.
pub(crate) fn file_in(dir: &Path, name: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    dir.join(format!("{n:05}_{name}")).display().to_string()
}
