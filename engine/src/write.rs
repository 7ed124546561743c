//! The write path of managed tables: run a plan, check every row against the table's
//! declared types and constraints, and write new immutable Parquet files (one writer per
//! output partition, in parallel). The files become visible only when the transaction that
//! records them commits.

use std::fs::{self, File};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::compute::SortOptions;
use datafusion::arrow::compute::{CastOptions, cast_with_options};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::{DataFusionError, TableReference};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{DmlStatement, LogicalPlan};
use datafusion::physical_expr::expressions::Column;
use datafusion::physical_expr::{LexOrdering, PhysicalSortExpr};
use datafusion::physical_plan::sorts::sort::SortExec;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use datafusion::physical_plan::{ExecutionPlan, SendableRecordBatchStream, execute_stream_partitioned};
use futures::StreamExt;
use object_store::buffered::BufWriter;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::basic::Encoding;
use parquet::file::metadata::ParquetMetaData;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::statistics::Statistics;
use parquet::schema::types::ColumnPath;
use tarn_catalog::{NewDataFile, SortKey, TableDef};
use tokio::io::AsyncWriteExt;
use tokio::task::JoinSet;

use crate::data_root::DataRoot;
use crate::error::{Error, Result};
use crate::provider::CATALOG_NAME;
use crate::session::{Output, Session, SessionShared};

/// `SET tarn.parquet_compression`: the codec of managed tables' files.
pub(crate) const COMPRESSION_SETTING: &str = "tarn.parquet_compression";
/// Chosen from the COPY measurements in benches/README.md: with delta encodings, dictionaries
/// and columns the codec cannot shrink left uncompressed, lz4_raw writes faster than zstd(1)
/// and reads as fast, at 1.17x its files' size.
pub(crate) const DEFAULT_COMPRESSION: &str = "lz4_raw";
/// Dictionaries for character columns whose values repeat (decided per file from its first
/// rows): they shrink such columns to a few bits per value, where unique strings would only
/// pay for building a dictionary.
pub(crate) const DEFAULT_DICTIONARY: &str = "auto";
/// `SET tarn.parquet_dictionary`: dictionary encoding on, off or auto.
pub(crate) const DICTIONARY_SETTING: &str = "tarn.parquet_dictionary";
/// `SET tarn.parquet_row_group_size`: rows per Parquet row group.
pub(crate) const ROW_GROUP_SETTING: &str = "tarn.parquet_row_group_size";
/// Small enough for row-group pruning to pay off (benches/README.md).
pub(crate) const DEFAULT_ROW_GROUP_ROWS: &str = "122880";

/// The normalized value of `tarn.parquet_compression`, if valid.
pub(crate) fn compression_setting(value: &str) -> Option<String> {
    let value = value.trim().to_ascii_lowercase().replace(' ', "");
    parse_compression(&value).map(|_| value)
}

fn parse_compression(value: &str) -> Option<Compression> {
    use parquet::basic::ZstdLevel;
    match value {
        "uncompressed" | "none" => Some(Compression::UNCOMPRESSED),
        "snappy" => Some(Compression::SNAPPY),
        "lz4_raw" | "lz4" => Some(Compression::LZ4_RAW),
        "zstd" => Some(Compression::ZSTD(ZstdLevel::default())),
        _ => {
            let level = value.strip_prefix("zstd(")?.strip_suffix(')')?.parse().ok()?;
            Some(Compression::ZSTD(ZstdLevel::try_new(level).ok()?))
        }
    }
}

/// The normalized value of `tarn.parquet_row_group_size`, if valid.
pub(crate) fn row_group_setting(value: &str) -> Option<String> {
    let rows: usize = value.trim().replace('_', "").parse().ok()?;
    (1024..=1 << 24).contains(&rows).then(|| rows.to_string())
}

/// `SET tarn.parquet_statistics`: `on` (min/max statistics for every column of every file) or
/// `auto`.
pub(crate) const STATISTICS_SETTING: &str = "tarn.parquet_statistics";
/// Min/max statistics only prune where a column's values cluster; `auto` spares the
/// comparisons of character columns whose every row group spanned a common value in a
/// writer's last file (benches/README.md: ~7% of all CPU in a COPY from Parquet).
pub(crate) const DEFAULT_STATISTICS: &str = "auto";

/// `SET tarn.parquet_encoding`: how values that are not dictionary-encoded are laid out.
pub(crate) const ENCODING_SETTING: &str = "tarn.parquet_encoding";
/// Chosen from the COPY and layout measurements in benches/README.md: with delta encodings
/// the compressor sees a fraction of the bytes, so files are smaller and written faster.
pub(crate) const DEFAULT_ENCODING: &str = "delta";

