//! Reading external tables: a file scan over the files of the partitions a query needs.
//!
//! Partitions come from the catalog, never from listing the table's whole prefix: the query's
//! filters on partition keys are evaluated against the registered partition values (one
//! vectorized pass, however many partitions), and only the selected partitions' folders are
//! listed. Partition values come from the catalog too, so a partition may live anywhere
//! (`ADD PARTITION (d='2008-01-01') LOCATION '.../2008-01/'`).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::{Array, BooleanArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{Session as CatalogSession, TableProvider};
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::csv::CsvFormat;
use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use datafusion::datasource::file_format::json::JsonFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder};
use datafusion::datasource::table_schema::TableSchema;
use datafusion::error::Result as DFResult;
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::utils::expr_to_columns;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion_datasource::compute_all_files_statistics;
use futures::StreamExt;
use tarn_catalog::{ExternalTable, LakeColumn, LakeFileStats, LakeFormat, LakePartition, arrow_to_lake_type};

use crate::error::{Error, Result};
use crate::session::{Session, SessionShared};
use crate::storage::{Location, ObjectInfo, S3Overrides, Stores};

/// How many partition folders are listed at once.
const LISTING_CONCURRENCY: usize = 16;

/// The table provider of an external table; with `pseudo_columns`, its rows also carry Athena's
/// `"$path"` (the file's location) and `"$size"` (its size in bytes) after the partition keys.
pub(crate) async fn external_table(
    shared: &SessionShared,
    table: &ExternalTable,
    region: Option<&str>,
    pseudo_columns: bool,
) -> Result<Arc<dyn TableProvider>> {
    Ok(Arc::new(ExternalScan::new(shared, table, region, pseudo_columns)?))
}

impl ExternalScan {
    pub(super) fn new(
        shared: &SessionShared,
        table: &ExternalTable,
        region: Option<&str>,
        pseudo_columns: bool,
    ) -> Result<ExternalScan> {
        let location = Location::parse(&table.location)?;
        let overrides = S3Overrides { region: region.map(str::to_string), ..Default::default() };
        if let (Location::S3 { bucket, .. }, Some(_)) = (&location, region) {
            // Scans of this schema reach the bucket in the schema's region.
            let store = shared.engine.stores.s3(bucket, &overrides)?;
            datafusion::execution::object_store::ObjectStoreRegistry::register_store(
                shared.engine.stores.as_ref(),
                &url::Url::parse(&format!("s3://{bucket}")).map_err(|e| Error::Invalid(e.to_string()))?,
                store,
            );
        }
        let partitions = match table.partition_keys.is_empty() {
            true => Arc::new(Vec::new()),
            false => shared.engine.lake.partitions(shared.engine.store.as_ref(), table)?,
        };
        // Parquet strings are read as views, as managed tables read them (provider::scan_schema).
        let parquet = matches!(table.format, LakeFormat::Parquet);
        let data_fields = table
            .columns
            .iter()
            .map(|c| {
                let data_type = c.arrow_type()?;
                let data_type = if parquet { crate::provider::parquet_read_type(data_type) } else { data_type };
                Ok(Field::new(&c.name, data_type, true))
            })
            .collect::<tarn_catalog::Result<Vec<_>>>()?;
        let partition_fields = table
            .partition_keys
            .iter()
            .map(|c| Ok(Field::new(&c.name, c.arrow_type()?, true)))
            .collect::<tarn_catalog::Result<Vec<_>>>()?;
        let pseudo_fields = match pseudo_columns {
            true => vec![Field::new("$path", DataType::Utf8, false), Field::new("$size", DataType::Int64, false)],
            false => Vec::new(),
        };
        let schema = Arc::new(Schema::new(
            data_fields.iter().chain(&partition_fields).chain(&pseudo_fields).cloned().collect::<Vec<_>>(),
        ));
        let partition_values = partitions
            .iter()
            .map(|p| table.partition_keys.iter().zip(&p.values).map(|(k, v)| partition_value(k, v)).collect())
            .collect::<Result<Vec<Vec<ScalarValue>>>>()?;
        let analyzed = shared.engine.lake.file_stats(shared.engine.store.as_ref(), table)?;
        Ok(ExternalScan {
            table: table.clone(),
            schema,
            file_schema: Arc::new(Schema::new(data_fields)),
            partition_fields,
            pseudo_fields,
            partitions,
            partition_values,
            location,
            stores: shared.engine.stores.clone(),
            overrides,
            decoded: shared.engine.decoded.clone(),
            analyzed,
        })
    }
}

