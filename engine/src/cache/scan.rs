//! Parquet scans through the decoded-data cache.
//!
//! [`CachedParquetFormat`] is DataFusion's `ParquetFormat` whose scans carry a
//! [`CachedParquetSource`]: the plan stays a `DataSourceExec` (EXPLAIN, statistics, file groups,
//! pruning by file statistics and limits are DataFusion's), and only the reading of each file
//! changes. A file is read one row group at a time: row groups outside the file's byte range or
//! ruled out by the scan's predicate (row-group statistics, dynamic join filters included) are
//! skipped, the projected columns are taken from the cache, and only the missing ones are
//! decoded (then kept). Scans the cache cannot serve exactly as DataFusion would (filters
//! evaluated inside the scan, partition or virtual columns) read the plain DataFusion way.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use datafusion::arrow::array::{Array, BooleanArray, UInt64Array};
use datafusion::arrow::array::{ArrayRef, RecordBatch, RecordBatchOptions, new_null_array};
use datafusion::arrow::compute::kernels::boolean::and;
use datafusion::arrow::compute::{cast, concat_batches, filter_record_batch};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::Session as CatalogSession;
use datafusion::common::config::ConfigOptions;
use datafusion::common::pruning::PruningStatistics;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column as StatisticsColumn, Result as DFResult, ScalarValue, Statistics};
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::parquet::source::ParquetSource;
use datafusion::datasource::physical_plan::parquet::{
    DefaultParquetFileReaderFactory, ParquetAccessPlan, ParquetFileMetrics, ParquetFileReaderFactory,
    RowGroupAccessPlanFilter,
};
use datafusion::datasource::physical_plan::{FileScanConfig, FileScanConfigBuilder, FileSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::physical_expr::EquivalenceProperties;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::PhysicalSortExpr;
use datafusion::physical_expr::ScalarFunctionExpr;
use datafusion::physical_expr::expressions::{
    BinaryExpr, CaseExpr, CastExpr, Column, DynamicFilterPhysicalExpr, InListExpr, IsNotNullExpr, IsNullExpr, Literal,
    NotExpr,
};
use datafusion::physical_expr::projection::{ProjectionExprs, Projector};
use datafusion::physical_expr::utils::split_conjunction;
use datafusion::physical_expr_common::physical_expr::{snapshot_generation, snapshot_physical_expr};
use datafusion::physical_optimizer::pruning::{PruningPredicate, PruningPredicateBuilder};
use datafusion::physical_plan::filter_pushdown::FilterPushdownPropagation;
use datafusion::physical_plan::joins::HashExpr;
use datafusion::physical_plan::metrics::{Count, ExecutionPlanMetricsSet, MetricBuilder};
use datafusion::physical_plan::sort_pushdown::SortOrderPushdownResult;
use datafusion::physical_plan::{DisplayFormatType, ExecutionPlan};
use datafusion_datasource::TableSchema;
use datafusion_datasource::morsel::{Morsel, MorselPlan, MorselPlanner, Morselizer};
use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt, TryStreamExt};
use object_store::{ObjectMeta, ObjectStore};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::statistics::StatisticsConverter;
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use parquet::arrow::async_reader::{AsyncFileReader, ParquetRecordBatchStreamBuilder};
use parquet::file::metadata::{ParquetMetaData, RowGroupMetaData};
use parquet::schema::types::SchemaDescriptor;

use super::int_set::{IntSet, int_set};
use super::{ChunkKey, DecodedCache, FileIdentity};

/// `ParquetFormat`, reading through the decoded-data cache.
#[derive(Debug)]
pub(crate) struct CachedParquetFormat {
    inner: ParquetFormat,
    cache: Arc<DecodedCache>,
    /// Statistics of files known without opening them (recorded in the catalog).
    known: HashMap<object_store::path::Path, Arc<Statistics>>,
}

impl CachedParquetFormat {
    pub(crate) fn new(cache: Arc<DecodedCache>) -> Self {
        CachedParquetFormat { inner: ParquetFormat::default(), cache, known: HashMap::new() }
    }

    /// Plans with `known` statistics for these files instead of reading their footers.
    pub(crate) fn with_statistics(mut self, known: HashMap<object_store::path::Path, Arc<Statistics>>) -> Self {
        self.known = known;
        self
    }
}

#[async_trait]
impl FileFormat for CachedParquetFormat {
    fn get_ext(&self) -> String {
        self.inner.get_ext()
    }

    fn get_ext_with_compression(&self, compression: &FileCompressionType) -> DFResult<String> {
        self.inner.get_ext_with_compression(compression)
    }

    fn compression_type(&self) -> Option<FileCompressionType> {
        self.inner.compression_type()
    }

    async fn infer_schema(
        &self,
        state: &dyn CatalogSession,
        store: &Arc<dyn ObjectStore>,
        objects: &[ObjectMeta],
    ) -> DFResult<SchemaRef> {
        self.inner.infer_schema(state, store, objects).await
    }

    async fn infer_stats(
        &self,
        state: &dyn CatalogSession,
        store: &Arc<dyn ObjectStore>,
        table_schema: SchemaRef,
        object: &ObjectMeta,
    ) -> DFResult<Statistics> {
        match self.known.get(&object.location) {
            Some(known) => Ok(known.as_ref().clone()),
            None => self.inner.infer_stats(state, store, table_schema, object).await,
        }
    }

    async fn infer_stats_and_ordering(
        &self,
        state: &dyn CatalogSession,
        store: &Arc<dyn ObjectStore>,
        table_schema: SchemaRef,
        object: &ObjectMeta,
    ) -> DFResult<datafusion_datasource::file_format::FileMeta> {
        match self.known.get(&object.location) {
            // tarn's files declare no order in their footers: the table's sort key is declared
            // to the ListingTable instead.
            Some(known) => Ok(datafusion_datasource::file_format::FileMeta::new(known.as_ref().clone())),
            None => self.inner.infer_stats_and_ordering(state, store, table_schema, object).await,
        }
    }

    async fn create_physical_plan(
        &self,
        state: &dyn CatalogSession,
        conf: FileScanConfig,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        let plan = self.inner.create_physical_plan(state, conf).await?;
        let Some((config, parquet)) =
            plan.downcast_ref::<DataSourceExec>().and_then(|exec| exec.downcast_to_file_source::<ParquetSource>())
        else {
            return Ok(plan);
        };
        let source = CachedParquetSource {
            inner: Arc::new(parquet.clone()),
            cache: self.cache.clone(),
            across_aggregates: Arc::default(),
        };
        let config = FileScanConfigBuilder::from(config.clone()).with_source(Arc::new(source)).build();
        Ok(DataSourceExec::from_data_source(config))
    }