/// How the session writes managed tables' Parquet files (its `tarn.parquet_*` settings).
#[derive(Debug, Clone)]
struct Layout {
    compression: Compression,
    dictionary: Dictionary,
    /// `delta`: integer-like columns as DELTA_BINARY_PACKED, character columns (where no
    /// dictionary is kept) as DELTA_LENGTH_BYTE_ARRAY; `plain`: Parquet's PLAIN.
    delta: bool,
    row_group_rows: usize,
    /// `tarn.parquet_statistics = auto`: character columns whose statistics could not prune
    /// (see [`unprunable`]) get none in a writer's next files.
    adaptive_statistics: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Dictionary {
    On,
    Off,
    /// Character columns whose first batch of a file repeats its values enough.
    Auto,
}

impl Layout {
    fn of(shared: &SessionShared) -> Layout {
        let setting = |name: &str, default: &str| shared.setting(name).unwrap_or_else(|| default.to_string());
        let compression =
            parse_compression(&setting(COMPRESSION_SETTING, DEFAULT_COMPRESSION)).unwrap_or(Compression::SNAPPY);
        let dictionary = match setting(DICTIONARY_SETTING, DEFAULT_DICTIONARY).as_str() {
            "on" => Dictionary::On,
            "auto" => Dictionary::Auto,
            _ => Dictionary::Off,
        };
        let row_group_rows = setting(ROW_GROUP_SETTING, DEFAULT_ROW_GROUP_ROWS).parse().unwrap_or(122_880);
        let delta = setting(ENCODING_SETTING, DEFAULT_ENCODING) == "delta";
        let adaptive_statistics = setting(STATISTICS_SETTING, DEFAULT_STATISTICS) == "auto";
        Layout { compression, dictionary, delta, row_group_rows, adaptive_statistics }
    }

    /// The properties of a file of `schema` whose first rows are `first`, with what the
    /// writer's last file taught: columns to leave uncompressed and columns without statistics.
    fn properties(&self, schema: &SchemaRef, first: &RecordBatch, learned: &Learned) -> WriterProperties {
        let mut builder = WriterProperties::builder()
            .set_compression(self.compression)
            .set_dictionary_enabled(self.dictionary == Dictionary::On)
            .set_max_row_group_row_count(Some(self.row_group_rows));
        for path in &learned.incompressible {
            builder = builder.set_column_compression(path.clone(), Compression::UNCOMPRESSED);
        }
        for path in &learned.unprunable {
            builder = builder.set_column_statistics_enabled(path.clone(), EnabledStatistics::None);
        }
        for (field, column) in schema.fields().iter().zip(first.columns()) {
            let path = ColumnPath::from(field.name().as_str());
            let encoding = match field.data_type() {
                DataType::Int8
                | DataType::Int16
                | DataType::Int32
                | DataType::Int64
                | DataType::Date32
                | DataType::Timestamp(..) => self.delta.then_some(Encoding::DELTA_BINARY_PACKED),
                // Stored as 32- or 64-bit integers.
                DataType::Decimal128(precision, _) if *precision <= 18 => {
                    self.delta.then_some(Encoding::DELTA_BINARY_PACKED)
                }
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                    if self.dictionary == Dictionary::Auto && repeats(column) {
                        builder = builder.set_column_dictionary_enabled(path.clone(), true);
                    }
                    self.delta.then_some(Encoding::DELTA_LENGTH_BYTE_ARRAY)
                }
                _ => None,
            };
            if let Some(encoding) = encoding {
                builder = builder.set_column_encoding(path, encoding);
            }
        }
        builder.build()
    }
}

/// Whether a character column's values repeat enough for a dictionary to pay: at most one
/// distinct value in 16 among its (first few thousand) values.
fn repeats(column: &ArrayRef) -> bool {
    let sample = column.len().min(8192);
    if sample < 256 {
        return false;
    }
    let limit = sample / 16;
    let mut seen = std::collections::HashSet::with_capacity(limit + 1);
    let values: Box<dyn Iterator<Item = Option<&str>>> = match column.data_type() {
        DataType::Utf8 => Box::new(column.as_string::<i32>().iter()),
        DataType::LargeUtf8 => Box::new(column.as_string::<i64>().iter()),
        DataType::Utf8View => Box::new(column.as_string_view().iter()),
        _ => return false,
    };
    for value in values.take(sample).flatten() {
        if seen.insert(value) && seen.len() > limit {
            return false;
        }
    }
    true
}

/// Rows per data file: DML rewrites whole files, so keep them moderate.
pub(crate) const FILE_ROWS: usize = 1_048_576;