/// Whether statistics ANALYZE recorded are of `object` as it is now: same size, time and ETag.
pub(super) fn describes(stats: &LakeFileStats, object: &ObjectInfo) -> bool {
    stats.size == object.size
        && stats.modified == object.last_modified.map(|t| t.to_rfc3339())
        && stats.e_tag == object.e_tag
}

/// The typed value of a partition key (`__HIVE_DEFAULT_PARTITION__` is NULL).
pub(crate) fn partition_value(key: &LakeColumn, value: &str) -> Result<ScalarValue> {
    let data_type = key.arrow_type()?;
    if value == "__HIVE_DEFAULT_PARTITION__" {
        return Ok(ScalarValue::try_from(&data_type)?);
    }
    ScalarValue::try_from_string(value.to_string(), &data_type).map_err(|_| {
        Error::Invalid(format!(
            "partition value '{value}' is not a valid {} for partition key {}",
            key.data_type, key.name
        ))
    })
}

#[derive(Debug)]
pub(super) struct ExternalScan {
    table: ExternalTable,
    schema: SchemaRef,
    file_schema: SchemaRef,
    partition_fields: Vec<Field>,
    /// `"$path"` and `"$size"`, when the query names them: per-file values, like partition keys.
    pseudo_fields: Vec<Field>,
    partitions: Arc<Vec<LakePartition>>,
    /// Typed values of `partitions`, in the same order.
    partition_values: Vec<Vec<ScalarValue>>,
    location: Location,
    stores: Arc<Stores>,
    overrides: S3Overrides,
    decoded: Arc<crate::cache::DecodedCache>,
    /// Statistics `ANALYZE` recorded, by file location (`"$path"`).
    analyzed: Arc<HashMap<String, LakeFileStats>>,
}

impl ExternalScan {
    /// The files in `folders`, each folder's with its partition values.
    pub(super) async fn list(
        &self,
        folders: Vec<(Location, Vec<ScalarValue>)>,
    ) -> Vec<Result<(Vec<ObjectInfo>, Vec<ScalarValue>)>> {
        futures::stream::iter(folders)
            .map(|(folder, values)| async move {
                let prefix = folder.join("");
                Ok((self.stores.list_lake_files(&prefix, &self.overrides).await?, values))
            })
            .buffered(LISTING_CONCURRENCY)
            .collect()
            .await
    }

    /// Every folder of the table (its location, or each partition's).
    pub(super) fn folders(&self) -> Result<Vec<Location>> {
        match self.table.partition_keys.is_empty() {
            true => Ok(vec![self.location.clone()]),
            false => self.partitions.iter().map(|p| Location::parse(&p.location)).collect(),
        }
    }

    /// The planner's statistics of an analyzed file: everything for Parquet; for text formats
    /// (read as text, then converted) the row count.
    fn analyzed_statistics(&self, file: &LakeFileStats) -> datafusion::common::Statistics {
        let stats = match self.table.format {
            LakeFormat::Parquet => file.stats.clone(),
            _ => tarn_catalog::FileStats::default(),
        };
        crate::stats::to_datafusion(&stats, file.rows, &self.file_schema)
    }

    /// Indexes of the partitions that pass every filter on partition keys.
    fn select_partitions(&self, state: &dyn CatalogSession, filters: &[Expr]) -> DFResult<Vec<usize>> {
        select_rows(state, &self.partition_fields, &self.partition_values, filters)
    }

    /// The format reading this table's files, for files compressed as `compression`.
    fn format(&self, compression: FileCompressionType) -> Result<Arc<dyn FileFormat>> {
        let qualified = format!("{}.{}", self.table.database, self.table.name);
        Ok(match self.table.format {
            LakeFormat::Parquet => Arc::new(crate::cache::scan::CachedParquetFormat::new(self.decoded.clone())),
            LakeFormat::Json => Arc::new(JsonFormat::default().with_file_compression_type(compression)),
            LakeFormat::Text => {
                let header = self.table.header_lines()?;
                if header > 1 {
                    return Err(Error::Unsupported(format!(
                        "skip.header.line.count of {header} on {qualified} (0 or 1 lines)"
                    )));
                }
                let delimiter = self.table.field_delimiter();
                let [delimiter] = delimiter.as_bytes() else {
                    return Err(Error::Unsupported(format!(
                        "field delimiter '{delimiter}' of {qualified} (one ASCII character)"
                    )));
                };
                let csv_serde = self.table.serde.contains("OpenCSVSerde");
                let quote = match self.table.serde_properties.get("quoteChar") {
                    Some(q) => q.bytes().next().unwrap_or(b'"'),
                    // LazySimpleSerDe does not unquote: no character quotes.
                    None if !csv_serde => 0,
                    None => b'"',
                };
                Arc::new(
                    CsvFormat::default()
                        .with_delimiter(*delimiter)
                        .with_has_header(header == 1)
                        .with_quote(quote)
                        .with_file_compression_type(compression),
                )
            }
        })
    }
}