    fn file_source(&self, table_schema: TableSchema) -> Arc<dyn FileSource> {
        self.inner.file_source(table_schema)
    }
}

/// A `ParquetSource` whose files are read through the decoded-data cache.
#[derive(Clone)]
pub(crate) struct CachedParquetSource {
    inner: Arc<dyn FileSource>,
    cache: Arc<DecodedCache>,
    /// The join filters that reach this scan across an aggregate, by their keys' column names
    /// (see [`FiltersBelowAggregates`]).
    across_aggregates: Arc<Vec<Vec<String>>>,
}

impl CachedParquetSource {
    fn wrap(&self, inner: Arc<dyn FileSource>) -> Arc<dyn FileSource> {
        Arc::new(CachedParquetSource {
            inner,
            cache: self.cache.clone(),
            across_aggregates: self.across_aggregates.clone(),
        })
    }

    /// Whether the cache can read this scan exactly as the inner source would.
    fn serves(&self) -> bool {
        let schema = self.inner.table_schema();
        let filters_inside = self
            .inner
            .downcast_ref::<ParquetSource>()
            .is_none_or(|p| p.table_parquet_options().global.pushdown_filters);
        self.cache.capacity() > 0
            && !filters_inside
            && schema.table_partition_cols().is_empty()
            && schema.virtual_columns().is_empty()
    }
}

impl FileSource for CachedParquetSource {
    delegate_file_source!();

    fn create_morselizer(
        &self,
        store: Arc<dyn ObjectStore>,
        config: &FileScanConfig,
        partition: usize,
    ) -> DFResult<Box<dyn Morselizer>> {
        if !self.serves() {
            return self.inner.create_morselizer(store, config, partition);
        }
        let store_for_plain = store.clone();
        let reader_factory: Arc<dyn ParquetFileReaderFactory> =
            match self.inner.downcast_ref::<ParquetSource>().and_then(|p| p.parquet_file_reader_factory().cloned()) {
                Some(factory) => factory,
                None => Arc::new(DefaultParquetFileReaderFactory::new(store.clone())),
            };
        let file_schema = self.inner.table_schema().file_schema().clone();
        let (needed, projector) = match self.inner.projection() {
            None => ((0..file_schema.fields().len()).collect(), None),
            Some(projection) => narrow_projection(projection, &file_schema)?,
        };
        let narrow_schema = Arc::new(file_schema.project(&needed)?);
        let metrics = self.inner.metrics();
        let scan = ScanShared {
            cache: self.cache.clone(),
            reader_factory,
            store_url: config.object_store_url.as_str().to_string(),
            partition,
            narrow_schema,
            projector: projector.map(Arc::new),
            predicate: self.inner.filter(),
            dynamic: dynamic_conjuncts(self.inner.filter()),
            across_aggregates: self.across_aggregates.clone(),
            prepared: parking_lot::Mutex::new(None),
            pruning: parking_lot::Mutex::new(None),
            rows_pruned: MetricBuilder::new(metrics).counter("decoded_cache_rows_pruned_dynamic", partition),
            batch_size: config.batch_size.unwrap_or(8192).max(1),
            metrics: metrics.clone(),
            hits: MetricBuilder::new(metrics).counter("decoded_cache_hits", partition),
            misses: MetricBuilder::new(metrics).counter("decoded_cache_misses", partition),
        };
        let plain = self.inner.create_morselizer(store_for_plain, config, partition)?;
        Ok(Box::new(CachedMorselizer { scan: Arc::new(scan), plain }))
    }

    fn with_batch_size(&self, batch_size: usize) -> Arc<dyn FileSource> {
        self.wrap(self.inner.with_batch_size(batch_size))
    }

    fn fmt_extra(&self, t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        self.inner.fmt_extra(t, f)?;
        if self.serves() {
            write!(f, ", decoded_cache=on")?;
            for keys in self.across_aggregates.iter() {
                write!(f, ", join_filter_across_aggregate=[{}]", keys.join(", "))?;
            }
        }
        Ok(())
    }

    fn repartitioned(
        &self,
        target_partitions: usize,
        repartition_file_min_size: usize,
        output_ordering: Option<datafusion::physical_expr::LexOrdering>,
        config: &FileScanConfig,
    ) -> DFResult<Option<FileScanConfig>> {
        self.inner.repartitioned(target_partitions, repartition_file_min_size, output_ordering, config)
    }

    fn try_pushdown_filters(
        &self,
        filters: Vec<Arc<dyn PhysicalExpr>>,
        config: &ConfigOptions,
    ) -> DFResult<FilterPushdownPropagation<Arc<dyn FileSource>>> {
        let pushed = self.inner.try_pushdown_filters(filters, config)?;
        Ok(FilterPushdownPropagation {
            filters: pushed.filters,
            updated_node: pushed.updated_node.map(|inner| self.wrap(inner)),
        })
    }

    fn try_pushdown_sort(
        &self,
        order: &[PhysicalSortExpr],
        eq_properties: &EquivalenceProperties,
    ) -> DFResult<SortOrderPushdownResult<Arc<dyn FileSource>>> {
        // Exact only when the files already have the order; Inexact (row groups reordered or
        // reversed for a TopK) keeps the sort above, so reading row groups in file order, as the
        // cache does, stays correct.
        Ok(match self.inner.try_pushdown_sort(order, eq_properties)? {
            SortOrderPushdownResult::Exact { inner } => SortOrderPushdownResult::Exact { inner: self.wrap(inner) },
            SortOrderPushdownResult::Inexact { inner } => SortOrderPushdownResult::Inexact { inner: self.wrap(inner) },
            SortOrderPushdownResult::Unsupported => SortOrderPushdownResult::Unsupported,
        })
    }

    fn reorder_files(&self, files: Vec<PartitionedFile>) -> Vec<PartitionedFile> {
        self.inner.reorder_files(files)
    }

    fn try_pushdown_projection(&self, projection: &ProjectionExprs) -> DFResult<Option<Arc<dyn FileSource>>> {
        Ok(self.inner.try_pushdown_projection(projection)?.map(|inner| self.wrap(inner)))
    }
}

/// The file columns a projection reads, and the projection rewritten over just those.
fn narrow_projection(projection: &ProjectionExprs, file_schema: &Schema) -> DFResult<(Vec<usize>, Option<Projector>)> {
    let mut needed = projection.column_indices();
    needed.sort_unstable();
    needed.dedup();
    let narrow = projection.clone().try_map_exprs(|expr| {
        expr.transform(|node| {
            let Some(column) = node.downcast_ref::<Column>() else {
                return Ok(Transformed::no(node));
            };
            let position = needed.binary_search(&column.index()).map_err(|_| {
                datafusion::common::DataFusionError::Internal(format!(
                    "column {} outside the projection",
                    column.name()
                ))
            })?;
            Ok(Transformed::yes(Arc::new(Column::new(column.name(), position)) as Arc<dyn PhysicalExpr>))
        })
        .map(|t| t.data)
    })?;
    let narrow_schema = file_schema.project(&needed)?;
    Ok((needed, Some(narrow.make_projector(&narrow_schema)?)))
}

