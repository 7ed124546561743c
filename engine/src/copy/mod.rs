//! Redshift `COPY table FROM 'source'`: loads files into a managed table as one write of the
//! current transaction. Text and CSV input is cut into chunks of whole records by one blocking
//! task and parsed by several others, each streaming batches to its own writer of the write path;
//! each rejected row is recorded in `stl_load_errors` (kept even when the load fails), and more
//! than MAXERROR rejections fail the load, which then writes nothing.

mod columnar;
mod json;
mod keys;
mod options;
mod scan;
mod split;
mod text;
pub(crate) use text::truncate;

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
pub use options::{Compression, CopyFrom, CopyOptions, Credentials, InputFormat, parse_copy_from};
use split::{Boundaries, Chunk};
use text::{Builders, Converter, Record, RecordReader, Rejection, Value, recycle};

use crate::error::{Error, Result};
use crate::session::{Output, Session};
use crate::storage::{Location, S3Overrides, Stores};
use crate::write;

/// Rows per batch handed to the writer.
const BATCH_ROWS: usize = 65_536;

/// Chunks a parser finds not plain (or with a rejected field) before it stops trying the
/// column-by-column path: input full of quotes or bad rows would pay for two parses.
const PLAIN_MISSES: usize = 4;

pub(crate) async fn copy_from(session: &Session, copy: CopyFrom) -> Result<Output> {
    let (schema, name) = session.resolve_name(&copy.table)?;
    let table = session
        .shared
        .with_state(|s| s.table_by_name(&schema, &name).cloned())?
        .ok_or_else(|| Error::Invalid(format!("table \"{schema}.{name}\" does not exist")))?;
    let qualified = format!("{schema}.{name}");
    let targets = target_columns(&table, &copy.columns)?;
    let stores = session.shared.engine.stores.clone();
    let overrides = copy.options.credentials.overrides(copy.options.region.as_deref())?;
    let progress = session.progress();
    let files = source_objects(&stores, &copy.source, copy.options.manifest, &overrides, &progress).await?;
    let converter = Converter::new(&copy.options)?;
    let json = match &copy.options.format {
        InputFormat::Json(spec) => {
            Some(json::JsonMapping::new(spec.as_deref(), targets.len(), &stores, &overrides).await?)
        }
        _ => None,
    };

    let store = session.shared.engine.store.clone();
    let query = store.next_query_id()?;
    let started = tarn_catalog::now();
    let left_out_not_null = (0..table.columns.len()).find(|i| !targets.contains(i) && !table.columns[*i].nullable);
    let job = Arc::new(Job {
        table: table.clone(),
        targets,
        left_out_not_null,
        options: copy.options.clone(),
        converter,
        json,
        query,
        user: session.user().to_string(),
        started: started.clone(),
        errors: Mutex::new(Vec::new()),
        accepted: AtomicU64::new(0),
        progress,
        stores,
        overrides,
        keys: keys::KeyFilter::of(session, &schema, &table).await?,
    });

    let files: Arc<[Location]> = files.into();
    let schema = Arc::new(table.arrow_schema());
    let workers = session.ctx.state().config().target_partitions().max(1);
    let mut senders = Vec::new();
    let mut streams: Vec<SendableRecordBatchStream> = Vec::new();
    for _ in 0..workers {
        let (sender, receiver) = tokio::sync::mpsc::channel(2);
        senders.push(sender);
        let batches = futures::stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|batch| (batch, receiver))
        });
        streams.push(Box::pin(RecordBatchStreamAdapter::new(schema.clone(), batches)));
    }
    // Tasks that read the input, each returning the files it read with their line counts.
    let mut producers: Vec<tokio::task::JoinHandle<Result<FilesRead>>> = Vec::new();
    match &job.options.format {
        InputFormat::Text | InputFormat::Csv { .. } => {
            let (chunks, chunk_receiver) = mpsc::sync_channel::<Chunk>(workers);
            let chunk_receiver = Arc::new(Mutex::new(chunk_receiver));
            for sender in senders {
                let (job, files, schema, chunks) = (job.clone(), files.clone(), schema.clone(), chunk_receiver.clone());
                producers.push(tokio::task::spawn_blocking(move || {
                    job.parse_chunks(&files, &chunks, &schema, &sender).map(|()| Vec::new())
                }));
            }
            let (job, files) = (job.clone(), files.clone());
            producers.push(tokio::task::spawn_blocking(move || job.split_all(&files, chunks)));
        }
        InputFormat::Parquet | InputFormat::Json(_) => {
            // Whole files per worker, round robin; local Parquet files fewer than the workers
            // share out their row groups instead (one file would keep one worker busy).
            let by_row_group = matches!(job.options.format, InputFormat::Parquet)
                && files.len() < workers
                && files.iter().all(|f| matches!(f, Location::Local(_)));
            for (worker, sender) in senders.into_iter().enumerate() {
                let (job, files, schema) = (job.clone(), files.clone(), schema.clone());
                producers.push(tokio::task::spawn_blocking(move || {
                    let (mine, share): (Vec<usize>, _) = match by_row_group {
                        true => ((0..files.len()).collect(), columnar::Share { worker, workers }),
                        false => ((worker..files.len()).step_by(workers).collect(), columnar::Share::WHOLE),
                    };
                    match job.options.format {
                        InputFormat::Parquet => job.load_parquet(&files, &mine, share, &schema, &sender),
                        _ => job.load_json(&files, &mine, &schema, &sender),
                    }
                }));
            }
        }
    }
    let written = if copy.options.no_load {
        use futures::StreamExt;
        let mut all = futures::stream::select_all(streams);
        while all.next().await.is_some() {}
        Ok(Vec::new())
    } else {
        write::write_streams(session, &table, streams).await
    };
    let mut parsed = Ok(());
    let mut scanned = Vec::new();
    for producer in producers {
        match producer.await.map_err(|e| Error::Invalid(format!("the COPY parser failed: {e}")))? {
            Ok(files) => scanned.extend(files),
            Err(e) if parsed.is_ok() => parsed = Err(e),
            Err(_) => {}
        }
    }
    // Workers that shared a file's row groups each report their part of it.
    scanned.sort_unstable();
    scanned.dedup_by(|later, earlier| {
        let same = later.0 == earlier.0;
        if same {
            earlier.1 += later.1;
        }
        same
    });
    let loaded = job.accepted.load(Ordering::Relaxed);

    let mut errors = std::mem::take(&mut *job.errors.lock().unwrap_or_else(|p| p.into_inner()));
    errors.sort_by_key(|(file, error)| (*file, error.line_number));
    let errors: Vec<LoadError> = errors.into_iter().map(|(_, error)| error).collect();
    let skipped = errors.len() as u64;
    let failed = skipped > copy.options.max_error;
    let status = if failed || parsed.is_err() {
        "failed"
    } else if copy.options.no_load {
        "noload"
    } else {
        "loaded"
    };
    crate::system::lineage::note_files(&session.shared, scanned.iter().map(|(file, _)| files[*file].to_string()));
    let commits: Vec<LoadCommit> = scanned
        .into_iter()
        .map(|(file, lines)| LoadCommit {
            query: job.query,
            userid: job.user.clone(),
            tbl: job.table.id,
            filename: files[file].to_string(),
            lines_scanned: lines as i64,
            curtime: job.started.clone(),
            status: status.to_string(),
        })
        .collect();
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
    let mut files = written?;
    if copy.options.stat_update {
        files = crate::analyze::with_distinct_counts(session, &table, files).await?;
    }
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
    progress: &crate::session::Progress,
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
    let objects = stores.list_prefix(&location, overrides).await?;
    progress.add_total(objects.iter().map(|o| o.size).sum());
    let files: Vec<Location> = objects.into_iter().map(|o| o.location).collect();
    if files.is_empty() {
        return Err(Error::Invalid(format!("COPY source {source} matches no file")));
    }
    Ok(files)
}

