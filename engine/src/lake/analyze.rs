//! `ANALYZE` of an external table: per file, its row count and each column's null count,
//! minimum, maximum and distinct estimate, computed in one scan grouped by `"$path"` and
//! recorded under the file's size, modification time and ETag. A scan uses them only for files
//! that are still exactly so, and only when every file of the table has them (a file added or
//! rewritten since makes the table plan without statistics, as before ANALYZE): statistics that
//! no longer describe the data are never served.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{Int64Type, UInt64Type};
use datafusion::common::ScalarValue;
use datafusion::datasource::provider_as_source;
use datafusion::functions_aggregate::expr_fn::{count, max, min};
use datafusion::logical_expr::{Expr, LogicalPlanBuilder, ident, lit};
use tarn_catalog::{ColumnStats, FileStats, LakeFileStats, Stat};

use super::scan::{ExternalScan, describes};
use crate::error::{Error, Result};
use crate::session::Session;
use crate::storage::ObjectInfo;

pub(crate) async fn analyze(session: &Session, schema: &str, name: &str, columns: &[String]) -> Result<()> {
    let lake = session.shared.lake_state()?;
    let database = super::database_of(&lake, schema);
    let table = lake
        .table(&database, name)
        .cloned()
        .ok_or_else(|| Error::Invalid(format!("relation \"{schema}.{name}\" does not exist")))?;
    let region = lake.schema(schema).and_then(|s| s.region.clone());
    let scan = ExternalScan::new(&session.shared, &table, region.as_deref(), true)?;
    let data_schema = Arc::new(datafusion::arrow::datatypes::Schema::new(table.arrow_fields().map_err(Error::from)?));
    let wanted = crate::analyze::wanted_columns(&data_schema, columns, &format!("{schema}.{name}"))?;

    // The files as they are before the scan: what the statistics will be recorded under.
    let mut listed: HashMap<String, ObjectInfo> = HashMap::new();
    let folders = scan.folders()?.into_iter().map(|f| (f, Vec::new())).collect();
    for listing in scan.list(folders).await {
        for object in listing?.0 {
            listed.insert(shown(&object)?, object);
        }
    }

    let mut aggregates: Vec<Expr> = vec![count(lit(1)), max(ident("$size"))];
    for column in &wanted {
        let value = ident(column);
        let distinct = crate::analyze::distinct_estimate(&data_schema, column);
        aggregates.extend([count(value.clone()), min(value.clone()), max(value), distinct]);
    }
    let plan = LogicalPlanBuilder::scan(name, provider_as_source(Arc::new(scan)), None)?
        .aggregate(vec![ident("$path")], aggregates)?
        .build()?;
    let batches = session.ctx.execute_logical_plan(plan).await?.collect().await?;

    let mut recorded = Vec::new();
    for batch in &batches {
        for row in 0..batch.num_rows() {
            let location = batch.column(0).as_string::<i32>().value(row).to_string();
            let Some(object) = listed.get(&location) else { continue };
            let rows = batch.column(1).as_primitive::<Int64Type>().value(row) as u64;
            let size = batch.column(2).as_primitive::<Int64Type>().value(row) as u64;
            let stats = LakeFileStats {
                location,
                size: object.size,
                modified: object.last_modified.map(|t| t.to_rfc3339()),
                e_tag: object.e_tag.clone(),
                rows,
                stats: file_stats(batch, row, rows, &wanted)?,
            };
            // A file that changed while it was read is left without statistics.
            if size == object.size && describes(&stats, object) {
                recorded.push(stats);
            }
        }
    }
    session.shared.engine.store.record_lake_file_stats(table.id, &recorded)?;
    Ok(())
}

/// The statistics of one file: the row of `batch` after its `"$path"`, count and size columns,
/// four per column (count of values, min, max, distinct estimate).
fn file_stats(batch: &RecordBatch, row: usize, rows: u64, columns: &[String]) -> Result<FileStats> {
    let mut stats = FileStats::default();
    for (i, name) in columns.iter().enumerate() {
        let at = 3 + 4 * i;
        let values = batch.column(at).as_primitive::<Int64Type>().value(row) as u64;
        let bound = |offset: usize| -> Result<Option<Stat<String>>> {
            let value = ScalarValue::try_from_array(batch.column(at + offset), row)?;
            Ok(crate::stats::encode(&value).map(|value| Stat { value, exact: true }))
        };
        let distinct = batch.column(at + 3).as_primitive::<UInt64Type>();
        stats.columns.push(ColumnStats {
            name: name.clone(),
            nulls: Some(Stat { value: rows - values, exact: true }),
            min: bound(1)?,
            max: bound(2)?,
            distinct: (!distinct.is_null(row)).then(|| Stat { value: distinct.value(row).min(values), exact: false }),
            bytes: None,
        });
    }
    Ok(stats)
}

/// A file's location as `"$path"` shows it.
fn shown(object: &ObjectInfo) -> Result<String> {
    Ok(match &object.location {
        crate::storage::Location::Local(path) => crate::storage::absolute_path(path)
            .map_err(|source| Error::Io { context: format!("cannot resolve {}", path.display()), source })?
            .to_string_lossy()
            .into_owned(),
        other => other.to_string(),
    })
}
