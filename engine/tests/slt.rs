//! The engine's integration suite: every `tests/slt/<area>/<topic>.slt` against a fresh
//! warehouse, then the SQL fuzzer and the corrupt-input corpus (`tests/fuzz/`).
//! `cargo test -p tarn-engine --test slt -- FILTER` runs the files whose path contains FILTER
//! (and the fuzzer when FILTER is `fuzz`).

mod fuzz;

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use sqllogictest::{DBOutput, DefaultColumnType};
use tarn_engine::arrow::datatypes::DataType;
use tarn_engine::{Engine, Output, Session, display};

struct TarnDb {
    session: Session,
}

#[async_trait]
impl sqllogictest::AsyncDB for TarnDb {
    type Error = tarn_engine::Error;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, tarn_engine::Error> {
        let mut results = self.session.execute(sql)?;
        let mut last = DBOutput::StatementComplete(0);
        while let Some(output) = results.next().await {
            last = match output? {
                Output::Command(tag) => DBOutput::StatementComplete(tag.rows.unwrap_or(0)),
                Output::Rows(rows) => {
                    let schema = rows.schema();
                    let batches = rows.collect().await?;
                    let types = schema.fields().iter().map(|f| column_type(f.data_type())).collect();
                    let mut rows = display::rows_as_strings(&batches, &display::format_options())?;
                    for value in rows.iter_mut().flatten() {
                        // Multi-line values (plans) end with a newline the file cannot show.
                        value.truncate(value.trim_end_matches('\n').len());
                        if value.is_empty() {
                            *value = "(empty)".to_string();
                        }
                    }
                    if schema.fields().is_empty() {
                        DBOutput::StatementComplete(0)
                    } else {
                        DBOutput::Rows { types, rows }
                    }
                }
            };
        }
        Ok(last)
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "tarn"
    }
}

/// sqllogictest's default comparison, with multi-line values (plans) compared line by line.
fn validator(normalizer: sqllogictest::Normalizer, actual: &[Vec<String>], expected: &[String]) -> bool {
    let lines: Vec<Vec<String>> = actual
        .iter()
        .flat_map(|row| row.join(" ").lines().map(|line| vec![line.to_string()]).collect::<Vec<_>>())
        .collect();
    sqllogictest::default_validator(normalizer, &lines, expected)
}

fn column_type(data_type: &DataType) -> DefaultColumnType {
    if data_type.is_integer() {
        DefaultColumnType::Integer
    } else if data_type.is_floating() || matches!(data_type, DataType::Decimal128(..) | DataType::Decimal256(..)) {
        DefaultColumnType::FloatingPoint
    } else {
        DefaultColumnType::Text
    }
}

fn slt_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).expect("slt directory").flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            slt_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "slt") {
            out.push(path);
        }
    }
}

/// Where a run keeps its warehouse's catalog and managed data.
struct Placement {
    /// A PostgreSQL address, or `None` for the warehouse's own SQLite file.
    catalog: Option<String>,
    /// An `s3://` location, or `None` for the warehouse directory.
    data: Option<String>,
}

/// Runs one file on a new warehouse placed as `placement` says.
async fn run_file(path: &Path, placement: Placement) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    // The embedded user has a fixed name, so that files can show it.
    let Placement { catalog, data } = placement;
    let config = tarn_engine::EngineConfig { user: "tarn-test".into(), catalog, data, ..Default::default() };
    let engine = Engine::open_with(dir.path().join("warehouse"), config).map_err(|e| e.to_string())?;
    let mut runner = sqllogictest::Runner::new(move || {
        let engine = engine.clone();
        async move { Ok(TarnDb { session: engine.session()? }) }
    });
    runner.with_column_validator(sqllogictest::default_column_validator);
    runner.with_validator(validator);
    runner.run_file_async(path).await.map_err(|e| e.display(true).to_string())
}

