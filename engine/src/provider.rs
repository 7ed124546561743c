//! The bridge to DataFusion: one catalog (`dev`) whose schemas resolve names against the
//! session's view of the warehouse (its open transaction, or the newest snapshot).
//!
//! Managed tables become plain `ListingTable`s over exactly the live Parquet files, so EXPLAIN
//! shows real scans, Parquet pruning applies and Ballista can serialize the plan.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::catalog::view::ViewTable;
use datafusion::catalog::{CatalogProvider, CatalogProviderList, SchemaProvider, TableProvider};
use datafusion::common::DFSchema;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::error::{DataFusionError, Result as DFResult};
use datafusion::logical_expr::{LogicalPlanBuilder, col};
use tarn_catalog::{RelationDef, TableDef, ViewDef};

use crate::engine::EMPTY_DIR;
use crate::error::{Error, Result};
use crate::session::{SessionShared, VisibleFile};
use crate::system;

/// The name of tarn's one catalog (Redshift's default database name).
pub const CATALOG_NAME: &str = "dev";

/// How deeply views may reference views (a guard against cycles made by `OR REPLACE`).
const MAX_VIEW_DEPTH: usize = 32;

#[derive(Debug)]
pub(crate) struct TarnCatalogList {
    pub shared: Arc<SessionShared>,
}

impl CatalogProviderList for TarnCatalogList {
    fn register_catalog(&self, _name: String, _catalog: Arc<dyn CatalogProvider>) -> Option<Arc<dyn CatalogProvider>> {
        // tarn has exactly one catalog: the warehouse.
        None
    }

    fn catalog_names(&self) -> Vec<String> {
        vec![CATALOG_NAME.to_string()]
    }

    fn catalog(&self, name: &str) -> Option<Arc<dyn CatalogProvider>> {
        (name == CATALOG_NAME).then(|| Arc::new(TarnCatalog { shared: self.shared.clone() }) as _)
    }
}

#[derive(Debug)]
struct TarnCatalog {
    shared: Arc<SessionShared>,
}

impl CatalogProvider for TarnCatalog {
    fn schema_names(&self) -> Vec<String> {
        let mut names: Vec<String> =
            self.shared.with_state(|s| s.schemas.values().map(|s| s.name.clone()).collect()).unwrap_or_default();
        if let Ok(lake) = self.shared.lake_state() {
            names.extend(lake.schemas.iter().map(|s| s.name.clone()));
        }
        names.extend(system::SYSTEM_SCHEMAS.iter().map(|s| s.to_string()));
        names
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        if name == crate::lake::files::FILES_SCHEMA {
            return Some(Arc::new(crate::lake::files::FilesSchema { shared: self.shared.clone() }));
        }
        let exists = system::SYSTEM_SCHEMAS.contains(&name)
            || self.shared.with_state(|s| s.schema_by_name(name).is_some()).unwrap_or(false)
            || self.shared.lake_state().is_ok_and(|lake| lake.schema(name).is_some());
        exists.then(|| Arc::new(TarnSchema { shared: self.shared.clone(), name: name.to_string() }) as _)
    }
}

#[derive(Debug)]
struct TarnSchema {
    shared: Arc<SessionShared>,
    name: String,
}

#[async_trait]
impl SchemaProvider for TarnSchema {
    fn table_names(&self) -> Vec<String> {
        if let Some(names) = system::table_names(&self.name) {
            return names;
        }
        let mut names: Vec<String> = self
            .shared
            .with_state(|s| {
                s.schema_by_name(&self.name)
                    .map(|schema| s.relations_in(schema.id).iter().map(|r| r.name().to_string()).collect())
                    .unwrap_or_default()
            })
            .unwrap_or_default();
        if let Ok(lake) = self.shared.lake_state() {
            let database = crate::lake::database_of(&lake, &self.name);
            names.extend(lake.tables_in(&database).map(|t| t.name.clone()));
        }
        names
    }

