//! Redshift `COPY table FROM 'source'`: loads files into a managed table as one write of the
//! current transaction. Text and CSV input is parsed in a blocking task that streams batches to
//! the write path; each rejected row is recorded in `stl_load_errors` (kept even when the load
//! fails), and more than MAXERROR rejections fail the load, which then writes nothing.

mod options;
mod text;

use std::io::{BufRead, BufReader, Read};
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::Schema;
use datafusion::error::DataFusionError;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use tarn_catalog::{ColumnDef, LoadCommit, LoadError, TableDef};

pub(crate) use options::offset;
pub use options::{Compression, CopyFrom, CopyOptions, InputFormat, parse_copy_from};
use text::{Builders, Converter, RecordReader, Value};

use crate::ddl::resolve_name;
use crate::error::{Error, Result};
use crate::session::{Output, Session};
use crate::storage::{Location, S3Overrides, Stores};
use crate::write;

/// Rows per batch handed to the writer.
const BATCH_ROWS: usize = 65_536;

pub(crate) async fn copy_from(session: &Session, copy: CopyFrom) -> Result<Output> {
    let (schema, name) = resolve_name(&copy.table)?;
    let table = session
        .shared
        .with_state(|s| s.table_by_name(&schema, &name).cloned())?
        .ok_or_else(|| Error::Invalid(format!("table \"{schema}.{name}\" does not exist")))?;
    let qualified = format!("{schema}.{name}");
    let targets = target_columns(&table, &copy.columns)?;
    match copy.options.format {
        InputFormat::Text | InputFormat::Csv { .. } => {}
        InputFormat::Parquet => return Err(Error::Unsupported("COPY ... FORMAT AS PARQUET".into())),
        InputFormat::Json(_) => return Err(Error::Unsupported("COPY ... JSON".into())),
    }
    let stores = session.shared.engine.stores.clone();
    let overrides = copy.options.credentials.overrides(copy.options.region.as_deref())?;
    let files = source_objects(&stores, &copy.source, copy.options.manifest, &overrides).await?;
    let converter = Converter::new(&copy.options)?;

    let store = session.shared.engine.store.clone();
    let query = store.next_query_id()?;
    let started = tarn_catalog::now();
    let job = Arc::new(Job {
        table: table.clone(),
        targets,
        options: copy.options.clone(),
        converter,
        query,
        user: session.user().to_string(),
        started: started.clone(),
        errors: Mutex::new(Vec::new()),
        stores,
        overrides,
    });

    let arrow_schema = Arc::new(table.arrow_schema());
    let (sender, receiver) = tokio::sync::mpsc::channel::<std::result::Result<RecordBatch, DataFusionError>>(2);
    let parser = {
        let job = job.clone();
        let schema = arrow_schema.clone();
        tokio::task::spawn_blocking(move || job.parse_all(&files, &schema, &sender))
    };
    let batches = futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|batch| (batch, receiver))
    });
    let stream = Box::pin(RecordBatchStreamAdapter::new(arrow_schema, batches));
    let written = if copy.options.no_load {
        use futures::StreamExt;
        let mut stream = stream;
        while stream.next().await.is_some() {}
        Ok(Vec::new())
    } else {
        write::write_streams(session, &table, vec![stream]).await
    };
    let parsed = parser.await.map_err(|e| Error::Invalid(format!("the COPY parser failed: {e}")))?;

    let errors = std::mem::take(&mut *job.errors.lock().unwrap_or_else(|p| p.into_inner()));
    let skipped = errors.len() as u64;
    let failed = skipped > copy.options.max_error;
    let (loaded, commits) = match &parsed {
        Ok((loaded, commits)) => (*loaded, commits.clone()),
        Err(_) => (0, Vec::new()),
    };
    let status = if failed || parsed.is_err() {
        "failed"
    } else if copy.options.no_load {
        "noload"
    } else {
        "loaded"
    };
    let commits: Vec<LoadCommit> =
        commits.into_iter().map(|c| LoadCommit { status: status.to_string(), ..c }).collect();
    store.record_load(&errors, &commits)?;
    if failed {
        return Err(Error::Invalid(format!(
            "Load into table '{qualified}' failed. Check 'stl_load_errors' system table for details ({skipped} rejected row{}, MAXERROR {})",
            if skipped == 1 { "" } else { "s" },
            copy.options.max_error
        )));
    }
    parsed?;
    let files = written?;
    let skipped_note = if skipped > 0 { " (see stl_load_errors)" } else { "" };
    if copy.options.no_load {
        return Ok(Output::command_with_message(
            "COPY",
            0,
            format!(
                "NOLOAD: {loaded} record(s) of '{qualified}' are valid, {skipped} would be skipped{skipped_note}; nothing loaded."
            ),
        ));
    }
    session.with_txn(|txn| Ok(txn.add_files(table.id, files)?))?;
    Ok(Output::command_with_message(
        "COPY",
        loaded,
        format!(
            "Load into table '{qualified}' completed, {loaded} record(s) loaded successfully, {skipped} skipped{skipped_note}."
        ),
    ))
}