/// What every file of one scan partition shares.
struct ScanShared {
    cache: Arc<DecodedCache>,
    reader_factory: Arc<dyn ParquetFileReaderFactory>,
    store_url: String,
    partition: usize,
    /// The file columns the scan reads, as the table declares them.
    narrow_schema: SchemaRef,
    /// The scan's projection over `narrow_schema` (`None`: the columns themselves).
    projector: Option<Arc<Projector>>,
    /// For skipping row groups (over the table's file schema).
    predicate: Option<Arc<dyn PhysicalExpr>>,
    /// The parts of `predicate` that joins and TopK fill in while the query runs: applied to
    /// the rows of each row group (they only ever remove rows the query drops anyway).
    dynamic: Vec<Arc<dyn PhysicalExpr>>,
    /// The join filters (by their keys' names) that reach the scan across an aggregate: their
    /// parts that are not cheap are tried as well (see [`RowFilter::Trial`]).
    across_aggregates: Arc<Vec<Vec<String>>>,
    /// The cheap parts of `dynamic` as last prepared, with the generations they were taken at.
    prepared: parking_lot::Mutex<Option<PreparedFilters>>,
    /// `predicate` for skipping the row groups of the last file opened (see
    /// [`ScanShared::pruning_predicate`]).
    pruning: parking_lot::Mutex<Option<PreparedPruning>>,
    rows_pruned: Count,
    batch_size: usize,
    metrics: ExecutionPlanMetricsSet,
    hits: Count,
    misses: Count,
}

/// The cheap parts of a scan's dynamic filters over its columns, and the generations of the
/// filters they were taken from.
type PreparedFilters = (Vec<u64>, Arc<Vec<RowFilter>>);

/// A scan's pruning predicate over a file schema, and the generations of the dynamic filters
/// it was taken at (`None`: nothing to prune by).
type PreparedPruning = (Vec<u64>, SchemaRef, Option<Arc<PruningPredicate>>);

/// One cheap dynamic filter, ready to evaluate.
enum RowFilter {
    Expr(Arc<dyn PhysicalExpr>),
    /// An IN list of dense integers (most join keys), as a bitmap.
    Set(IntSet),
    /// A filter as costly as the join that made it (a probe of its hash table) that reaches the
    /// scan across an aggregate: worth it when it removes most rows before they are aggregated
    /// (TPC-H q17 at SF 10 averages 60 M lineitem rows by part for the 60 K the join keeps). It
    /// is evaluated on the first [`TRIAL_ROWS`] and dropped if it keeps more than half of them.
    Trial(Arc<dyn PhysicalExpr>, Trial),
}

/// Rows a costly filter is tried on before it is kept or dropped.
const TRIAL_ROWS: u64 = 1 << 16;

/// How a costly filter has done so far (shared by the row groups of one scan partition).
#[derive(Debug, Default)]
struct Trial {
    rows: std::sync::atomic::AtomicU64,
    kept: std::sync::atomic::AtomicU64,
    dropped: std::sync::atomic::AtomicBool,
}

impl Trial {
    fn dropped(&self) -> bool {
        self.dropped.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Counts a batch's rows and those kept; drops the filter once it has kept more than half
    /// of at least [`TRIAL_ROWS`].
    fn record(&self, rows: usize, kept: usize) {
        use std::sync::atomic::Ordering::Relaxed;
        let rows = self.rows.fetch_add(rows as u64, Relaxed) + rows as u64;
        let kept = self.kept.fetch_add(kept as u64, Relaxed) + kept as u64;
        if rows >= TRIAL_ROWS && kept * 2 > rows {
            self.dropped.store(true, Relaxed);
        }
    }
}

impl RowFilter {
    fn new(expr: Arc<dyn PhysicalExpr>, schema: &Schema) -> RowFilter {
        match int_set(&expr, schema) {
            Some(set) => RowFilter::Set(set),
            None => RowFilter::Expr(expr),
        }
    }

    /// The rows of `batch` that pass (`None`: the filter did not give booleans).
    fn evaluate(&self, batch: &RecordBatch) -> DFResult<Option<BooleanArray>> {
        match self {
            RowFilter::Set(set) => Ok(Some(set.filter(batch))),
            RowFilter::Expr(expr) => Ok(boolean_result(expr, batch)?),
            RowFilter::Trial(_, trial) if trial.dropped() => Ok(None),
            RowFilter::Trial(expr, trial) => {
                let result = boolean_result(expr, batch)?;
                if let Some(result) = &result {
                    trial.record(batch.num_rows(), result.true_count());
                }
                Ok(result)
            }
        }
    }
}

/// `expr` over `batch`, if it gives booleans.
fn boolean_result(expr: &Arc<dyn PhysicalExpr>, batch: &RecordBatch) -> DFResult<Option<BooleanArray>> {
    let result = expr.evaluate(batch)?.into_array(batch.num_rows())?;
    Ok(result.as_any().downcast_ref::<BooleanArray>().cloned())
}

impl ScanShared {
    /// The predicate over `file_schema` for skipping row groups by their statistics, built once
    /// for the files of one schema until a dynamic filter changes: building one snapshots and
    /// simplifies the whole predicate, and a join's IN list of a thousand keys made that cost
    /// TPC-H q2 a third of its time when it was done for every file.
    fn pruning_predicate(&self, file_schema: &SchemaRef) -> Option<Arc<PruningPredicate>> {
        let predicate = self.predicate.as_ref()?;
        let generations: Vec<u64> = self.dynamic.iter().map(snapshot_generation).collect();
        let mut prepared = self.pruning.lock();
        if let Some((seen, schema, pruning)) = prepared.as_ref()
            && *seen == generations
            && schema == file_schema
        {
            return pruning.clone();
        }
        let pruning = over_file_columns(predicate, file_schema)
            .and_then(|p| PruningPredicateBuilder::new().with_file_schema(file_schema.clone()).build(p));
        *prepared = Some((generations, file_schema.clone(), pruning.clone()));
        pruning
    }

