//! Runs the sqllogictest suite: every `tests/slt/<area>/<topic>.slt` against a fresh warehouse.
//! `cargo test -p tarn-engine --test slt -- FILTER` runs the files whose path contains FILTER.

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

async fn run_file(path: &Path) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let engine = Engine::open(dir.path().join("warehouse")).map_err(|e| e.to_string())?;
    let mut runner = sqllogictest::Runner::new(move || {
        let engine = engine.clone();
        async move { Ok(TarnDb { session: engine.session()? }) }
    });
    runner.with_column_validator(sqllogictest::default_column_validator);
    runner.run_file_async(path).await.map_err(|e| e.display(true).to_string())
}

#[tokio::main]
async fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/slt");
    let filter: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    let mut files = Vec::new();
    slt_files(&root, &mut files);
    let (mut passed, mut failed) = (0, 0);
    for path in files {
        let name = path.strip_prefix(&root).unwrap_or(&path).display().to_string();
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        match run_file(&path).await {
            Ok(()) => {
                passed += 1;
                println!("ok     {name}");
            }
            Err(e) => {
                failed += 1;
                println!("FAILED {name}\n{e}\n");
            }
        }
    }
    println!("\nslt: {passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
}