/// One COPY's parsing state, shared with its blocking splitter and parser tasks.
struct Job {
    table: TableDef,
    targets: Vec<usize>,
    /// The first NOT NULL column the column list leaves out: every row misses its value.
    left_out_not_null: Option<usize>,
    options: CopyOptions,
    converter: Converter,
    /// How JSON records map to columns (JSON input only).
    json: Option<json::JsonMapping>,
    query: i64,
    user: String,
    started: String,
    /// Rejected rows, with the index of their file.
    errors: Mutex<Vec<(usize, LoadError)>>,
    accepted: AtomicU64,
    progress: Arc<crate::session::Progress>,
    stores: Arc<Stores>,
    overrides: S3Overrides,
    /// Enforced keys (`tarn.enforce_primary_keys`): rows repeating one are rejected.
    keys: Option<keys::KeyFilter>,
}

/// Files read (by their number in the load) with their line (or row) counts.
type FilesRead = Vec<(usize, u64)>;

type Sender = tokio::sync::mpsc::Sender<std::result::Result<RecordBatch, DataFusionError>>;

impl Job {
    /// Cuts every file into chunks for the parsers; returns the files read with their line counts.
    fn split_all(&self, files: &[Location], chunks: mpsc::SyncSender<Chunk>) -> Result<Vec<(usize, u64)>> {
        let boundaries = Boundaries::new(&self.options);
        let mut read = Vec::new();
        for (index, file) in files.iter().enumerate() {
            if self.failing() {
                // Too many rejections: the load fails, stop reading.
                break;
            }
            let io = |e: std::io::Error| match e.downcast::<Error>() {
                Ok(ours) => ours,
                Err(e) => Error::Io { context: format!("reading {file}"), source: e },
            };
            let input = decompressing(self.open(file)?, file, self.options.compression)?;
            let emit = |chunk| !self.failing() && chunks.send(chunk).is_ok();
            let lines = split::split(input, index, self.options.ignore_header, boundaries, split::CHUNK_BYTES, emit)
                .map_err(io)?;
            read.push((index, lines));
        }
        Ok(read)
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
        let mut spare_row = Vec::new();
        // Chunks of plain records are converted column by column into batches of their own.
        let plain = self.plain_format();
        let (mut plain_builders, mut spans) = (Builders::new(&self.table.columns), Vec::new());
        let mut plain_misses = 0;
        loop {
            let next = chunks.lock().unwrap_or_else(|p| p.into_inner()).recv();
            let Ok(chunk) = next else { break };
            if self.failing() || sender.is_closed() {
                // The load fails, or the writer stopped (it reports why): stop parsing.
                break;
            }
            if let Some((delimiter, quote)) = plain.filter(|_| plain_misses < PLAIN_MISSES) {
                let fields = self.targets.len();
                let converted =
                    text::plain_records(&chunk.bytes, delimiter, quote, fields, &mut spans).is_some_and(|text| {
                        plain_builders.append_plain(&self.converter, &self.table.columns, &self.targets, text, &spans)
                    });
                if converted {
                    if !self.send(&mut plain_builders, schema, sender)? {
                        return Ok(());
                    }
                    continue;
                }
                // Not plain, or a field is rejected: drop the partial batch, parse record by record.
                plain_builders.finish();
                plain_misses += 1;
            }
            let mut reader = RecordReader::new(&chunk.bytes[..], &self.options, chunk.first_line);
            let io = |e| Error::Io { context: format!("reading {}", files[chunk.file]), source: e };
            while reader.next_record(&mut record).map_err(io)? {
                if record.raw.is_empty() && self.options.ignore_blank_lines {
                    continue;
                }
                let mut row = recycle(std::mem::take(&mut spare_row));
                match self.convert(&record, &mut row) {
                    Ok(()) => {
                        builders.append(&row);
                        if builders.rows >= BATCH_ROWS && !self.send(&mut builders, schema, sender)? {
                            return Ok(());
                        }
                    }
                    Err(error) => {
                        if !self.reject(chunk.file, &files[chunk.file], error) {
                            return Ok(());
                        }
                    }
                }
                spare_row = recycle(row);
            }
        }
        if builders.rows > 0 && !self.failing() {
            self.send(&mut builders, schema, sender)?;
        }
        Ok(())
    }