    /// The cheap parts of the dynamic filters as they stand now, over `narrow_schema`. Bounds and
    /// IN lists are cheap; a probe of the join's hash table costs as much as the join itself
    /// (measured: q9 178 -> 453 ms), so it is left to the join, as is a filter on a column the
    /// scan does not return, unless the filter reaches the scan across an aggregate (then it is
    /// tried: [`RowFilter::Trial`]). Prepared again only when a filter changes (a join fills its filter
    /// in once, when its build side is complete), not for every row group: an IN list's set is
    /// built once.
    fn cheap_dynamic_filters(&self) -> DFResult<Arc<Vec<RowFilter>>> {
        let generations: Vec<u64> = self.dynamic.iter().map(snapshot_generation).collect();
        let mut prepared = self.prepared.lock();
        if let Some((seen, filters)) = prepared.as_ref()
            && *seen == generations
        {
            return Ok(filters.clone());
        }
        let mut filters = Vec::new();
        for dynamic in &self.dynamic {
            let across_aggregate = self.across_aggregates.contains(&key_names(dynamic));
            let current = snapshot_physical_expr(dynamic.clone())?;
            for part in split_conjunction(&current) {
                let cheap = cheap_parts(part, &self.narrow_schema);
                if !cheap.is_empty() {
                    filters.extend(cheap.into_iter().map(|p| RowFilter::new(p, &self.narrow_schema)));
                } else if across_aggregate
                    && part.downcast_ref::<Literal>().is_none()
                    && let Some(part) = over_file_columns(part, &self.narrow_schema)
                {
                    filters.push(RowFilter::Trial(part, Trial::default()));
                }
            }
        }
        let filters = Arc::new(filters);
        *prepared = Some((generations, filters.clone()));
        Ok(filters)
    }
}

impl fmt::Debug for ScanShared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScanShared").field("partition", &self.partition).finish()
    }
}

/// Reads files through the cache once they are admitted to it, the plain way before.
#[derive(Debug)]
struct CachedMorselizer {
    scan: Arc<ScanShared>,
    plain: Box<dyn Morselizer>,
}

impl Morselizer for CachedMorselizer {
    fn plan_file(&self, file: PartitionedFile) -> DFResult<Box<dyn MorselPlanner>> {
        let identity = Arc::new(FileIdentity::of(&self.scan.store_url, &file.object_meta));
        if !self.scan.cache.admit(&identity) {
            return self.plain.plan_file(file);
        }
        Ok(Box::new(Planner::Open { scan: self.scan.clone(), file: Box::new(file), identity }))
    }
}

/// One file being read.
struct FileScan {
    scan: Arc<ScanShared>,
    /// The file's reader, for the footer and every row group.
    reader: SharedReader,
    identity: Arc<FileIdentity>,
    metadata: ArrowReaderMetadata,
    /// For each column of the narrow schema, the file column it is read from (`None`: the
    /// file predates the column, which reads as NULL).
    sources: Vec<Option<usize>>,
}

impl fmt::Debug for FileScan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FileScan").field("file", &self.identity.location).finish()
    }
}

enum Planner {
    /// Nothing read yet: the footer comes first.
    Open { scan: Arc<ScanShared>, file: Box<PartitionedFile>, identity: Arc<FileIdentity> },
    /// Row groups still to read.
    RowGroups { file: Arc<FileScan>, remaining: VecDeque<usize> },
    /// One row group read, the rest to follow.
    Ready { morsel: Box<dyn Morsel>, next: Box<dyn MorselPlanner> },
}

impl fmt::Debug for Planner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Planner::Open { file, .. } => write!(f, "Open({})", file.object_meta.location),
            Planner::RowGroups { file, remaining } => write!(f, "RowGroups({file:?}, {remaining:?})"),
            Planner::Ready { .. } => write!(f, "Ready"),
        }
    }
}

impl MorselPlanner for Planner {
    fn plan(self: Box<Self>) -> DFResult<Option<MorselPlan>> {
        match *self {
            Planner::Open { scan, file, identity } => Ok(Some(MorselPlan::new().with_pending_planner(async move {
                let (file, remaining) = FileScan::open(scan, *file, identity).await?;
                Ok(Box::new(Planner::RowGroups { file: Arc::new(file), remaining }) as Box<dyn MorselPlanner>)
            }))),
            Planner::Ready { morsel, next } => {
                Ok(Some(MorselPlan::new().with_morsels(vec![morsel]).with_planners(vec![next])))
            }
            Planner::RowGroups { file, mut remaining } => {
                let Some(row_group) = remaining.pop_front() else {
                    return Ok(None);
                };
                let next: Box<dyn MorselPlanner> = Box::new(Planner::RowGroups { file: file.clone(), remaining });
                let (mut columns, missing) = file.cached_columns(row_group);
                if missing.is_empty() {
                    let morsel = file.morsel(row_group, columns)?;
                    return Ok(Some(MorselPlan::new().with_morsels(vec![morsel]).with_planners(vec![next])));
                }
                Ok(Some(MorselPlan::new().with_pending_planner(async move {
                    for (position, array) in file.decode(row_group, &missing).await? {
                        columns[position] = Some(array);
                    }
                    let morsel = file.morsel(row_group, columns)?;
                    Ok(Box::new(Planner::Ready { morsel, next }) as Box<dyn MorselPlanner>)
                })))
            }
        }
    }
}

impl FileScan {
    /// Reads the footer (through DataFusion's metadata cache) and picks the row groups to read.
    async fn open(
        scan: Arc<ScanShared>,
        file: PartitionedFile,
        identity: Arc<FileIdentity>,
    ) -> DFResult<(FileScan, VecDeque<usize>)> {
        let reader = scan.reader_factory.create_reader(scan.partition, file.clone(), None, &scan.metrics)?;
        let mut reader = SharedReader(Arc::new(tokio::sync::Mutex::new(reader)));
        let footer = reader.get_metadata(None).await?;
        let plain = ArrowReaderMetadata::try_new(footer.clone(), ArrowReaderOptions::new())?;
        // Read strings as the table declares them (views), as DataFusion's own scan does.
        let hinted: Vec<Field> = plain
            .schema()
            .fields()
            .iter()
            .map(|field| {
                let declared = scan.narrow_schema.field_with_name(field.name()).ok().map(|f| f.data_type());
                match (field.data_type(), declared) {
                    (DataType::Utf8 | DataType::LargeUtf8, Some(DataType::Utf8View)) => {
                        field.as_ref().clone().with_data_type(DataType::Utf8View)
                    }
                    _ => field.as_ref().clone(),
                }
            })
            .collect();
        let metadata = match hinted.iter().zip(plain.schema().fields()).any(|(h, p)| h.data_type() != p.data_type()) {
            true => ArrowReaderMetadata::try_new(
                footer.clone(),
                ArrowReaderOptions::new().with_schema(Arc::new(Schema::new(hinted))),
            )
            .unwrap_or(plain),
            false => plain,
        };
        let file_schema = metadata.schema().clone();
        let sources = scan.narrow_schema.fields().iter().map(|f| file_schema.index_of(f.name()).ok()).collect();

        let groups = footer.row_groups();
        let mut access = RowGroupAccessPlanFilter::new(ParquetAccessPlan::new_all(groups.len()));
        if let Some(range) = &file.range {
            access.prune_by_range(groups, range);
        }
        let mut remaining: VecDeque<usize> = access.row_group_indexes().collect();
        if let Some(pruning) = scan.pruning_predicate(&file_schema) {
            let name = file.object_meta.location.as_ref();
            let file_metrics = ParquetFileMetrics::new(scan.partition, name, &scan.metrics);
            let _timer = file_metrics.statistics_eval_time.timer();
            let statistics = RowGroupStatistics {
                parquet_schema: footer.file_metadata().schema_descr(),
                arrow_schema: &file_schema,
                groups: remaining.iter().map(|at| &groups[*at]).collect(),
            };
            // A predicate the statistics cannot evaluate keeps every row group.
            if let Ok(keep) = pruning.prune(&statistics) {
                let mut kept = keep.iter();
                remaining.retain(|_| *kept.next().unwrap_or(&true));
                file_metrics.row_groups_pruned_statistics.add_matched(remaining.len());
                file_metrics.row_groups_pruned_statistics.add_pruned(keep.len() - remaining.len());
            }
        }
        Ok((FileScan { scan, reader, identity, metadata, sources }, remaining))
    }