/// Compression of a text file, by extension.
pub(super) fn compression_of(name: &str) -> FileCompressionType {
    match crate::copy::Compression::of_file(name) {
        None => FileCompressionType::UNCOMPRESSED,
        Some(crate::copy::Compression::Gzip) => FileCompressionType::GZIP,
        Some(crate::copy::Compression::Bzip2) => FileCompressionType::BZIP2,
        Some(crate::copy::Compression::Zstd) => FileCompressionType::ZSTD,
    }
}

#[async_trait]
impl TableProvider for ExternalScan {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> DFResult<Vec<TableProviderFilterPushDown>> {
        // Partition filters prune partitions; every filter is still checked on the rows.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn CatalogSession,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        // What to list: the selected partitions' folders, or the table's own location.
        let folders: Vec<(Location, Vec<ScalarValue>)> = if self.table.partition_keys.is_empty() {
            vec![(self.location.clone(), Vec::new())]
        } else {
            self.select_partitions(state, filters)?
                .into_iter()
                .map(|i| Ok((Location::parse(&self.partitions[i].location)?, self.partition_values[i].clone())))
                .collect::<Result<Vec<_>>>()?
        };
        let listings = self.list(folders).await;
        let mut files = Vec::new();
        // Statistics of files ANALYZE saw as they are now; files of other formats than Parquet
        // have none otherwise, and a table's statistics are used only when every file has them.
        let mut all_analyzed = true;
        let mut store_url = None;
        let mut compression = None;
        for listing in listings {
            let (objects, values) = listing?;
            for object in objects {
                // The store, the path in it, and the file as "$path" shows it.
                let (url, path, shown) = store_path(&object.location)?;
                if store_url.get_or_insert_with(|| url.clone()) != &url {
                    return Err(Error::Unsupported(format!(
                        "external table {}.{} with partitions in different buckets",
                        self.table.database, self.table.name
                    ))
                    .into());
                }
                let file_compression = compression_of(object.location.file_name());
                if *compression.get_or_insert(file_compression) != file_compression {
                    return Err(Error::Unsupported(format!(
                        "external table {}.{} mixing compressed and uncompressed files",
                        self.table.database, self.table.name
                    ))
                    .into());
                }
                let mut values = values.clone();
                if !self.pseudo_fields.is_empty() {
                    values.push(ScalarValue::Utf8(Some(shown.clone())));
                    values.push(ScalarValue::Int64(Some(object.size as i64)));
                }
                let mut file = PartitionedFile::new(path, object.size).with_partition_values(values);
                // Footers and decoded data are cached under the file's size, time and ETag: a
                // file rewritten in place is read again.
                if let Some(modified) = object.last_modified {
                    file.object_meta.last_modified = modified;
                }
                file.object_meta.e_tag = object.e_tag.clone();
                match self.analyzed.get(&shown).filter(|stats| describes(stats, &object)) {
                    Some(stats) => file = file.with_statistics(Arc::new(self.analyzed_statistics(stats))),
                    None => all_analyzed = false,
                }
                files.push(file);
            }
        }
        let Some(store_url) = store_url else {
            let projected = match projection {
                Some(p) => Arc::new(self.schema.project(p)?),
                None => self.schema.clone(),
            };
            return Ok(Arc::new(EmptyExec::new(projected)));
        };
        let format = self.format(compression.unwrap_or(FileCompressionType::UNCOMPRESSED))?;
        let parquet = self.table.format == LakeFormat::Parquet;
        let statistics = (parquet || all_analyzed) && state.config().collect_statistics();
        if statistics && parquet && !all_analyzed {
            files = footer_statistics(state, &format, &store_url, &self.file_schema, files).await;
        }
        // Text is read as text, then converted with Hive's rules (below).
        let text = self.table.format == LakeFormat::Text;
        let file_schema = match text {
            true => Arc::new(Schema::new(
                self.file_schema
                    .fields()
                    .iter()
                    .map(|f| f.as_ref().clone().with_data_type(DataType::Utf8))
                    .collect::<Vec<_>>(),
            )),
            false => self.file_schema.clone(),
        };
        let per_file: Vec<Field> = self.partition_fields.iter().chain(&self.pseudo_fields).cloned().collect();
        let scan = FileScan { store_url: &store_url, format: &format, file_schema, per_file: &per_file };
        let plan = scan.plan(state, files, self.schema.clone(), statistics, projection, limit).await?;
        if !text {
            return Ok(plan);
        }
        self.convert_text(state, plan)
    }
}