/// `INSERT INTO t ...`: DataFusion planned the input (column order, defaults, casts).
pub(crate) async fn insert(session: &mut Session, dml: DmlStatement) -> Result<Output> {
    let table = table_def(session, &dml.table_name)?;
    let rows = write_into(session, &table, &dml.input).await?;
    Ok(Output::command_with_rows("INSERT", rows))
}

/// Writes the result of `input` into `table` in the current transaction; returns the row count.
pub(crate) async fn write_into(session: &Session, table: &TableDef, input: &LogicalPlan) -> Result<u64> {
    let files = write_plan(session, table, input).await?;
    let rows = files.iter().map(|f| f.record_count).sum();
    session.with_txn(|txn| Ok(txn.add_files(table.id, files)?))?;
    Ok(rows)
}

/// The managed table a DataFusion table reference names, as the session sees it.
pub(crate) fn table_def(session: &Session, reference: &TableReference) -> Result<TableDef> {
    if let Some(catalog) = reference.catalog()
        && catalog != CATALOG_NAME
    {
        return Err(Error::Invalid(format!("database \"{catalog}\" does not exist (tarn's is \"{CATALOG_NAME}\")")));
    }
    let default_schema = session.shared.default_schema();
    let schema = reference.schema().unwrap_or(&default_schema);
    let name = reference.table();
    session
        .shared
        .with_state(|s| s.table_by_name(schema, name).cloned())?
        .ok_or_else(|| Error::Invalid(format!("relation \"{schema}.{name}\" is not a table tarn can write to")))
}

/// Writes the rows of `input` as new data files of `table` (not yet added to the transaction).
pub(crate) async fn write_plan(session: &Session, table: &TableDef, input: &LogicalPlan) -> Result<Vec<NewDataFile>> {
    let plan = session.physical_plan(input).await?;
    let streams = execute_stream_partitioned(plan, session.ctx.task_ctx())?;
    write_streams(session, table, streams).await
}

/// Writes the rows of `input` with one writer (files of up to [`FILE_ROWS`] rows), whatever the
/// plan's partitioning: many small inputs become few files.
pub(crate) async fn write_plan_coalesced(
    session: &Session,
    table: &TableDef,
    input: &LogicalPlan,
) -> Result<Vec<NewDataFile>> {
    let plan = session.physical_plan(input).await?;
    let plan: Arc<dyn datafusion::physical_plan::ExecutionPlan> =
        if plan.properties().output_partitioning().partition_count() > 1 {
            Arc::new(datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec::new(plan))
        } else {
            plan
        };
    let stream = datafusion::physical_plan::execute_stream(plan, session.ctx.task_ctx())?;
    write_streams(session, table, vec![stream]).await
}

/// Writes `streams` (one writer each, in parallel) as new data files of `table`.
pub(crate) async fn write_streams(
    session: &Session,
    table: &TableDef,
    streams: Vec<SendableRecordBatchStream>,
) -> Result<Vec<NewDataFile>> {
    let target = Arc::new(Target {
        layout: Layout::of(&session.shared),
        shared: session.shared.clone(),
        schema: Arc::new(table.arrow_schema()),
        qualified: qualified_name(session, table)?,
        table: table.clone(),
    });
    let conformed: Vec<SendableRecordBatchStream> = streams
        .into_iter()
        .map(|stream| {
            let schema = target.schema.clone();
            let target = target.clone();
            let batches = stream.map(move |batch| conform(batch?, &target).map_err(DataFusionError::from));
            Box::pin(RecordBatchStreamAdapter::new(schema, batches)) as SendableRecordBatchStream
        })
        .collect();
    let streams = match &table.sort_key {
        Some(key) => sorted(session, conformed, key, &target.schema)?,
        None => conformed,
    };
    let mut writers = JoinSet::new();
    for stream in streams {
        writers.spawn(write_partition(stream, target.clone()));
    }
    let mut files = Vec::new();
    // Dropping the JoinSet on an early return aborts the other writers; the transaction's
    // list of written files lets the caller remove what they wrote.
    while let Some(joined) = writers.join_next().await {
        match joined {
            Ok(written) => files.extend(written?),
            Err(e) => return Err(Error::Invalid(format!("a writer task failed: {e}"))),
        }
    }
    if let DataRoot::Local(root) = &target.shared.engine.data {
        sync_dir(&root.join(&table.path));
    }
    Ok(files)
}

/// How rows are ordered on a sort key: ascending, NULLs last (as `ORDER BY col` sorts, so that
/// scans declaring the order spare such queries a sort).
pub(crate) const SORT_OPTIONS: SortOptions = SortOptions { descending: false, nulls_first: false };