/// Indexes of the table columns the input fields fill, in field order.
fn target_columns(table: &TableDef, columns: &[String]) -> Result<Vec<usize>> {
    if columns.is_empty() {
        return Ok((0..table.columns.len()).collect());
    }
    let mut targets = Vec::new();
    for name in columns {
        let index = table.columns.iter().position(|c| &c.name == name).ok_or_else(|| {
            Error::Invalid(format!("column \"{name}\" of relation \"{}\" does not exist", table.name))
        })?;
        if targets.contains(&index) {
            return Err(Error::Invalid(format!("column \"{name}\" specified more than once")));
        }
        targets.push(index);
    }
    for (index, column) in table.columns.iter().enumerate() {
        if !targets.contains(&index) && column.default.is_some() {
            return Err(Error::Unsupported(format!(
                "COPY column lists that leave out column \"{}\", which has a DEFAULT",
                column.name
            )));
        }
    }
    Ok(targets)
}

/// The objects a source names: every object whose key (or path) starts with it, or the
/// entries of a manifest.
async fn source_objects(
    stores: &Stores,
    source: &str,
    manifest: bool,
    overrides: &S3Overrides,
) -> Result<Vec<Location>> {
    let location = Location::parse(source)?;
    if manifest {
        let text = stores.read_to_string(&location, overrides).await?;
        let json: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Error::Invalid(format!("manifest {source} is not valid JSON: {e}")))?;
        let entries = json["entries"]
            .as_array()
            .ok_or_else(|| Error::Invalid(format!("manifest {source} has no \"entries\" array")))?;
        let mut files = Vec::new();
        for entry in entries {
            let url = entry["url"]
                .as_str()
                .ok_or_else(|| Error::Invalid(format!("a manifest entry in {source} has no \"url\"")))?;
            let file = Location::parse(url)?;
            if stores.exists(&file, overrides).await? {
                files.push(file);
            } else if entry["mandatory"].as_bool().unwrap_or(false) {
                return Err(Error::Invalid(format!("mandatory manifest file {url} does not exist")));
            }
        }
        return Ok(files);
    }
    let files: Vec<Location> =
        stores.list_prefix(&location, overrides).await?.into_iter().map(|o| o.location).collect();
    if files.is_empty() {
        return Err(Error::Invalid(format!("COPY source {source} matches no file")));
    }
    Ok(files)
}

/// One COPY's parsing state, shared with its blocking parser task.
struct Job {
    table: TableDef,
    targets: Vec<usize>,
    options: CopyOptions,
    converter: Converter,
    query: i64,
    user: String,
    started: String,
    errors: Mutex<Vec<LoadError>>,
    stores: Arc<Stores>,
    overrides: S3Overrides,
}

type Sender = tokio::sync::mpsc::Sender<std::result::Result<RecordBatch, DataFusionError>>;

impl Job {
    /// Parses every file, sending full batches; returns the rows accepted and the files read.
    fn parse_all(&self, files: &[Location], schema: &Arc<Schema>, sender: &Sender) -> Result<(u64, Vec<LoadCommit>)> {
        let mut builders = Builders::new(&self.table.columns);
        let mut accepted = 0;
        let mut commits = Vec::new();
        for file in files {
            if self.failing() || sender.is_closed() {
                // Too many rejections, or the writer stopped: the load fails, stop reading.
                break;
            }
            let lines = self.parse_file(file, &mut builders, schema, sender, &mut accepted)?;
            commits.push(LoadCommit {
                query: self.query,
                userid: self.user.clone(),
                tbl: self.table.id,
                filename: file.to_string(),
                lines_scanned: lines as i64,
                curtime: self.started.clone(),
                status: String::new(),
            });
        }
        if builders.rows > 0 && !self.failing() {
            send(&mut builders, schema, sender)?;
        }
        Ok((accepted, commits))
    }

    fn parse_file(
        &self,
        file: &Location,
        builders: &mut Builders,
        schema: &Arc<Schema>,
        sender: &Sender,
        accepted: &mut u64,
    ) -> Result<u64> {
        let mut reader = RecordReader::new(self.open_input(file)?, &self.options);
        let io = |e: std::io::Error| match e.downcast::<Error>() {
            Ok(ours) => ours,
            Err(e) => Error::Io { context: format!("reading {file}"), source: e },
        };
        reader.skip_lines(self.options.ignore_header).map_err(io)?;
        let columns = &self.table.columns;
        while let Some(record) = reader.next_record().map_err(io)? {
            if record.raw.is_empty() && self.options.ignore_blank_lines {
                continue;
            }
            match self.convert(&record, columns) {
                Ok(row) => {
                    builders.append(row);
                    *accepted += 1;
                    if builders.rows >= BATCH_ROWS && !send(builders, schema, sender)? {
                        return Ok(reader.lines());
                    }
                }
                Err(error) => {
                    let error = LoadError { filename: file.to_string(), ..*error };
                    let mut errors = self.errors.lock().unwrap_or_else(|p| p.into_inner());
                    errors.push(error);
                    if errors.len() as u64 > self.options.max_error {
                        // The load fails: no need to read further.
                        return Ok(reader.lines());
                    }
                }
            }
        }
        Ok(reader.lines())
    }