    fn key(&self, row_group: usize, position: usize, column: usize) -> ChunkKey {
        ChunkKey {
            file: self.identity.clone(),
            row_group,
            column,
            data_type: self.scan.narrow_schema.field(position).data_type().clone(),
        }
    }

    fn rows(&self, row_group: usize) -> usize {
        self.metadata.metadata().row_group(row_group).num_rows().max(0) as usize
    }

    /// The columns of `row_group` the cache has (or that read as NULL), and the positions of
    /// those it lacks.
    fn cached_columns(&self, row_group: usize) -> (Vec<Option<ArrayRef>>, Vec<usize>) {
        let mut columns = Vec::with_capacity(self.sources.len());
        let mut missing = Vec::new();
        for (position, source) in self.sources.iter().enumerate() {
            match source {
                None => {
                    let field = self.scan.narrow_schema.field(position);
                    columns.push(Some(new_null_array(field.data_type(), self.rows(row_group))));
                }
                Some(column) => match self.scan.cache.get(&self.key(row_group, position, *column)) {
                    Some(array) => {
                        self.scan.hits.add(1);
                        columns.push(Some(array));
                    }
                    None => {
                        self.scan.misses.add(1);
                        columns.push(None);
                        missing.push(position);
                    }
                },
            }
        }
        (columns, missing)
    }

    /// Decodes the columns at `positions` of `row_group`, keeps them in the cache, and returns
    /// them by position.
    async fn decode(&self, row_group: usize, positions: &[usize]) -> DFResult<Vec<(usize, ArrayRef)>> {
        let mut by_column: Vec<(usize, usize)> =
            positions.iter().filter_map(|&p| self.sources[p].map(|column| (column, p))).collect();
        by_column.sort_unstable();
        let mask = ProjectionMask::roots(self.metadata.parquet_schema(), by_column.iter().map(|(c, _)| *c));
        let stream = ParquetRecordBatchStreamBuilder::new_with_metadata(self.reader.clone(), self.metadata.clone())
            .with_projection(mask)
            .with_row_groups(vec![row_group])
            .with_batch_size(self.rows(row_group).max(1))
            .build()?;
        let mut batches: Vec<RecordBatch> = stream.try_collect().await?;
        let batch = match (batches.len(), batches.pop()) {
            (1, Some(batch)) => batch,
            (_, last) => {
                batches.extend(last);
                let schema = batches.first().map(|b| b.schema()).unwrap_or_else(|| Arc::new(Schema::empty()));
                concat_batches(&schema, &batches)?
            }
        };
        let mut decoded = Vec::with_capacity(by_column.len());
        for (i, (column, position)) in by_column.into_iter().enumerate() {
            let wanted = self.scan.narrow_schema.field(position).data_type();
            let array = match batch.columns().get(i) {
                Some(array) if array.data_type() == wanted => array.clone(),
                Some(array) => cast(array, wanted)?,
                None => new_null_array(wanted, self.rows(row_group)),
            };
            self.scan.cache.insert(self.key(row_group, position, column), array.clone());
            decoded.push((position, array));
        }
        Ok(decoded)
    }

    fn morsel(&self, row_group: usize, columns: Vec<Option<ArrayRef>>) -> DFResult<Box<dyn Morsel>> {
        let columns: Vec<ArrayRef> = columns
            .into_iter()
            .map(|c| c.ok_or_else(|| datafusion::common::DataFusionError::Internal("column not read".into())))
            .collect::<DFResult<_>>()?;
        let options = RecordBatchOptions::new().with_row_count(Some(self.rows(row_group)));
        let batch = RecordBatch::try_new_with_options(self.scan.narrow_schema.clone(), columns, &options)?;
        let batch = self.apply_dynamic_filters(batch)?;
        Ok(Box::new(RowGroupMorsel { batch, batch_size: self.scan.batch_size, projector: self.scan.projector.clone() }))
    }
}

impl FileScan {
    /// The rows of `batch` that pass the scan's dynamic filters as they stand now (a hash join's
    /// build side is complete before its probe side is read).
    fn apply_dynamic_filters(&self, batch: RecordBatch) -> DFResult<RecordBatch> {
        let mut mask: Option<BooleanArray> = None;
        for filter in self.scan.cheap_dynamic_filters()?.iter() {
            let Some(result) = filter.evaluate(&batch)? else { continue };
            mask = Some(match mask {
                None => result,
                Some(mask) => and(&mask, &result)?,
            });
        }
        let Some(mask) = mask else { return Ok(batch) };
        let kept = mask.true_count();
        if kept == batch.num_rows() {
            return Ok(batch);
        }
        self.scan.rows_pruned.add(batch.num_rows() - kept);
        Ok(filter_record_batch(&batch, &mask)?)
    }
}