/// `streams` (of rows conformed to the table) each sorted on the table's sort key, through
/// DataFusion's sort (bounded by the session's memory pool, spilling when it must): every
/// writer then writes its rows as one sorted run of files.
fn sorted(
    session: &Session,
    streams: Vec<SendableRecordBatchStream>,
    key: &SortKey,
    schema: &SchemaRef,
) -> Result<Vec<SendableRecordBatchStream>> {
    let mut ordering = Vec::with_capacity(key.columns.len());
    for name in &key.columns {
        let index =
            schema.index_of(name).map_err(|_| Error::Invalid(format!("sort key column \"{name}\" is missing")))?;
        ordering.push(PhysicalSortExpr::new(Arc::new(Column::new(name, index)), SORT_OPTIONS));
    }
    let Some(ordering) = LexOrdering::new(ordering) else { return Ok(streams) };
    let ordering = if key.interleaved { crate::zorder::ordering(ordering) } else { ordering };
    let count = streams.len();
    let partitions: Vec<Arc<dyn PartitionStream>> =
        streams.into_iter().map(|s| Arc::new(OneShot::new(schema.clone(), s)) as Arc<dyn PartitionStream>).collect();
    let input = Arc::new(StreamingTableExec::try_new(schema.clone(), partitions, None, [], false, None)?);
    let sort = Arc::new(SortExec::new(ordering, input).with_preserve_partitioning(true));
    let context = session.ctx.task_ctx();
    (0..count).map(|partition| Ok(sort.execute(partition, context.clone())?)).collect()
}

/// A stream that already exists, as a partition of a plan (executed once).
struct OneShot {
    schema: SchemaRef,
    stream: std::sync::Mutex<Option<SendableRecordBatchStream>>,
}

impl OneShot {
    fn new(schema: SchemaRef, stream: SendableRecordBatchStream) -> Self {
        OneShot { schema, stream: std::sync::Mutex::new(Some(stream)) }
    }
}

impl std::fmt::Debug for OneShot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OneShot").field("schema", &self.schema).finish()
    }
}

impl PartitionStream for OneShot {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let taken = self.stream.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        taken.unwrap_or_else(|| {
            let error = DataFusionError::Internal("a write's input stream was read twice".into());
            Box::pin(RecordBatchStreamAdapter::new(self.schema.clone(), futures::stream::once(async { Err(error) })))
        })
    }
}

fn qualified_name(session: &Session, table: &TableDef) -> Result<String> {
    let schema = session.shared.with_state(|s| s.schema_name(table.schema_id).to_string())?;
    Ok(format!("{schema}.{}", table.name))
}

struct Target {
    shared: Arc<SessionShared>,
    /// How files are written (the session's `tarn.parquet_*` settings).
    layout: Layout,
    table: TableDef,
    schema: SchemaRef,
    qualified: String,
}

struct OpenFile {
    relative: String,
    /// Where it is written (for messages).
    url: String,
    writer: ArrowWriter<Sink>,
    /// For files on object storage: the upload their bytes go to as they are encoded.
    upload: Option<BufWriter>,
    rows: usize,
    /// NULLs per column, for columns written without statistics.
    nulls: Vec<u64>,
}

impl OpenFile {
    /// Sends what the encoder produced so far to the file's upload (files on object storage).
    async fn drain(&mut self) -> Result<()> {
        let Some(upload) = self.upload.as_mut() else { return Ok(()) };
        let bytes = self.writer.inner_mut().take_buffered();
        if !bytes.is_empty() {
            upload.write_all(&bytes).await.map_err(|source| upload_error(source, &self.url))?;
        }
        Ok(())
    }
}

/// Where a data file's encoded bytes go: a local file, or a buffer drained into an upload.
/// Counts them and keeps the last eight (the footer's length and the closing magic).
struct Sink {
    out: SinkOut,
    written: u64,
    tail: [u8; 8],
}

enum SinkOut {
    File(File),
    Buffer(Vec<u8>),
}

impl Sink {
    fn new(out: SinkOut) -> Sink {
        Sink { out, written: 0, tail: [0; 8] }
    }

    /// The bytes buffered since last taken (none for a local file).
    fn take_buffered(&mut self) -> Vec<u8> {
        match &mut self.out {
            SinkOut::File(_) => Vec::new(),
            SinkOut::Buffer(buffer) => std::mem::take(buffer),
        }
    }

    /// The length of the file's footer (its metadata, length and magic), from its last bytes.
    fn footer_size(&self) -> u64 {
        u32::from_le_bytes([self.tail[0], self.tail[1], self.tail[2], self.tail[3]]) as u64 + 8
    }
}