    /// The delimiter and (CSV) quote byte when chunks may be plain records (see
    /// [`text::plain_records`]): no option changes how records or fields are read or checked
    /// beyond the field conversions themselves.
    fn plain_format(&self) -> Option<(u8, Option<u8>)> {
        let options = &self.options;
        let plain_text = matches!(options.format, InputFormat::Text) && !options.escape && !options.remove_quotes;
        let usable = (plain_text || matches!(options.format, InputFormat::Csv { .. }))
            && !options.ignore_blank_lines
            && options.null_as.as_deref() != Some("\0")
            && self.keys.is_none()
            && self.left_out_not_null.is_none()
            && !self.targets.is_empty();
        usable.then(|| (options.field_delimiter() as u8, options.csv_quote().map(|q| q as u8)))
    }

    /// More rows were rejected than MAXERROR allows.
    fn failing(&self) -> bool {
        self.errors.lock().unwrap_or_else(|p| p.into_inner()).len() as u64 > self.options.max_error
    }

    /// Converts one record into a full table row, or the error describing its first bad field.
    /// A rejection of the record at `line_number` of a file (filled in by [`Job::reject`]).
    fn load_error(
        &self,
        line_number: u64,
        raw_line: &str,
        field: Option<(&ColumnDef, usize, &str)>,
        rejection: Rejection,
    ) -> Box<LoadError> {
        let column = field.map(|(c, ..)| c);
        Box::new(LoadError {
            query: self.query,
            userid: self.user.clone(),
            tbl: self.table.id,
            starttime: self.started.clone(),
            session: std::process::id() as i64,
            filename: String::new(),
            line_number: line_number as i64,
            colname: column.map(|c| c.name.clone()).unwrap_or_default(),
            col_type: column.map(|c| c.sql_type.to_string()).unwrap_or_default(),
            col_length: column.and_then(|c| c.sql_type.max_length()).map(|n| n.to_string()).unwrap_or_default(),
            position: field.map_or(0, |(_, position, _)| position as i64),
            raw_line: raw_line.chars().take(1024).collect(),
            raw_field_value: field.map(|(.., value)| value.chars().take(1024).collect()).unwrap_or_default(),
            err_code: rejection.code,
            err_reason: rejection.reason,
        })
    }

