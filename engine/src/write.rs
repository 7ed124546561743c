//! The write path of managed tables: run a plan, check every row against the table's
//! declared types and constraints, and write new immutable Parquet files (one writer per
//! output partition, in parallel). The files become visible only when the transaction that
//! records them commits.

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
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
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use tarn_catalog::{NewDataFile, SortKey, TableDef};
use tokio::task::JoinSet;

use crate::error::{Error, Result};
use crate::provider::CATALOG_NAME;
use crate::session::{Output, Session, SessionShared};

/// `SET tarn.parquet_compression`: the codec of managed tables' files.
pub(crate) const COMPRESSION_SETTING: &str = "tarn.parquet_compression";
/// Chosen from the file-layout study in benches/README.md: with dictionaries off, the smallest
/// files (0.74x snappy's) and the fastest cold reads (0.92x) and writes (0.86x) measured.
pub(crate) const DEFAULT_COMPRESSION: &str = "zstd(1)";
/// Dictionary encoding off by default (benches/README.md): zstd compresses repeated values as
/// well, writes skip building dictionaries, and strings decode straight into views.
pub(crate) const DEFAULT_DICTIONARY: &str = "off";
/// `SET tarn.parquet_dictionary`: dictionary encoding on or off.
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

/// How the session writes managed tables' Parquet files.
fn writer_properties(shared: &SessionShared) -> WriterProperties {
    let setting = |name: &str, default: &str| shared.setting(name).unwrap_or_else(|| default.to_string());
    let compression =
        parse_compression(&setting(COMPRESSION_SETTING, DEFAULT_COMPRESSION)).unwrap_or(Compression::SNAPPY);
    let rows = setting(ROW_GROUP_SETTING, DEFAULT_ROW_GROUP_ROWS).parse().unwrap_or(122_880);
    WriterProperties::builder()
        .set_compression(compression)
        .set_dictionary_enabled(setting(DICTIONARY_SETTING, DEFAULT_DICTIONARY) == "on")
        .set_max_row_group_row_count(Some(rows))
        .build()
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
        properties: writer_properties(&session.shared),
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
    sync_dir(&target.shared.engine.absolute(&table.path));
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
    properties: WriterProperties,
    table: TableDef,
    schema: SchemaRef,
    qualified: String,
}

struct OpenFile {
    relative: String,
    writer: ArrowWriter<File>,
    handle: File,
    rows: usize,
}

async fn write_partition(mut stream: SendableRecordBatchStream, target: Arc<Target>) -> Result<Vec<NewDataFile>> {
    let mut done = Vec::new();
    let mut open: Option<OpenFile> = None;
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        if batch.num_rows() == 0 {
            continue;
        }
        let file = match open.as_mut() {
            Some(file) => file,
            None => open.insert(open_file(&target)?),
        };
        file.writer.write(&batch).map_err(|source| Error::Parquet { path: file.relative.clone(), source })?;
        file.rows += batch.num_rows();
        if file.rows >= FILE_ROWS
            && let Some(file) = open.take()
        {
            done.push(close_file(file, &target.schema)?);
        }
    }
    if let Some(file) = open.take() {
        done.push(close_file(file, &target.schema)?);
    }
    Ok(done)
}

fn open_file(target: &Target) -> Result<OpenFile> {
    let engine = &target.shared.engine;
    let relative = format!("{}/{}-{}.parquet", target.table.path, engine.engine_id, uuid::Uuid::now_v7().simple());
    target.shared.note_written(&relative)?;
    let absolute = engine.absolute(&relative);
    let io = |source| Error::Io { context: format!("cannot create {}", absolute.display()), source };
    if let Some(dir) = absolute.parent() {
        fs::create_dir_all(dir).map_err(io)?;
    }
    let file = File::create_new(&absolute).map_err(io)?;
    let handle = file.try_clone().map_err(io)?;
    let writer = ArrowWriter::try_new(file, target.schema.clone(), Some(target.properties.clone()))
        .map_err(|source| Error::Parquet { path: relative.clone(), source })?;
    Ok(OpenFile { relative, writer, handle, rows: 0 })
}

/// Finishes a file and makes it durable.
fn close_file(file: OpenFile, schema: &SchemaRef) -> Result<NewDataFile> {
    let OpenFile { relative, writer, mut handle, rows } = file;
    let metadata = writer.close().map_err(|source| Error::Parquet { path: relative.clone(), source })?;
    let io = |source| Error::Io { context: format!("cannot finish {relative}"), source };
    handle.sync_all().map_err(io)?;
    let size = handle.metadata().map_err(io)?.len();
    // The footer's length is stored just before the closing magic bytes.
    let mut tail = [0u8; 8];
    handle.seek(SeekFrom::End(-8)).map_err(io)?;
    handle.read_exact(&mut tail).map_err(io)?;
    let footer_size = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]) as u64 + 8;
    let stats = crate::stats::of_parquet(&metadata, schema);
    Ok(NewDataFile { path: relative, record_count: rows as u64, file_size_bytes: size, footer_size, stats })
}

/// Casts a batch to the table's types and checks NOT NULL and character lengths.
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
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(fields.len());
    for ((array, field), column) in batch.columns().iter().zip(fields.iter()).zip(&target.table.columns) {
        let array = if array.data_type() == field.data_type() {
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
        if let (Some(max), DataType::Utf8) = (column.sql_type.max_length(), array.data_type()) {
            let strings = array.as_string::<i32>();
            // Offsets first: a batch whose every slot fits needs no look at the values.
            let max = max as usize;
            let fits = strings.offsets().windows(2).all(|w| (w[1] - w[0]) as usize <= max);
            if !fits && let Some(value) = strings.iter().flatten().find(|v| v.len() > max) {
                return Err(Error::Invalid(format!(
                    "value too long for type {} in column \"{}\" of table {}: {} bytes",
                    column.sql_type,
                    field.name(),
                    target.qualified,
                    value.len()
                )));
            }
        }
        columns.push(array);
    }
    RecordBatch::try_new(target.schema.clone(), columns)
        .map_err(|e| Error::Invalid(format!("writing {}: {e}", target.qualified)))
}

/// Makes new directory entries durable (best effort: not every platform can sync a directory).
fn sync_dir(dir: &std::path::Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}