/// The parts of a dynamic filter conjunct that are cheap to evaluate per row and worth it, over
/// the columns of `schema` (none if there are none, or they read a column the scan does not
/// return): comparisons, IN lists and casts of columns and literals (a literal `true`, an
/// empty dynamic filter, is not worth it).
///
/// A join on several keys hands over `struct(k1, k2, ..) IN (..)`; each key's own values are one
/// IN list per key (`k1 IN (..) AND k2 IN (..)`): it lets through a few rows whose keys only
/// match separately, never fewer rows than the join keeps. TPC-H q20 aggregates only the
/// lineitem rows of the ~400 (part, supplier) pairs its join asks about instead of all of them.
///
/// A partitioned hash join's filter routes each row by the hash of its key (`CASE
/// hash_repartition(key) % n WHEN 0 THEN f0 ...`). When every branch holds an IN list of the
/// same keys, their union is one IN list per key: one set lookup per row, letting through a few
/// more rows than the join's own filter, never fewer. Evaluating the CASE itself (hash every key,
/// split the batch by branch, evaluate each) is left to the join: measured, it cost TPC-H q9
/// twice its time even with the branches reduced to their bounds.
fn cheap_parts(expr: &Arc<dyn PhysicalExpr>, schema: &Schema) -> Vec<Arc<dyn PhysicalExpr>> {
    if expr.downcast_ref::<Literal>().is_some() {
        return Vec::new();
    }
    if all_cheap(expr) {
        return over_file_columns(expr, schema).into_iter().collect();
    }
    if let Some(list) = expr.downcast_ref::<InListExpr>() {
        return key_in_lists(list).map(|keys| in_lists_over(keys, schema)).unwrap_or_default();
    }
    let Some(case) = expr.downcast_ref::<CaseExpr>() else {
        return Vec::new();
    };
    let Some(routing) = case.expr() else {
        return Vec::new();
    };
    let routes_by_hash = {
        let mut ok = true;
        let _ = routing.apply(|node| {
            ok &= node.downcast_ref::<HashExpr>().is_some() || all_cheap_node(node);
            Ok(if ok { TreeNodeRecursion::Continue } else { TreeNodeRecursion::Stop })
        });
        ok
    };
    if !routes_by_hash {
        return Vec::new();
    }
    union_of_in_lists(case).map(|keys| in_lists_over(keys, schema)).unwrap_or_default()
}

/// Join keys and, for each, the values a membership test admits.
type KeyValues = Vec<(Arc<dyn PhysicalExpr>, Vec<ScalarValue>)>;

/// The keys of a non-negated `key IN (..)` or `struct(k1, k2, ..) IN (..)` over cheap keys, each
/// with its own values (a struct's fields, taken apart).
fn key_in_lists(list: &InListExpr) -> Option<KeyValues> {
    if list.negated() {
        return None;
    }
    let literals: Vec<&ScalarValue> =
        list.list().iter().map(|item| item.downcast_ref::<Literal>().map(Literal::value)).collect::<Option<_>>()?;
    if all_cheap(list.expr()) {
        return Some(vec![(list.expr().clone(), literals.into_iter().cloned().collect())]);
    }
    let function = list.expr().downcast_ref::<ScalarFunctionExpr>().filter(|f| f.name() == "struct")?;
    if !function.args().iter().all(all_cheap) {
        return None;
    }
    let mut keys: KeyValues = function.args().iter().map(|arg| (arg.clone(), Vec::new())).collect();
    for literal in literals {
        let ScalarValue::Struct(row) = literal else { return None };
        if row.num_columns() != keys.len() || row.len() != 1 {
            return None;
        }
        for ((_, values), field) in keys.iter_mut().zip(row.columns()) {
            values.push(ScalarValue::try_from_array(field, 0).ok()?);
        }
    }
    Some(keys)
}

/// The keys of every branch of a hash-routed join filter that is `false` or holds an IN list
/// (see [`key_in_lists`]) of the same keys, with the values of all branches.
fn union_of_in_lists(case: &CaseExpr) -> Option<KeyValues> {
    let mut union: Option<KeyValues> = None;
    for then in case.when_then_expr().iter().map(|(_, then)| then).chain(case.else_expr()) {
        if let Some(literal) = then.downcast_ref::<Literal>() {
            match literal.value() {
                v if v == &false.into() || v.is_null() => continue,
                _ => return None,
            }
        }
        let branch =
            split_conjunction(then).into_iter().find_map(|c| c.downcast_ref::<InListExpr>().and_then(key_in_lists))?;
        match union.as_mut() {
            None => union = Some(branch),
            Some(union) => {
                if union.len() != branch.len() {
                    return None;
                }
                for ((key, values), (branch_key, branch_values)) in union.iter_mut().zip(branch) {
                    if key.as_ref() != branch_key.as_ref() {
                        return None;
                    }
                    values.extend(branch_values);
                }
            }
        }
    }
    union
}

/// `key IN (values)` for each key, over the columns of `schema`, each value once (build sides
/// repeat keys; NULL never matches a join key and is left out). Keys over columns the scan does
/// not return are left out.
fn in_lists_over(keys: KeyValues, schema: &Schema) -> Vec<Arc<dyn PhysicalExpr>> {
    keys.into_iter()
        .filter_map(|(key, values)| {
            let key = over_file_columns(&key, schema)?;
            let mut seen = HashSet::new();
            let values: Vec<Arc<dyn PhysicalExpr>> = values
                .into_iter()
                .filter(|v| !v.is_null() && seen.insert(v.clone()))
                .map(|v| Arc::new(Literal::new(v)) as Arc<dyn PhysicalExpr>)
                .collect();
            Some(Arc::new(InListExpr::try_new(key, values, false, schema).ok()?) as Arc<dyn PhysicalExpr>)
        })
        .collect()
}

/// Whether every node of `expr` is cheap (see [`cheap_parts`]).
fn all_cheap(expr: &Arc<dyn PhysicalExpr>) -> bool {
    let mut cheap = true;
    let _ = expr.apply(|node| {
        cheap &= all_cheap_node(node);
        Ok(if cheap { TreeNodeRecursion::Continue } else { TreeNodeRecursion::Stop })
    });
    cheap
}

fn all_cheap_node(node: &Arc<dyn PhysicalExpr>) -> bool {
    node.downcast_ref::<Column>().is_some()
        || node.downcast_ref::<Literal>().is_some()
        || node.downcast_ref::<BinaryExpr>().is_some()
        || node.downcast_ref::<InListExpr>().is_some()
        || node.downcast_ref::<CastExpr>().is_some()
        || node.downcast_ref::<NotExpr>().is_some()
        || node.downcast_ref::<IsNullExpr>().is_some()
        || node.downcast_ref::<IsNotNullExpr>().is_some()
}

/// The conjuncts of a scan predicate that are dynamic filters.
fn dynamic_conjuncts(predicate: Option<Arc<dyn PhysicalExpr>>) -> Vec<Arc<dyn PhysicalExpr>> {
    let Some(predicate) = predicate else { return Vec::new() };
    split_conjunction(&predicate)
        .into_iter()
        .filter(|e| e.downcast_ref::<DynamicFilterPhysicalExpr>().is_some())
        .cloned()
        .collect()
}