impl std::io::Write for Sink {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        match &mut self.out {
            SinkOut::File(file) => file.write_all(bytes)?,
            SinkOut::Buffer(buffer) => buffer.extend_from_slice(bytes),
        }
        self.written += bytes.len() as u64;
        let n = bytes.len().min(8);
        self.tail.rotate_left(n);
        self.tail[8 - n..].copy_from_slice(&bytes[bytes.len() - n..]);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.out {
            SinkOut::File(file) => file.flush(),
            SinkOut::Buffer(_) => Ok(()),
        }
    }
}

async fn write_partition(stream: SendableRecordBatchStream, target: Arc<Target>) -> Result<Vec<NewDataFile>> {
    let mut open: Option<OpenFile> = None;
    let written = write_files(stream, &target, &mut open).await;
    // A file left open by a failure: an upload in progress is aborted, so that object storage
    // keeps no parts of it (the transaction's rollback removes what was completed).
    if written.is_err()
        && let Some(mut upload) = open.and_then(|file| file.upload)
        && let Err(e) = upload.abort().await
    {
        log::warn!("could not abort the upload of an unfinished data file: {e}");
    }
    written
}

/// Writes `stream` as data files of at most [`FILE_ROWS`] rows; `open` holds the file being
/// written.
async fn write_files(
    mut stream: SendableRecordBatchStream,
    target: &Target,
    open: &mut Option<OpenFile>,
) -> Result<Vec<NewDataFile>> {
    let mut done = Vec::new();
    let mut learned = Learned::default();
    // Finished files being made durable while the writer goes on encoding.
    let mut syncing = Vec::new();
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        if batch.num_rows() == 0 {
            continue;
        }
        let file = match open.as_mut() {
            Some(file) => file,
            None => open.insert(open_file(target, &batch, &learned)?),
        };
        file.writer.write(&batch).map_err(|source| Error::Parquet { path: file.relative.clone(), source })?;
        file.drain().await?;
        file.rows += batch.num_rows();
        for (nulls, column) in file.nulls.iter_mut().zip(batch.columns()) {
            *nulls += column.null_count() as u64;
        }
        if file.rows >= FILE_ROWS
            && let Some(file) = open.take()
        {
            let (new_file, metadata, sync) = close_file(file, &target.schema)?;
            learned = Learned::of(&metadata, target);
            syncing.push(sync);
            done.push(new_file);
        }
    }
    if let Some(file) = open.take() {
        let (new_file, _, sync) = close_file(file, &target.schema)?;
        syncing.push(sync);
        done.push(new_file);
    }
    for sync in syncing {
        sync.await.map_err(|e| Error::Invalid(format!("making a written file durable failed: {e}")))??;
    }
    Ok(done)
}

/// What a writer's last file says about how to write its next ones.
#[derive(Debug, Default)]
struct Learned {
    /// Columns the codec did not pay for: stored as they are encoded, sparing the compressor
    /// bytes it cannot shrink.
    incompressible: Vec<ColumnPath>,
    /// Character columns whose statistics could not prune (with `tarn.parquet_statistics =
    /// auto`): written without, sparing two comparisons per value.
    unprunable: Vec<ColumnPath>,
}

impl Learned {
    fn of(metadata: &ParquetMetaData, target: &Target) -> Learned {
        let unprunable = match target.layout.adaptive_statistics {
            true => unprunable(metadata, &target.schema, target.table.sort_key.as_ref()),
            false => Vec::new(),
        };
        Learned { incompressible: poorly_compressed(metadata), unprunable }
    }
}

/// The character columns of a written file, outside the table's sort key, whose row groups'
/// min/max ranges all share a value: their statistics would keep every row group for that
/// value, and for most others (values spread over each row group, as free text or codes in
/// arrival order are). Files of one row group say nothing; a column already written without
/// statistics stays so.
fn unprunable(metadata: &ParquetMetaData, schema: &SchemaRef, sort_key: Option<&SortKey>) -> Vec<ColumnPath> {
    let groups = metadata.row_groups();
    if groups.len() < 2 {
        return Vec::new();
    }
    let sorted = |name: &str| sort_key.is_some_and(|key| key.columns.iter().any(|c| c == name));
    schema
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, field)| {
            matches!(field.data_type(), DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
                && !sorted(field.name())
        })
        .filter(|&(index, _)| {
            let mut lowest_max: Option<&[u8]> = None;
            let mut highest_min: Option<&[u8]> = None;
            for group in groups {
                let Some(chunk) = group.columns().get(index) else { return false };
                let stats = match chunk.statistics() {
                    Some(Statistics::ByteArray(stats)) => stats,
                    Some(_) => return false,
                    // Written without statistics (so judged before): it stays so.
                    None => return true,
                };
                // All NULL in a row group: no range to compare.
                let (Some(min), Some(max)) = (stats.min_opt(), stats.max_opt()) else { return false };
                highest_min = Some(highest_min.map_or(min.data(), |m| m.max(min.data())));
                lowest_max = Some(lowest_max.map_or(max.data(), |m| m.min(max.data())));
            }
            highest_min <= lowest_max
        })
        .map(|(index, _)| groups[0].column(index).column_path().clone())
        .collect()
}