    async fn table(&self, name: &str) -> DFResult<Option<Arc<dyn TableProvider>>> {
        if system::table_names(&self.name).is_some() {
            return Ok(system::table(&self.shared, &self.name, name).await?);
        }
        let found = self.shared.with_state(|s| {
            let schema = s.schema_by_name(&self.name)?;
            s.relation(schema.id, name).map(|r| r.to_owned_def())
        })?;
        match found {
            Some(RelationDef::Table(def)) => Ok(Some(managed_table(&self.shared, &def).await?)),
            Some(RelationDef::View(def)) => Ok(Some(view(&self.shared, &self.name, &def).await?)),
            None if let Some((table, region)) = self.external(name)? => {
                let pseudo_columns = self.shared.pseudo_columns.load(Ordering::Relaxed);
                Ok(Some(crate::lake::external_table(&self.shared, &table, region.as_deref(), pseudo_columns).await?))
            }
            // Unqualified names resolve to the default schema; system tables are found from there too.
            None if self.name == self.shared.default_schema() => {
                Ok(system::table(&self.shared, system::PG_CATALOG, name).await?)
            }
            None => Ok(None),
        }
    }

    fn table_exist(&self, name: &str) -> bool {
        self.table_names().iter().any(|n| n == name)
    }
}

impl TarnSchema {
    /// The external table `name` of this schema's lake database, with the schema's region.
    fn external(&self, name: &str) -> Result<Option<(tarn_catalog::ExternalTable, Option<String>)>> {
        let lake = self.shared.lake_state()?;
        let database = crate::lake::database_of(&lake, &self.name);
        let region = lake.schema(&self.name).and_then(|s| s.region.clone());
        Ok(lake.table(&database, name).map(|t| (t.clone(), region)))
    }
}

/// A `ListingTable` over the files of `def` visible to the session.
pub(crate) async fn managed_table(shared: &SessionShared, def: &TableDef) -> Result<Arc<dyn TableProvider>> {
    listing_table(shared, def, &shared.visible_files(def)?)
}

/// A `ListingTable` of `def` over exactly `files`, planned with their recorded statistics.
pub(crate) fn listing_table(
    shared: &SessionShared,
    def: &TableDef,
    files: &[VisibleFile],
) -> Result<Arc<dyn TableProvider>> {
    let schema = Arc::new(scan_schema(def));
    let mut known = HashMap::new();
    let urls = if files.is_empty() {
        // A ListingTable needs a location: an empty table scans a directory kept empty.
        let empty = shared.engine.absolute(EMPTY_DIR);
        vec![ListingTableUrl::parse(format!("{}/", empty.to_string_lossy()))?]
    } else {
        let mut urls = Vec::with_capacity(files.len());
        for file in files {
            let url = ListingTableUrl::parse(shared.engine.data.url(&file.path))?;
            if let Some(stats) = &file.stats {
                let statistics = shared.engine.file_statistics.get(&file.path, stats, file.record_count, &schema);
                known.insert(url.prefix().clone(), statistics);
            }
            urls.push(url);
        }
        urls
    };
    let format = crate::cache::scan::CachedParquetFormat::new(shared.engine.decoded.clone()).with_statistics(known);
    let mut options = ListingOptions::new(Arc::new(format)).with_file_extension(".parquet");
    // Every file of a table with a compound sort key is written sorted on it (see
    // `write::sorted`); DataFusion keeps the order where a scan's files are one sorted run
    // (checked against their statistics), sparing sorts, merge joins' inputs and TopK work.
    // That check compares the files' minima and maxima, which leave NULLs out: keys with NULLs
    // (sorted last in each file) would come out in the middle of a run of several files.
    if let Some(key) = def.sort_key.as_ref().filter(|k| !k.interleaved && (files.len() <= 1 || no_null_keys(files, k)))
    {
        let order = crate::write::SORT_OPTIONS;
        options = options.with_file_sort_order(vec![
            key.columns
                .iter()
                .map(|c| datafusion::prelude::ident(c).sort(!order.descending, order.nulls_first))
                .collect(),
        ]);
    }
    let config = ListingTableConfig::new_with_multi_paths(urls).with_listing_options(options).with_schema(schema);
    let mut defaults = HashMap::new();
    // The session's state is cloned once, and only for tables that have defaults.
    let state = match def.columns.iter().any(|c| c.default.is_some()) {
        true => Some(shared.session_state()?),
        false => None,
    };
    for column in &def.columns {
        if let (Some(sql), Some(state)) = (&column.default, &state) {
            let expr = state.create_logical_expr(sql, &DFSchema::empty()).map_err(|e| {
                Error::Invalid(format!(
                    "default of column {} of table {} ({sql}): {}",
                    column.name,
                    def.name,
                    Error::from(e)
                ))
            })?;
            defaults.insert(column.name.clone(), expr);
        }
    }
    let table = ListingTable::try_new(config)?.with_column_defaults(defaults);
    if files.iter().all(|f| f.stats.is_some()) {
        // Every file's statistics come from the catalog: no footer is read, and nothing cached
        // can hide what a later ANALYZE recorded.
        return Ok(Arc::new(table));
    }
    // Footers of files without recorded statistics never change either: they are read once
    // per engine (every session and connection shares them), not per query.
    let cache = shared.runtime_env()?.cache_manager.get_file_statistic_cache();
    Ok(Arc::new(table.with_cache(cache)))
}