/// The statistics of a file's row groups, for a pruning predicate: DataFusion's own adapter
/// (behind `RowGroupAccessPlanFilter::prune_by_statistics`) is private to its crate, and that
/// method also builds and simplifies the predicate's negation for every file (to find row
/// groups a LIMIT could take whole), which cost more than the scan itself for a join's IN list
/// of a thousand keys. Missing null counts read as zero, as DataFusion reads them here.
struct RowGroupStatistics<'a> {
    parquet_schema: &'a SchemaDescriptor,
    arrow_schema: &'a Schema,
    groups: Vec<&'a RowGroupMetaData>,
}

impl RowGroupStatistics<'_> {
    fn converter(&self, column: &StatisticsColumn) -> Option<StatisticsConverter<'_>> {
        let converter = StatisticsConverter::try_new(&column.name, self.arrow_schema, self.parquet_schema).ok()?;
        Some(converter.with_missing_null_counts_as_zero(true))
    }
}

impl PruningStatistics for RowGroupStatistics<'_> {
    fn min_values(&self, column: &StatisticsColumn) -> Option<ArrayRef> {
        self.converter(column)?.row_group_mins(self.groups.iter().copied()).ok()
    }

    fn max_values(&self, column: &StatisticsColumn) -> Option<ArrayRef> {
        self.converter(column)?.row_group_maxes(self.groups.iter().copied()).ok()
    }

    fn num_containers(&self) -> usize {
        self.groups.len()
    }

    fn null_counts(&self, column: &StatisticsColumn) -> Option<ArrayRef> {
        let counts = self.converter(column)?.row_group_null_counts(self.groups.iter().copied()).ok()?;
        Some(Arc::new(counts))
    }

    fn row_counts(&self) -> Option<ArrayRef> {
        let counts: UInt64Array = self.groups.iter().map(|group| Some(group.num_rows() as u64)).collect();
        Some(Arc::new(counts))
    }

    fn contained(&self, _column: &StatisticsColumn, _values: &HashSet<ScalarValue>) -> Option<BooleanArray> {
        None
    }
}

/// One reader of a file for its footer and all its row groups, so that the reader and its
/// metrics are made once per file, not once per row group. A file's row groups are read one
/// after another (one I/O per planner at a time), so the lock is never contended.
#[derive(Clone)]
struct SharedReader(Arc<tokio::sync::Mutex<Box<dyn AsyncFileReader>>>);

impl AsyncFileReader for SharedReader {
    fn get_bytes(&mut self, range: Range<u64>) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        let reader = self.0.clone();
        async move { reader.lock().await.get_bytes(range).await }.boxed()
    }

    fn get_byte_ranges(&mut self, ranges: Vec<Range<u64>>) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        let reader = self.0.clone();
        async move { reader.lock().await.get_byte_ranges(ranges).await }.boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        let reader = self.0.clone();
        async move { reader.lock().await.get_metadata(options).await }.boxed()
    }
}

/// `predicate` with its columns renumbered for `file_schema`; `None` if it reads a column the
/// file lacks (the row groups are then not skipped).
fn over_file_columns(predicate: &Arc<dyn PhysicalExpr>, file_schema: &Schema) -> Option<Arc<dyn PhysicalExpr>> {
    predicate
        .clone()
        .transform(|node| {
            let Some(column) = node.downcast_ref::<Column>() else {
                return Ok(Transformed::no(node));
            };
            let index = file_schema.index_of(column.name())?;
            Ok(Transformed::yes(Arc::new(Column::new(column.name(), index)) as Arc<dyn PhysicalExpr>))
        })
        .ok()
        .map(|t| t.data)
}

/// One row group's columns, handed out in batches of the session's batch size.
struct RowGroupMorsel {
    batch: RecordBatch,
    batch_size: usize,
    projector: Option<Arc<Projector>>,
}

impl fmt::Debug for RowGroupMorsel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RowGroupMorsel({} rows)", self.batch.num_rows())
    }
}

impl Morsel for RowGroupMorsel {
    fn into_stream(self: Box<Self>) -> BoxStream<'static, DFResult<RecordBatch>> {
        let RowGroupMorsel { batch, batch_size, projector } = *self;
        let rows = batch.num_rows();
        futures::stream::iter((0..rows).step_by(batch_size).map(move |offset| {
            let slice = batch.slice(offset, batch_size.min(rows - offset));
            match &projector {
                Some(projector) => projector.project_batch(&slice),
                None => Ok(slice),
            }
        }))
        .boxed()
    }
}

/// A physical optimizer rule: tells each cached scan which join filters reach it across an
/// aggregate, so that it tries their costly parts too (see [`RowFilter::Trial`]). Elsewhere a
/// join's hash-table probe at the scan only repeats the probe the join makes anyway (measured:
/// TPC-H q9 178 -> 453 ms); across an aggregate it saves aggregating rows the join drops.
///
/// DataFusion's dynamic filters carry no identity a rule can see, so a join's filter is known at
/// a scan by the names of the columns it reads: the join's probe keys. A name set that also
/// belongs to a join without an aggregate in between is not told (the trial would be paid for a
/// filter the join repeats).
#[derive(Debug, Default)]
pub(crate) struct FiltersBelowAggregates;