/// Bucket of the suite's S3 server; `tests/slt/<area>/data/` is served as `s3://tarn-test/<area>/`.
const BUCKET: &str = "tarn-test";
/// Bucket of managed data for runs that keep it on S3 (a prefix per file).
const DATA_BUCKET: &str = "tarn-data";

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slt");
    // A real S3-protocol server on 127.0.0.1 for `s3://` locations; the engine reaches it
    // through the standard AWS environment, set before any thread starts.
    let s3 = tarn_testkit::S3Server::start(&[BUCKET, DATA_BUCKET]);
    for (name, value) in s3.env() {
        // SAFETY: no other thread exists yet (the S3 server's thread does not read the environment).
        unsafe { std::env::set_var(name, value) };
    }
    // Every file runs twice: embedded (the warehouse's own SQLite catalog, data in its
    // directory), and shared as processes on several machines would share it (the catalog in a
    // real PostgreSQL server on 127.0.0.1, one new database per file; the data on the S3 server).
    let postgres = tarn_testkit::postgres::PostgresServer::start()
        .unwrap_or_else(|e| panic!("a PostgreSQL server for the catalog: {e}"));
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let mut failed = runtime.block_on(run_all(&root, &s3, &postgres));
    failed |= runtime.block_on(run_fuzz());
    drop(s3);
    if failed {
        std::process::exit(1);
    }
}

/// The fuzzer and the corrupt-input corpus (unless a filter leaves them out).
async fn run_fuzz() -> bool {
    let filter: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    if !filter.is_empty() && !filter.iter().any(|f| "fuzz".contains(f.as_str())) {
        return false;
    }
    let scratch = tempfile::tempdir().expect("a scratch folder");
    let mut failures = fuzz::run_fuzzer(scratch.path()).await;
    failures.extend(fuzz::corrupt_inputs(scratch.path()).await.into_iter().map(|f| format!("corpus: {f}")));
    if failures.is_empty() {
        println!("ok     fuzz (statements and corrupt inputs)");
        return false;
    }
    println!("FAILED fuzz");
    for failure in &failures {
        println!("  {failure}");
    }
    true
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("a bucket folder");
    for entry in std::fs::read_dir(from).expect("a fixture folder").flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("a fixture copied into the bucket");
        }
    }
}

/// Puts the bucket back to the fixtures alone, so that each run of a file starts from them
/// (UNLOAD and COPY write into it).
fn reset_bucket(root: &Path, s3: &tarn_testkit::S3Server) {
    let bucket = s3.path_of(BUCKET, "");
    std::fs::remove_dir_all(&bucket).expect("the bucket emptied");
    std::fs::create_dir_all(&bucket).expect("the bucket");
    for area in std::fs::read_dir(root).expect("slt directory").flatten() {
        let data = area.path().join("data");
        if data.is_dir() {
            copy_tree(&data, &s3.path_of(BUCKET, &area.file_name().to_string_lossy()));
        }
    }
}

async fn run_all(root: &Path, s3: &tarn_testkit::S3Server, postgres: &tarn_testkit::postgres::PostgresServer) -> bool {
    let filter: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let mut files = Vec::new();
    slt_files(root, &mut files);
    let (mut passed, mut failed) = (0, 0);
    for path in files {
        let name = path.strip_prefix(root).unwrap_or(&path).display().to_string();
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        let database = format!("slt_{}", passed + failed);
        let catalog = match postgres.create_database(&database) {
            Ok(url) => url,
            Err(e) => panic!("a PostgreSQL database for {name}: {e}"),
        };
        let placements = [
            (Placement { catalog: None, data: None }, ""),
            (
                Placement { catalog: Some(catalog), data: Some(format!("s3://{DATA_BUCKET}/{database}")) },
                " [catalog on PostgreSQL, data on S3]",
            ),
        ];
        for (placement, label) in placements {
            reset_bucket(root, s3);
            match run_file(&path, placement).await {
                Ok(()) => {
                    passed += 1;
                    println!("ok     {name}{label}");
                }
                Err(e) => {
                    failed += 1;
                    println!("FAILED {name}{label}\n{e}\n");
                }
            }
        }
    }
    println!("\nslt: {passed} passed, {failed} failed");
    failed > 0
}