/// Indexes of the `rows` (values of `fields`: partition keys, file names) that pass every
/// filter naming only those fields, in one vectorized evaluation per filter.
pub(super) fn select_rows(
    state: &dyn CatalogSession,
    fields: &[Field],
    rows: &[Vec<ScalarValue>],
    filters: &[Expr],
) -> DFResult<Vec<usize>> {
    let all: Vec<usize> = (0..rows.len()).collect();
    let on_fields = |filter: &&Expr| {
        let mut columns = HashSet::new();
        expr_to_columns(filter, &mut columns).is_ok()
            && !columns.is_empty()
            && columns.iter().all(|c| fields.iter().any(|f| f.name() == &c.name))
    };
    let filters: Vec<&Expr> = filters.iter().filter(on_fields).collect();
    if filters.is_empty() || all.is_empty() {
        return Ok(all);
    }
    let schema = Arc::new(Schema::new(fields.to_vec()));
    let columns = (0..fields.len())
        .map(|i| ScalarValue::iter_to_array(rows.iter().map(|v| v[i].clone())))
        .collect::<DFResult<Vec<_>>>()?;
    let batch = RecordBatch::try_new(schema.clone(), columns)?;
    let df_schema = DFSchema::try_from(schema)?;
    let mut keep = vec![true; all.len()];
    for filter in filters {
        let predicate = state.create_physical_expr(filter.clone(), &df_schema)?;
        let result = predicate.evaluate(&batch)?.into_array(batch.num_rows())?;
        let Some(mask) = result.as_any().downcast_ref::<BooleanArray>() else { continue };
        for (i, keep) in keep.iter_mut().enumerate() {
            *keep &= mask.is_valid(i) && mask.value(i);
        }
    }
    Ok(all.into_iter().filter(|&i| keep[i]).collect())
}

/// Where a scan finds a file: its store's URL, the path in that store, and the file as
/// `"$path"` shows it (S3 URL or absolute local path).
pub(super) fn store_path(location: &Location) -> std::io::Result<(String, String, String)> {
    Ok(match location {
        Location::S3 { bucket, key } => (format!("s3://{bucket}"), key.clone(), location.to_string()),
        Location::Local(path) => {
            let absolute = crate::storage::absolute_path(path)?.to_string_lossy().into_owned();
            ("file://".to_string(), absolute.trim_start_matches('/').to_string(), absolute)
        }
    })
}

/// A file scan over listed files: the part of planning external tables and files read in
/// place share.
pub(super) struct FileScan<'a> {
    /// `s3://bucket` or `file://`.
    pub store_url: &'a str,
    pub format: &'a Arc<dyn FileFormat>,
    /// The columns as read from the files.
    pub file_schema: SchemaRef,
    /// Columns with one value per file (partition keys, the file's name), after the file's.
    pub per_file: &'a [Field],
}

impl FileScan<'_> {
    /// The scan of `files` (spread over the session's target partitions) whose output is
    /// `schema` (the file's columns, then the per-file ones) projected by `projection`.
    pub async fn plan(
        &self,
        state: &dyn CatalogSession,
        files: Vec<PartitionedFile>,
        schema: SchemaRef,
        statistics: bool,
        projection: Option<&Vec<usize>>,
        limit: Option<usize>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        let target = state.config().target_partitions().max(1);
        let mut groups: Vec<Vec<PartitionedFile>> = vec![Vec::new(); target.min(files.len()).max(1)];
        let count = groups.len();
        for (i, file) in files.into_iter().enumerate() {
            groups[i % count].push(file);
        }
        let groups: Vec<FileGroup> = groups.into_iter().map(FileGroup::new).collect();
        // Row counts and column statistics let the planner order joins and prune.
        let (groups, table_statistics) = compute_all_files_statistics(groups, schema, statistics, false)?;
        let table_schema = TableSchema::builder(self.file_schema.clone())
            .with_table_partition_cols(self.per_file.iter().map(|f| Arc::new(f.clone())).collect::<Vec<_>>())
            .build();
        let config =
            FileScanConfigBuilder::new(ObjectStoreUrl::parse(self.store_url)?, self.format.file_source(table_schema))
                .with_file_groups(groups)
                .with_statistics(table_statistics)
                .with_projection_indices(projection.cloned())?
                .with_limit(limit)
                .build();
        self.format.create_physical_plan(state, config).await
    }
}