/// A codec that saves less than this share of a column's encoded bytes is not worth its time.
const MIN_COMPRESSION_GAIN: f64 = 0.1;

/// The columns of a written file whose compressed chunks are, in all, not at least
/// [`MIN_COMPRESSION_GAIN`] smaller than their encoded bytes (columns already stored
/// uncompressed compare equal, so they stay so).
fn poorly_compressed(metadata: &ParquetMetaData) -> Vec<ColumnPath> {
    let Some(first) = metadata.row_groups().first() else { return Vec::new() };
    (0..first.num_columns())
        .filter(|&column| {
            let (compressed, encoded) = metadata.row_groups().iter().fold((0, 0), |(c, e), group| {
                let chunk = group.column(column);
                (c + chunk.compressed_size(), e + chunk.uncompressed_size())
            });
            compressed as f64 > encoded as f64 * (1.0 - MIN_COMPRESSION_GAIN)
        })
        .map(|column| first.column(column).column_path().clone())
        .collect()
}

/// `learned`: what the writer's last file said about this one's layout.
fn open_file(target: &Target, first: &RecordBatch, learned: &Learned) -> Result<OpenFile> {
    let engine = &target.shared.engine;
    let relative = format!("{}/{}-{}.parquet", target.table.path, engine.engine_id, uuid::Uuid::now_v7().simple());
    target.shared.note_written(&relative)?;
    let (sink, upload) = match &engine.data {
        DataRoot::Local(root) => {
            let absolute = root.join(&relative);
            let io = |source| Error::Io { context: format!("cannot create {}", absolute.display()), source };
            if let Some(dir) = absolute.parent() {
                fs::create_dir_all(dir).map_err(io)?;
            }
            (SinkOut::File(File::create_new(&absolute).map_err(io)?), None)
        }
        DataRoot::S3 { .. } => {
            let (store, path) = engine.data.resolve(&engine.stores, &relative)?;
            (SinkOut::Buffer(Vec::new()), Some(BufWriter::with_capacity(store, path, UPLOAD_PART_BYTES)))
        }
    };
    let properties = target.layout.properties(&target.schema, first, learned);
    let writer = ArrowWriter::try_new(Sink::new(sink), target.schema.clone(), Some(properties))
        .map_err(|source| Error::Parquet { path: relative.clone(), source })?;
    let nulls = vec![0; target.schema.fields().len()];
    let url = engine.data.url(&relative);
    Ok(OpenFile { relative, url, writer, upload, rows: 0, nulls })
}

/// A failed upload as one line: S3's refusal or error (via [`crate::storage::storage_error`]),
/// or the local failure.
fn upload_error(source: std::io::Error, url: &str) -> Error {
    if !source.get_ref().is_some_and(|inner| inner.is::<object_store::Error>()) {
        return Error::Io { context: format!("cannot write {url}"), source };
    }
    match source.into_inner().map(|inner| inner.downcast::<object_store::Error>()) {
        Some(Ok(e)) => crate::storage::storage_error("write", url, *e),
        Some(Err(inner)) => Error::Io { context: format!("cannot write {url}"), source: std::io::Error::other(inner) },
        None => {
            Error::Io { context: format!("cannot write {url}"), source: std::io::Error::other("the upload failed") }
        }
    }
}

/// Bytes per part of a data file's upload to object storage.
const UPLOAD_PART_BYTES: usize = 8 << 20;

/// Finishes a file; returns it, its Parquet metadata and the task making it durable (synced to
/// disk, or its upload completed), which must succeed before the file is committed.
fn close_file(
    file: OpenFile,
    schema: &SchemaRef,
) -> Result<(NewDataFile, ParquetMetaData, tokio::task::JoinHandle<Result<()>>)> {
    let OpenFile { relative, url, writer, upload, rows, nulls } = file;
    let parquet = |source| Error::Parquet { path: relative.clone(), source };
    let mut writer = writer;
    // Finishing flushes every byte into the sink.
    let metadata = writer.finish().map_err(parquet)?;
    let sink = writer.inner_mut();
    let (size, footer_size) = (sink.written, sink.footer_size());
    let rest = sink.take_buffered();
    let out = std::mem::replace(&mut sink.out, SinkOut::Buffer(Vec::new()));
    let mut stats = crate::stats::of_parquet(&metadata, schema);
    // Columns written without statistics still have exact NULL counts.
    for (column, nulls) in stats.iter_mut().flat_map(|s| s.columns.iter_mut()).zip(nulls) {
        column.nulls.get_or_insert(tarn_catalog::Stat { value: nulls, exact: true });
    }
    let name = relative.clone();
    let io = move |source| Error::Io { context: format!("cannot finish {name}"), source };
    let durable = match (out, upload) {
        (_, Some(mut upload)) => tokio::spawn(async move {
            upload.write_all(&rest).await.map_err(|e| upload_error(e, &url))?;
            upload.shutdown().await.map_err(|e| upload_error(e, &url))
        }),
        (SinkOut::File(handle), None) => tokio::task::spawn_blocking(move || handle.sync_all().map_err(io)),
        (SinkOut::Buffer(_), None) => {
            return Err(Error::Invalid(format!("data file {relative} was encoded for an upload it does not have")));
        }
    };
    let new_file = NewDataFile { path: relative, record_count: rows as u64, file_size_bytes: size, footer_size, stats };
    Ok((new_file, metadata, durable))
}