    /// Records a rejected row of `file` (number `index` of the load); false once rejections
    /// exceed MAXERROR.
    fn reject(&self, index: usize, file: &Location, error: Box<LoadError>) -> bool {
        let error = LoadError { filename: file.to_string(), ..*error };
        let mut errors = self.errors.lock().unwrap_or_else(|p| p.into_inner());
        errors.push((index, error));
        errors.len() as u64 <= self.options.max_error
    }

    /// Converts one text record into a full table row in `row`, or the error describing its
    /// first bad field.
    fn convert<'a>(&self, record: &'a Record, row: &mut Vec<Value<'a>>) -> std::result::Result<(), Box<LoadError>> {
        let error = |field: Option<(&ColumnDef, usize, &str)>, rejection: Rejection| {
            self.load_error(record.line_number, &record.raw, field, rejection)
        };
        if record.invalid_utf8 {
            let message = "String contains invalid or unsupported UTF8 codepoints (use ACCEPTINVCHARS to replace them)";
            return Err(error(None, Rejection::new(1220, message)));
        }
        let fields = record.len();
        if fields > self.targets.len() {
            let mut extra = error(None, Rejection::new(1202, "Extra column(s) found"));
            extra.position = self.targets.len() as i64 + 1;
            return Err(extra);
        }
        if fields < self.targets.len() && !self.options.fill_record {
            let column = &self.table.columns[self.targets[fields]];
            return Err(error(Some((column, fields + 1, "")), Rejection::new(1214, "Delimiter not found")));
        }
        // FILLRECORD: missing trailing fields are NULL.
        self.convert_fields(row, |position| record.field(position), |field, rejection| error(Some(field), rejection))
    }

    /// Converts the target columns' fields (`None`: NULL) into a full table row in `row`
    /// (an empty buffer).
    fn convert_fields<'a>(
        &self,
        row: &mut Vec<Value<'a>>,
        field: impl Fn(usize) -> Option<&'a str>,
        error: impl Fn((&ColumnDef, usize, &str), Rejection) -> Box<LoadError>,
    ) -> std::result::Result<(), Box<LoadError>> {
        let columns = &self.table.columns;
        row.resize(columns.len(), Value::Null);
        for (position, &target) in self.targets.iter().enumerate() {
            let column = &columns[target];
            let raw = field(position);
            let value = match raw {
                Some(raw) => self.converter.convert(raw, column),
                None if column.nullable => Ok(Value::Null),
                None => Err(Rejection::new(1213, "Missing data for not-null field")),
            };
            match value {
                Ok(value) => row[target] = value,
                Err(rejection) => return Err(error((column, position + 1, raw.unwrap_or("")), rejection)),
            }
        }
        if let Some(left_out) = self.left_out_not_null {
            let column = &columns[left_out];
            return Err(error((column, 0, ""), Rejection::new(1213, "Missing data for not-null field")));
        }
        if let Some((column, rejection)) = self.keys.as_ref().and_then(|k| k.admit_row(&self.table, row)) {
            let target = columns.iter().position(|c| c.name == column.name).unwrap_or_default();
            let position = self.targets.iter().position(|&t| t == target);
            let raw = position.and_then(&field).unwrap_or("");
            return Err(error((column, position.map_or(0, |p| p + 1), raw), rejection));
        }
        Ok(())
    }
}