/// `files` with the statistics of their Parquet footers (row counts, min/max, null counts),
/// read concurrently through the runtime's metadata cache. Statistics only guide planning: a
/// file whose footer cannot be read here gets none, and its scan reports the problem.
pub(super) async fn footer_statistics(
    state: &dyn CatalogSession,
    format: &Arc<dyn FileFormat>,
    store_url: &str,
    file_schema: &SchemaRef,
    files: Vec<PartitionedFile>,
) -> Vec<PartitionedFile> {
    let store = match ObjectStoreUrl::parse(store_url).and_then(|url| state.runtime_env().object_store(url)) {
        Ok(store) => store,
        Err(_) => return files,
    };
    futures::stream::iter(files)
        .map(|file| {
            let store = &store;
            async move {
                match format.infer_stats(state, store, file_schema.clone(), &file.object_meta).await {
                    Ok(statistics) => file.with_statistics(Arc::new(statistics)),
                    Err(_) => file,
                }
            }
        })
        .buffered(LISTING_CONCURRENCY)
        .collect()
        .await
}

impl ExternalScan {
    /// Converts the text columns of a scan to their types: the null format and, for
    /// non-string columns, empty fields are NULL (as Hive's LazySimpleSerDe reads them).
    fn convert_text(
        &self,
        state: &dyn CatalogSession,
        plan: Arc<dyn ExecutionPlan>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        use datafusion::logical_expr::{cast, col, lit, when};
        let input = plan.schema();
        let df_schema = DFSchema::try_from(input.clone())?;
        let null = self.table.null_format();
        let mut exprs = Vec::new();
        for field in input.fields() {
            let column = col(datafusion::common::Column::from_name(field.name()));
            let target = self.schema.field_with_name(field.name())?.data_type().clone();
            let is_data = self.file_schema.field_with_name(field.name()).is_ok();
            let expr = if !is_data {
                column
            } else {
                let typed_null = lit(ScalarValue::try_from(&target)?);
                let mut condition = column.clone().eq(lit(null.as_str()));
                if !matches!(target, DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8) {
                    condition = condition.or(column.clone().eq(lit("")));
                }
                when(condition, typed_null).otherwise(cast(column, target))?
            };
            exprs.push((state.create_physical_expr(expr, &df_schema)?, field.name().clone()));
        }
        Ok(Arc::new(datafusion::physical_plan::projection::ProjectionExec::try_new(exprs, plan)?))
    }
}

/// The columns of a Parquet table, read from the first data file under `location`.
pub(crate) async fn infer_parquet_columns(
    session: &Session,
    location: &Location,
    partition_keys: &[LakeColumn],
) -> Result<Vec<LakeColumn>> {
    let stores = &session.shared.engine.stores;
    let objects = stores.list_lake_files(location, &S3Overrides::default()).await?;
    let first = objects
        .iter()
        .find(|o| o.location.file_name().to_ascii_lowercase().ends_with(".parquet"))
        .or_else(|| objects.first())
        .ok_or_else(|| {
            Error::Invalid(format!("no files under {location} to read a schema from; name the columns instead"))
        })?;
    let (store, path) = stores.resolve(&first.location, &S3Overrides::default())?;
    let meta = object_store::ObjectMeta {
        location: path,
        last_modified: chrono::Utc::now(),
        size: first.size,
        e_tag: None,
        version: None,
    };
    let state = session.shared.session_state()?;
    let schema = ParquetFormat::default().infer_schema(&state, &store, &[meta]).await.map_err(|e| {
        Error::Invalid(format!("cannot read a Parquet schema from {}: {}", first.location, Error::from(e)))
    })?;
    schema
        .fields()
        .iter()
        .filter(|f| !partition_keys.iter().any(|k| &k.name == f.name()))
        .map(|f| {
            let data_type = match f.data_type() {
                DataType::Timestamp(..) => "timestamp".to_string(),
                other => arrow_to_lake_type(other)?,
            };
            Ok(LakeColumn { name: f.name().to_lowercase(), data_type, comment: None })
        })
        .collect()
}