/// Casts a batch to the table's types and checks NOT NULL and character lengths. Character
/// columns may stay string views (the Parquet writer encodes them as they are) unless the
/// rows are sorted before they are written.
fn conform(batch: RecordBatch, target: &Target) -> Result<RecordBatch> {
    let fields = target.schema.fields();
    if batch.num_columns() != fields.len() {
        return Err(Error::Invalid(format!(
            "INSERT into {} has {} columns, the table has {}",
            target.qualified,
            batch.num_columns(),
            fields.len()
        )));
    }
    let cast_options = CastOptions { safe: false, ..Default::default() };
    let keep_views = target.table.sort_key.is_none();
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(fields.len());
    for ((array, field), column) in batch.columns().iter().zip(fields.iter()).zip(&target.table.columns) {
        let same = array.data_type() == field.data_type()
            || (keep_views && array.data_type() == &DataType::Utf8View && field.data_type() == &DataType::Utf8);
        let array = if same {
            array.clone()
        } else {
            cast_with_options(array, field.data_type(), &cast_options).map_err(|e| {
                Error::Invalid(format!(
                    "column \"{}\" of table {} is {}: {e}",
                    field.name(),
                    target.qualified,
                    column.sql_type
                ))
            })?
        };
        if !column.nullable && array.null_count() > 0 {
            return Err(Error::Invalid(format!(
                "null value in column \"{}\" of table {} violates not-null constraint",
                field.name(),
                target.qualified
            )));
        }
        if let Some(max) = column.sql_type.max_length()
            && let Some(row) = too_long(&array, max as usize).next()
        {
            let bytes = array
                .as_string_opt::<i32>()
                .map_or_else(|| array.as_string_view().value(row).len(), |s| s.value(row).len());
            return Err(Error::Invalid(format!(
                "value too long for type {} in column \"{}\" of table {}: {bytes} bytes",
                column.sql_type,
                field.name(),
                target.qualified,
            )));
        }
        columns.push(array);
    }
    batch_of(&target.schema, columns).map_err(|e| Error::Invalid(format!("writing {}: {e}", target.qualified)))
}

/// A batch of a table's `columns` under `schema`, whose character fields may hold string
/// views instead (the batch then says so in its own schema).
pub(crate) fn batch_of(
    schema: &SchemaRef,
    columns: Vec<ArrayRef>,
) -> std::result::Result<RecordBatch, datafusion::arrow::error::ArrowError> {
    let fields = schema.fields();
    if columns.iter().zip(fields.iter()).all(|(c, f)| c.data_type() == f.data_type()) {
        return RecordBatch::try_new(schema.clone(), columns);
    }
    let fields: Vec<_> = columns
        .iter()
        .zip(fields.iter())
        .map(|(c, f)| f.as_ref().clone().with_data_type(c.data_type().clone()))
        .collect();
    RecordBatch::try_new(Arc::new(datafusion::arrow::datatypes::Schema::new(fields)), columns)
}

/// The rows of a character column (`Utf8` or `Utf8View`) whose values are longer than `max`
/// bytes; other columns have none. Lengths are read from offsets or views first, so a batch
/// whose every value fits is not looked at further.
pub(crate) fn too_long(array: &ArrayRef, max: usize) -> Box<dyn Iterator<Item = usize> + '_> {
    match array.data_type() {
        DataType::Utf8 => {
            let offsets = array.as_string::<i32>().offsets();
            // A fold over every value (no early exit) is one vectorized pass.
            let longest = offsets.iter().zip(&offsets[1..]).fold(0, |m, (a, b)| m.max(b - a));
            if longest as usize <= max {
                return Box::new(std::iter::empty());
            }
            Box::new(
                offsets
                    .windows(2)
                    .enumerate()
                    .filter(move |(row, w)| (w[1] - w[0]) as usize > max && array.is_valid(*row))
                    .map(|(row, _)| row),
            )
        }
        DataType::Utf8View => {
            // A view's low 32 bits are its value's length.
            let views = array.as_string_view().views();
            if views.iter().fold(0, |m, v| m.max(*v as u32)) as usize <= max {
                return Box::new(std::iter::empty());
            }
            Box::new(
                views
                    .iter()
                    .enumerate()
                    .filter(move |(row, v)| (**v as u32) as usize > max && array.is_valid(*row))
                    .map(|(row, _)| row),
            )
        }
        _ => Box::new(std::iter::empty()),
    }
}