    /// More rows were rejected than MAXERROR allows.
    fn failing(&self) -> bool {
        self.errors.lock().unwrap_or_else(|p| p.into_inner()).len() as u64 > self.options.max_error
    }

    /// Converts one record into a full table row, or the error describing its first bad field.
    fn convert(&self, record: &text::Record, columns: &[ColumnDef]) -> std::result::Result<Vec<Value>, Box<LoadError>> {
        let error = |column: Option<&ColumnDef>, position: usize, value: &str, code: i64, reason: String| {
            Box::new(LoadError {
                query: self.query,
                userid: self.user.clone(),
                tbl: self.table.id,
                starttime: self.started.clone(),
                session: std::process::id() as i64,
                filename: String::new(),
                line_number: record.line_number as i64,
                colname: column.map(|c| c.name.clone()).unwrap_or_default(),
                col_type: column.map(|c| c.sql_type.to_string()).unwrap_or_default(),
                col_length: column.and_then(|c| c.sql_type.max_length()).map(|n| n.to_string()).unwrap_or_default(),
                position: position as i64,
                raw_line: record.raw.chars().take(1024).collect(),
                raw_field_value: value.chars().take(1024).collect(),
                err_code: code,
                err_reason: reason,
            })
        };
        let fields = &record.fields;
        if fields.len() > self.targets.len() {
            return Err(error(None, self.targets.len() + 1, "", 1202, "Extra column(s) found".into()));
        }
        if fields.len() < self.targets.len() && !self.options.fill_record {
            let column = &columns[self.targets[fields.len()]];
            return Err(error(Some(column), fields.len() + 1, "", 1214, "Delimiter not found".into()));
        }
        let mut row = vec![Value::Null; columns.len()];
        for (position, &target) in self.targets.iter().enumerate() {
            let column = &columns[target];
            let value = match fields.get(position) {
                Some(field) => self.converter.convert(field, column),
                // FILLRECORD: missing trailing fields are NULL.
                None if column.nullable => Ok(Value::Null),
                None => Err(text::Rejection { code: 1213, reason: "Missing data for not-null field".into() }),
            };
            match value {
                Ok(value) => row[target] = value,
                Err(rejection) => {
                    let raw = fields.get(position).map(String::as_str).unwrap_or("");
                    return Err(error(Some(column), position + 1, raw, rejection.code, rejection.reason));
                }
            }
        }
        for (index, column) in columns.iter().enumerate() {
            if !self.targets.contains(&index) && !column.nullable {
                return Err(error(Some(column), 0, "", 1213, "Missing data for not-null field".into()));
            }
        }
        Ok(row)
    }
}

/// Hands a full batch to the writer; false when the writer has gone (it failed, and reports why).
fn send(builders: &mut Builders, schema: &Arc<Schema>, sender: &Sender) -> Result<bool> {
    let batch = RecordBatch::try_new(schema.clone(), builders.finish())
        .map_err(|e| Error::Invalid(format!("building a batch: {e}")))?;
    Ok(sender.blocking_send(Ok(batch)).is_ok())
}

impl Job {
    /// Opens an input object, decompressing by the COPY option or, without one, by its extension.
    fn open_input(&self, file: &Location) -> Result<Box<dyn BufRead + Send>> {
        let input = decompressing(self.stores.open_blocking(file, &self.overrides)?, file, self.options.compression)?;
        Ok(Box::new(BufReader::with_capacity(1 << 20, input)))
    }
}

/// `input` (the contents of `file`) decompressed as `compression` says or, without it, as the
/// file's extension says.
pub(crate) fn decompressing(
    input: Box<dyn Read + Send>,
    file: &Location,
    compression: Option<Compression>,
) -> Result<Box<dyn Read + Send>> {
    Ok(match compression.or_else(|| Compression::of_file(file.file_name())) {
        None => input,
        Some(Compression::Gzip) => Box::new(flate2::read::MultiGzDecoder::new(input)),
        Some(Compression::Bzip2) => Box::new(bzip2::read::MultiBzDecoder::new(input)),
        Some(Compression::Zstd) => Box::new(
            zstd::Decoder::new(input).map_err(|e| Error::Io { context: format!("cannot read {file}"), source: e })?,
        ),
    })
}