/// Whether no file has a NULL in a column of `key`, by the files' recorded statistics.
fn no_null_keys(files: &[VisibleFile], key: &tarn_catalog::SortKey) -> bool {
    files.iter().all(|f| {
        f.stats.as_ref().is_some_and(|s| {
            key.columns
                .iter()
                .all(|k| s.columns.iter().any(|c| c.name == *k && c.nulls.as_ref().is_some_and(|n| n.value == 0)))
        })
    })
}

/// The schema queries see: the table's types, every column nullable. NOT NULL is enforced by
/// tarn's write path with a clear error, not by DataFusion's planner.
/// Character columns carry their declared type (`character varying(10)`) in field metadata,
/// for CTAS and for the types a server reports.
///
/// Strings are read as `Utf8View`: the Parquet reader then points into its decoded pages
/// instead of copying every value, and filters and joins compare inline prefixes (measured in
/// benches/README.md).
fn scan_schema(def: &TableDef) -> Schema {
    Schema::new(
        def.columns
            .iter()
            .map(|c| {
                let field = c.sql_type.field(&c.name, true);
                let data_type = parquet_read_type(field.data_type().clone());
                field.with_data_type(data_type)
            })
            .collect::<Vec<_>>(),
    )
}

/// The type a Parquet column of `stored` type is read as: strings as `Utf8View` (see
/// [`scan_schema`]), the rest as stored.
pub(crate) fn parquet_read_type(stored: DataType) -> DataType {
    match stored {
        DataType::Utf8 => DataType::Utf8View,
        other => other,
    }
}

/// A view, planned from its stored SQL in the session's current state.
async fn view(shared: &SessionShared, schema: &str, def: &ViewDef) -> Result<Arc<dyn TableProvider>> {
    let depth = shared.view_depth.fetch_add(1, Ordering::SeqCst);
    let _guard = scopeguard(|| {
        shared.view_depth.fetch_sub(1, Ordering::SeqCst);
    });
    if depth == 0 {
        crate::system::lineage::note_view(shared, schema, &def.name);
    }
    if depth >= MAX_VIEW_DEPTH {
        return Err(Error::Invalid(format!(
            "view {schema}.{} nests views more than {MAX_VIEW_DEPTH} deep (does it reference itself?)",
            def.name
        )));
    }
    let state = shared.session_state()?;
    let invalid =
        |e: DataFusionError| Error::Invalid(format!("view {schema}.{} is invalid: {}", def.name, Error::from(e)));
    let mut plan = crate::sql::plan_query(&state, &def.sql)
        .await
        .map_err(|e| Error::Invalid(format!("view {schema}.{} is invalid: {e}", def.name)))?;
    if !def.column_aliases.is_empty() {
        let fields = plan.schema().fields().iter().map(|f| f.name().clone()).collect::<Vec<_>>();
        if fields.len() != def.column_aliases.len() {
            return Err(Error::Invalid(format!(
                "view {schema}.{} names {} columns but its query returns {}",
                def.name,
                def.column_aliases.len(),
                fields.len()
            )));
        }
        let exprs = fields.iter().zip(&def.column_aliases).map(|(f, a)| col(format!("\"{f}\"")).alias(a));
        plan = LogicalPlanBuilder::from(plan).project(exprs).and_then(|b| b.build()).map_err(invalid)?;
    }
    Ok(Arc::new(ViewTable::new(plan, Some(def.sql.clone()))))
}

/// Runs `f` when dropped.
fn scopeguard<F: FnMut()>(f: F) -> impl Drop {
    struct Guard<F: FnMut()>(F);
    impl<F: FnMut()> Drop for Guard<F> {
        fn drop(&mut self) {
            (self.0)()
        }
    }
    Guard(f)
}