/// Makes new directory entries durable (best effort: not every platform can sync a directory).
fn sync_dir(dir: &std::path::Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{ArrayRef, Int64Array, RecordBatch};
    use parquet::arrow::ArrowWriter;
    use parquet::basic::{Compression, ZstdLevel};
    use parquet::file::properties::WriterProperties;

    use super::{poorly_compressed, unprunable};

    #[test]
    fn columns_the_codec_cannot_shrink_are_named() {
        // One column repeats a value (zstd shrinks it to almost nothing); the other's values
        // come from a scrambling sequence, so its plain-encoded bytes do not compress.
        let rows = 100_000;
        let repeated: ArrayRef = Arc::new(Int64Array::from(vec![42; rows]));
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let scrambled: ArrayRef = Arc::new(Int64Array::from_iter_values((0..rows).map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as i64
        })));
        let batch = RecordBatch::try_from_iter([("repeated", repeated), ("scrambled", scrambled)]).unwrap();
        let properties = WriterProperties::builder()
            .set_compression(Compression::ZSTD(ZstdLevel::default()))
            .set_dictionary_enabled(false)
            .build();
        let mut writer = ArrowWriter::try_new(Vec::new(), batch.schema(), Some(properties)).unwrap();
        writer.write(&batch).unwrap();
        let metadata = writer.close().unwrap();
        let named: Vec<String> = poorly_compressed(&metadata).iter().map(|path| path.string()).collect();
        assert_eq!(named, ["scrambled"]);
    }

    #[test]
    fn character_columns_whose_row_groups_overlap_are_named() {
        use datafusion::arrow::array::StringArray;
        use tarn_catalog::SortKey;

        // Two row groups of 4 rows: "spread" ranges over a..z in both, "clustered" over a..d
        // then e..h, "keyed" is spread but the table's sort key, "id" is not text.
        let spread: ArrayRef = Arc::new(StringArray::from(vec!["a", "m", "z", "q", "b", "y", "c", "n"]));
        let clustered: ArrayRef = Arc::new(StringArray::from(vec!["a", "b", "c", "d", "e", "f", "g", "h"]));
        let keyed = spread.clone();
        let id: ArrayRef = Arc::new(Int64Array::from(vec![1, 9, 2, 8, 3, 7, 4, 6]));
        let batch =
            RecordBatch::try_from_iter([("spread", spread), ("clustered", clustered), ("keyed", keyed), ("id", id)])
                .unwrap();
        let properties = WriterProperties::builder().set_max_row_group_row_count(Some(4)).build();
        let mut writer = ArrowWriter::try_new(Vec::new(), batch.schema(), Some(properties)).unwrap();
        writer.write(&batch).unwrap();
        let metadata = writer.close().unwrap();
        assert_eq!(metadata.num_row_groups(), 2);
        let key = SortKey { columns: vec!["keyed".into()], interleaved: false };
        let named: Vec<String> =
            unprunable(&metadata, &batch.schema(), Some(&key)).iter().map(|path| path.string()).collect();
        assert_eq!(named, ["spread"]);
        // A column written without statistics (judged unprunable before) stays so.
        let properties = WriterProperties::builder()
            .set_max_row_group_row_count(Some(4))
            .set_column_statistics_enabled("clustered".into(), parquet::file::properties::EnabledStatistics::None)
            .build();
        let mut writer = ArrowWriter::try_new(Vec::new(), batch.schema(), Some(properties)).unwrap();
        writer.write(&batch).unwrap();
        let metadata = writer.close().unwrap();
        let named: Vec<String> =
            unprunable(&metadata, &batch.schema(), Some(&key)).iter().map(|path| path.string()).collect();
        assert_eq!(named, ["spread", "clustered"]);
        // One row group says nothing.
        let mut writer = ArrowWriter::try_new(Vec::new(), batch.schema(), None).unwrap();
        writer.write(&batch).unwrap();
        assert!(unprunable(&writer.close().unwrap(), &batch.schema(), None).is_empty());
    }
}
