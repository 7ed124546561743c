//! Redshift `COPY table FROM 'source'`: loads files into a managed table as one write of the
//! current transaction. Text and CSV input is cut into chunks of whole records by one blocking
//! task and parsed by several others, each streaming batches to its own writer of the write path;
//! each rejected row is recorded in `stl_load_errors` (kept even when the load fails), and more
//! than MAXERROR rejections fail the load, which then writes nothing.

mod options;
mod split;
mod text;

use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::Schema;
use datafusion::error::DataFusionError;
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use tarn_catalog::{ColumnDef, LoadCommit, LoadError, TableDef};

pub(crate) use options::offset;
pub use options::{Compression, CopyFrom, CopyOptions, InputFormat, parse_copy_from};
use split::{Boundaries, Chunk};
use text::{Builders, Converter, Record, RecordReader, Value};

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
        accepted: AtomicU64::new(0),
        stores,
        overrides,
    });

    let schema = Arc::new(table.arrow_schema());
    let workers = session.ctx.state().config().target_partitions().max(1);
    let (chunks, chunk_receiver) = mpsc::sync_channel::<Chunk>(workers);
    let chunk_receiver = Arc::new(Mutex::new(chunk_receiver));
    let mut parsers = Vec::new();
    let mut streams: Vec<SendableRecordBatchStream> = Vec::new();
    for _ in 0..workers {
        let (sender, receiver) = tokio::sync::mpsc::channel(2);
        let (job, files, batch_schema, chunks) = (job.clone(), files.clone(), schema.clone(), chunk_receiver.clone());
        parsers.push(tokio::task::spawn_blocking(move || job.parse_chunks(&files, &chunks, &batch_schema, &sender)));
        let batches = futures::stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|batch| (batch, receiver))
        });
        streams.push(Box::pin(RecordBatchStreamAdapter::new(schema.clone(), batches)));
    }
    drop(chunk_receiver);
    let splitter = {
        let (job, files) = (job.clone(), files.clone());
        tokio::task::spawn_blocking(move || job.split_all(&files, chunks))
    };
    let written = if copy.options.no_load {
        use futures::StreamExt;
        let mut all = futures::stream::select_all(streams);
        while all.next().await.is_some() {}
        Ok(Vec::new())
    } else {
        write::write_streams(session, &table, streams).await
    };
    let joined = |e: tokio::task::JoinError| Error::Invalid(format!("the COPY parser failed: {e}"));
    let mut parsed = splitter.await.map_err(joined)?;
    for parser in parsers {
        if let Err(e) = parser.await.map_err(joined)?
            && parsed.is_ok()
        {
            parsed = Err(e);
        }
    }
    let loaded = job.accepted.load(Ordering::Relaxed);

    let mut errors = std::mem::take(&mut *job.errors.lock().unwrap_or_else(|p| p.into_inner()));
    errors.sort_by_key(|(file, error)| (*file, error.line_number));
    let errors: Vec<LoadError> = errors.into_iter().map(|(_, error)| error).collect();
    let skipped = errors.len() as u64;
    let failed = skipped > copy.options.max_error;
    let commits = match &parsed {
        Ok(commits) => commits.clone(),
        Err(_) => Vec::new(),
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
    let loaded = if parsed.is_ok() { loaded } else { 0 };
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

/// One COPY's parsing state, shared with its blocking splitter and parser tasks.
struct Job {
    table: TableDef,
    targets: Vec<usize>,
    options: CopyOptions,
    converter: Converter,
    query: i64,
    user: String,
    started: String,
    /// Rejected rows, with the index of their file.
    errors: Mutex<Vec<(usize, LoadError)>>,
    accepted: AtomicU64,
    stores: Arc<Stores>,
    overrides: S3Overrides,
}

type Sender = tokio::sync::mpsc::Sender<std::result::Result<RecordBatch, DataFusionError>>;

impl Job {
    /// Cuts every file into chunks for the parsers; returns the files read.
    fn split_all(&self, files: &[Location], chunks: mpsc::SyncSender<Chunk>) -> Result<Vec<LoadCommit>> {
        let boundaries = Boundaries::new(&self.options);
        let mut commits = Vec::new();
        for (index, file) in files.iter().enumerate() {
            if self.failing() {
                // Too many rejections: the load fails, stop reading.
                break;
            }
            let io = |e: std::io::Error| match e.downcast::<Error>() {
                Ok(ours) => ours,
                Err(e) => Error::Io { context: format!("reading {file}"), source: e },
            };
            let input =
                decompressing(self.stores.open_blocking(file, &self.overrides)?, file, self.options.compression)?;
            let emit = |chunk| !self.failing() && chunks.send(chunk).is_ok();
            let lines = split::split(input, index, self.options.ignore_header, boundaries, split::CHUNK_BYTES, emit)
                .map_err(io)?;
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
        Ok(commits)
    }

    /// Parses chunks until there are none left, sending full batches to this parser's writer.
    fn parse_chunks(
        &self,
        files: &[Location],
        chunks: &Mutex<mpsc::Receiver<Chunk>>,
        schema: &Arc<Schema>,
        sender: &Sender,
    ) -> Result<()> {
        let mut builders = Builders::new(&self.table.columns);
        let mut record = Record::default();
        loop {
            let next = chunks.lock().unwrap_or_else(|p| p.into_inner()).recv();
            let Ok(chunk) = next else { break };
            if self.failing() || sender.is_closed() {
                // The load fails, or the writer stopped (it reports why): stop parsing.
                break;
            }
            let mut reader = RecordReader::new(&chunk.bytes[..], &self.options, chunk.first_line);
            let io = |e| Error::Io { context: format!("reading {}", files[chunk.file]), source: e };
            while reader.next_record(&mut record).map_err(io)? {
                if record.raw.is_empty() && self.options.ignore_blank_lines {
                    continue;
                }
                match self.convert(&record, &self.table.columns) {
                    Ok(row) => {
                        builders.append(row);
                        self.accepted.fetch_add(1, Ordering::Relaxed);
                        if builders.rows >= BATCH_ROWS && !send(&mut builders, schema, sender)? {
                            return Ok(());
                        }
                    }
                    Err(error) => {
                        let error = LoadError { filename: files[chunk.file].to_string(), ..*error };
                        let mut errors = self.errors.lock().unwrap_or_else(|p| p.into_inner());
                        errors.push((chunk.file, error));
                        if errors.len() as u64 > self.options.max_error {
                            return Ok(());
                        }
                    }
                }
            }
        }
        if builders.rows > 0 && !self.failing() {
            send(&mut builders, schema, sender)?;
        }
        Ok(())
    }

    /// More rows were rejected than MAXERROR allows.
    fn failing(&self) -> bool {
        self.errors.lock().unwrap_or_else(|p| p.into_inner()).len() as u64 > self.options.max_error
    }

    /// Converts one record into a full table row, or the error describing its first bad field.
    fn convert<'a>(
        &self,
        record: &'a Record,
        columns: &[ColumnDef],
    ) -> std::result::Result<Vec<Value<'a>>, Box<LoadError>> {
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
        if record.invalid_utf8 {
            let message = "String contains invalid or unsupported UTF8 codepoints (use ACCEPTINVCHARS to replace them)";
            return Err(error(None, 0, "", 1220, message.into()));
        }
        let fields = record.len();
        if fields > self.targets.len() {
            return Err(error(None, self.targets.len() + 1, "", 1202, "Extra column(s) found".into()));
        }
        if fields < self.targets.len() && !self.options.fill_record {
            let column = &columns[self.targets[fields]];
            return Err(error(Some(column), fields + 1, "", 1214, "Delimiter not found".into()));
        }
        let mut row = vec![Value::Null; columns.len()];
        for (position, &target) in self.targets.iter().enumerate() {
            let column = &columns[target];
            let value = match record.field(position) {
                Some(field) => self.converter.convert(field, column),
                // FILLRECORD: missing trailing fields are NULL.
                None if column.nullable => Ok(Value::Null),
                None => Err(text::Rejection { code: 1213, reason: "Missing data for not-null field".into() }),
            };
            match value {
                Ok(value) => row[target] = value,
                Err(rejection) => {
                    let raw = record.field(position).unwrap_or("");
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