impl datafusion::physical_optimizer::PhysicalOptimizerRule for FiltersBelowAggregates {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, _config: &ConfigOptions) -> DFResult<Arc<dyn ExecutionPlan>> {
        mark_scans(plan, &[]).map(|t| t.data)
    }

    fn name(&self) -> &str {
        "tarn_filters_below_aggregates"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// The sorted names of the columns a join filter reads.
fn key_names(filter: &Arc<dyn PhysicalExpr>) -> Vec<String> {
    let mut names: Vec<String> =
        datafusion::physical_expr::utils::collect_columns(filter).into_iter().map(|c| c.name().to_string()).collect();
    names.sort();
    names.dedup();
    names
}

/// `plan` with its cached scans told which join filters reach them across an aggregate.
/// `joins` holds, for each hash join above `plan` on whose probe side it is, its probe keys'
/// names and whether an aggregate lies between it and `plan`.
fn mark_scans(
    plan: Arc<dyn ExecutionPlan>,
    joins: &[(Vec<String>, bool)],
) -> DFResult<Transformed<Arc<dyn ExecutionPlan>>> {
    use datafusion::physical_plan::aggregates::AggregateExec;
    use datafusion::physical_plan::joins::HashJoinExec;

    if let Some((config, source)) =
        plan.downcast_ref::<DataSourceExec>().and_then(|exec| exec.downcast_to_file_source::<CachedParquetSource>())
    {
        let mut across: Vec<Vec<String>> = joins
            .iter()
            .filter(|(keys, crossed)| *crossed && !joins.iter().any(|(other, c)| !c && other == keys))
            .map(|(keys, _)| keys.clone())
            .collect();
        across.sort();
        across.dedup();
        if across == *source.across_aggregates {
            return Ok(Transformed::no(plan));
        }
        let marked = CachedParquetSource { across_aggregates: Arc::new(across), ..source.clone() };
        let config = FileScanConfigBuilder::from(config.clone()).with_source(Arc::new(marked)).build();
        return Ok(Transformed::yes(DataSourceExec::from_data_source(config)));
    }
    if plan.downcast_ref::<AggregateExec>().is_some() {
        let crossed: Vec<(Vec<String>, bool)> = joins.iter().map(|(keys, _)| (keys.clone(), true)).collect();
        return plan.map_children(|child| mark_scans(child, &crossed));
    }
    if let Some(join) = plan.downcast_ref::<HashJoinExec>() {
        let mut probe_keys: Vec<String> = join.on().iter().flat_map(|(_, probe)| key_names(probe)).collect();
        probe_keys.sort();
        probe_keys.dedup();
        let probe: Vec<(Vec<String>, bool)> = joins.iter().cloned().chain([(probe_keys, false)]).collect();
        // Children in order: the build side, then the probe side.
        let mut build_side = true;
        return plan.map_children(|child| {
            let above = if std::mem::take(&mut build_side) { joins } else { &probe };
            mark_scans(child, above)
        });
    }
    plan.map_children(|child| mark_scans(child, joins))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int32Array, Int64Array, StructArray};
    use datafusion::arrow::datatypes::Fields;
    use datafusion::logical_expr::Operator;
    use datafusion::physical_expr::expressions::{col, lit};

    fn schema() -> Schema {
        Schema::new(vec![
            Field::new("other", DataType::Utf8, true),
            Field::new("part", DataType::Int64, true),
            Field::new("supp", DataType::Int32, true),
        ])
    }

    /// `struct(part, supp) IN (pairs)`, as a hash join on two keys hands it to its probe side.
    fn struct_in(pairs: &[(Option<i64>, i32)], schema: &Schema) -> Arc<dyn PhysicalExpr> {
        let fields =
            Fields::from(vec![Field::new("c0", DataType::Int64, true), Field::new("c1", DataType::Int32, true)]);
        let values = StructArray::new(
            fields.clone(),
            vec![
                Arc::new(Int64Array::from(pairs.iter().map(|p| p.0).collect::<Vec<_>>())),
                Arc::new(Int32Array::from(pairs.iter().map(|p| p.1).collect::<Vec<_>>())),
            ],
            None,
        );
        let keys = vec![col("part", schema).unwrap(), col("supp", schema).unwrap()];
        let function = ScalarFunctionExpr::new(
            "struct",
            datafusion::functions::core::r#struct(),
            keys,
            Arc::new(Field::new("struct", DataType::Struct(fields), true)),
            Arc::new(ConfigOptions::default()),
        );
        Arc::new(InListExpr::try_new_from_array(Arc::new(function), Arc::new(values), false, schema).unwrap())
    }

    /// Each part's column and its values, sorted.
    fn lists(parts: &[Arc<dyn PhysicalExpr>]) -> Vec<(String, Vec<String>)> {
        parts
            .iter()
            .map(|p| {
                let list = p.downcast_ref::<InListExpr>().expect("an IN list");
                let column = list.expr().downcast_ref::<Column>().expect("over a column");
                let mut values: Vec<String> =
                    list.list().iter().map(|v| v.downcast_ref::<Literal>().unwrap().value().to_string()).collect();
                values.sort();
                (format!("{}@{}", column.name(), column.index()), values)
            })
            .collect()
    }

    #[test]
    fn a_struct_membership_becomes_one_in_list_per_key() {
        let table = schema();
        let filter = struct_in(&[(Some(7), 1), (Some(7), 2), (Some(9), 2), (None, 3)], &table);
        // The scan reads only the two keys: columns are renumbered for it.
        let narrow = Schema::new(vec![table.field(1).clone(), table.field(2).clone()]);
        let parts = cheap_parts(&filter, &narrow);
        assert_eq!(
            lists(&parts),
            vec![
                ("part@0".to_string(), vec!["7".to_string(), "9".to_string()]),
                ("supp@1".to_string(), vec!["1".to_string(), "2".to_string(), "3".to_string()]),
            ]
        );
        // A key the scan does not return is left out; the other still filters.
        let only_supp = Schema::new(vec![table.field(2).clone()]);
        assert_eq!(
            lists(&cheap_parts(&filter, &only_supp)),
            vec![("supp@0".to_string(), vec!["1", "2", "3"].into_iter().map(String::from).collect())]
        );
        // Negated membership is the join's business.
        let negated = filter.downcast_ref::<InListExpr>().unwrap();
        let negated: Arc<dyn PhysicalExpr> =
            Arc::new(InListExpr::try_new(negated.expr().clone(), negated.list().to_vec(), true, &table).unwrap());
        assert!(cheap_parts(&negated, &narrow).is_empty());
    }

    #[test]
    fn a_costly_filter_is_dropped_once_it_keeps_more_than_half_of_its_trial() {
        let selective = Trial::default();
        selective.record(40_000, 100);
        selective.record(40_000, 100);
        assert!(!selective.dropped(), "it removes nearly every row: kept");
        let loose = Trial::default();
        loose.record(40_000, 30_000);
        assert!(!loose.dropped(), "still on trial");
        loose.record(40_000, 30_000);
        assert!(loose.dropped(), "it keeps three quarters of 80 K rows: dropped");
    }

    #[test]
    fn hash_routed_branches_union_their_keys_values() {
        let table = schema();
        let routing: Arc<dyn PhysicalExpr> =
            Arc::new(BinaryExpr::new(col("part", &table).unwrap(), Operator::Modulo, lit(2i64)));
        let case = |second: Arc<dyn PhysicalExpr>| -> Arc<dyn PhysicalExpr> {
            Arc::new(
                CaseExpr::try_new(
                    Some(routing.clone()),
                    vec![(lit(0i64), struct_in(&[(Some(2), 5)], &table)), (lit(1i64), second)],
                    Some(lit(false)),
                )
                .unwrap(),
            )
        };
        let both = case(struct_in(&[(Some(3), 5), (Some(5), 6)], &table));
        assert_eq!(
            lists(&cheap_parts(&both, &table)),
            vec![
                ("part@1".to_string(), vec!["2".to_string(), "3".to_string(), "5".to_string()]),
                ("supp@2".to_string(), vec!["5".to_string(), "6".to_string()]),
            ]
        );
        // A branch that lets everything through (no IN list) means no filter at all.
        assert!(cheap_parts(&case(lit(true)), &table).is_empty());
        // Branches over different keys are not united.
        let single: Arc<dyn PhysicalExpr> =
            Arc::new(InListExpr::try_new(col("part", &table).unwrap(), vec![lit(4i64)], false, &table).unwrap());
        assert!(cheap_parts(&case(single), &table).is_empty());
    }
}