impl Job {
    /// Opens an input file; reading it advances the statement's progress.
    fn open(&self, file: &Location) -> Result<Box<dyn Read + Send>> {
        let input = self.stores.open_blocking(file, &self.overrides)?;
        Ok(Box::new(Counted { input, progress: self.progress.clone() }))
    }

    /// Hands a full batch to the writer; false when the writer has gone (it failed, and reports why).
    fn send(&self, builders: &mut Builders, schema: &Arc<Schema>, sender: &Sender) -> Result<bool> {
        let batch = RecordBatch::try_new(schema.clone(), builders.finish())
            .map_err(|e| Error::Invalid(format!("building a batch: {e}")))?;
        self.progress.add_rows(batch.num_rows() as u64);
        self.accepted.fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
        Ok(sender.blocking_send(Ok(batch)).is_ok())
    }
}

/// A reader that counts what it reads into a statement's progress.
struct Counted {
    input: Box<dyn Read + Send>,
    progress: Arc<crate::session::Progress>,
}

impl Read for Counted {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let read = self.input.read(buf)?;
        self.progress.add_bytes(read as u64);
        Ok(read)
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

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn a_load_reports_bytes_read_of_the_total_and_rows() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("in.csv");
        std::fs::write(&csv, "1,a\n2,b\n3,c\n").unwrap();
        let engine = crate::Engine::open(dir.path().join("w")).unwrap();
        let mut session = engine.session().unwrap();
        session.query("CREATE TABLE t (n int NOT NULL, s varchar(5))").await.unwrap();
        session.query(&format!("COPY t FROM '{}' CSV", csv.display())).await.unwrap();
        let reading = session.progress().read();
        assert_eq!((reading.bytes_done, reading.bytes_total, reading.rows), (12, 12, 3));
    }
}
