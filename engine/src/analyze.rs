//! `ANALYZE [table [(columns)]]`: completes the statistics the planner reads from the catalog.
//!
//! A managed table's files get their footer statistics recorded when they are written; ANALYZE
//! reads the footers of files written before that, and estimates each column's distinct values
//! per file (HyperLogLog, DataFusion's `approx_distinct`), which no footer has. Files never
//! change, so a file is analyzed once: ANALYZE after a load reads only the new files. An
//! external table's files get the same statistics, kept under their size and modification time
//! (see [`crate::lake::analyze`]).

use std::sync::Arc;

use datafusion::arrow::array::{Array, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::datasource::provider_as_source;
use datafusion::functions_aggregate::expr_fn::approx_distinct;
use datafusion::logical_expr::{Expr, LogicalPlan, LogicalPlanBuilder, cast, ident};
use tarn_catalog::{ColumnStats, FileStats, NewDataFile, Stat, TableDef};

use crate::error::{Error, Result};
use crate::parser::Analyze;
use crate::provider::listing_table;
use crate::session::{Output, Session, VisibleFile};

pub(crate) async fn analyze(session: &Session, analyze: Analyze) -> Result<Output> {
    let Some(name) = &analyze.table else {
        // Every table the user owns (Redshift skips the others).
        let access = session.access_state()?;
        let superuser = session.is_superuser(&access);
        let user = session.user();
        let tables: Vec<TableDef> = session
            .shared
            .with_state(|s| s.tables.values().filter(|t| superuser || t.owner == *user).cloned().collect())?;
        for table in tables {
            analyze_table(session, &table, &[]).await?;
        }
        return Ok(Output::command("ANALYZE"));
    };
    let (schema, table) = session.resolve_name(name)?;
    let managed = session.shared.with_state(|s| s.table_by_name(&schema, &table).cloned())?;
    match managed {
        Some(def) => analyze_table(session, &def, &analyze.columns).await?,
        None => crate::lake::analyze(session, &schema, &table, &analyze.columns).await?,
    }
    Ok(Output::command("ANALYZE"))
}

/// Records complete statistics for every committed file of `table` (files of the session's
/// open transaction get theirs when it commits).
async fn analyze_table(session: &Session, table: &TableDef, columns: &[String]) -> Result<()> {
    let qualified = || session.shared.with_state(|s| format!("{}.{}", s.schema_name(table.schema_id), table.name));
    let wanted = wanted_columns(&table.arrow_schema(), columns, &qualified()?)?;
    let schema = Arc::new(table.arrow_schema());
    let mut recorded = Vec::new();
    for file in session.shared.visible_files(table)? {
        let Some(id) = file.id else { continue };
        let mut stats = match &file.stats {
            Some(stats) => stats.clone(),
            None => crate::stats::read_footer(&session.shared.engine, &file.path, &schema).await?,
        };
        complete(session, table, &file, &mut stats, &wanted).await?;
        if file.stats.as_ref() != Some(&stats) {
            recorded.push((id, stats));
        }
    }
    session.shared.engine.store.record_file_stats(&recorded)?;
    Ok(())
}

/// `files` just written (not committed yet), with distinct-value estimates in their statistics
/// (`COPY ... STATUPDATE ON`).
pub(crate) async fn with_distinct_counts(
    session: &Session,
    table: &TableDef,
    mut files: Vec<NewDataFile>,
) -> Result<Vec<NewDataFile>> {
    let wanted: Vec<String> = table.columns.iter().map(|c| c.name.clone()).collect();
    for file in &mut files {
        let mut stats = file.stats.clone().unwrap_or_default();
        let visible = VisibleFile {
            id: None,
            path: file.path.clone(),
            record_count: file.record_count,
            file_size_bytes: file.file_size_bytes,
            stats: file.stats.clone(),
        };
        complete(session, table, &visible, &mut stats, &wanted).await?;
        file.stats = Some(stats);
    }
    Ok(files)
}

/// Adds the distinct-value estimates `stats` lacks for `wanted` columns, reading `file`.
async fn complete(
    session: &Session,
    table: &TableDef,
    file: &VisibleFile,
    stats: &mut FileStats,
    wanted: &[String],
) -> Result<()> {
    let missing: Vec<&str> = wanted
        .iter()
        .filter(|c| stats.columns.iter().find(|s| s.name == **c).is_none_or(|s| s.distinct.is_none()))
        .map(String::as_str)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let scan = provider_as_source(listing_table(&session.shared, table, std::slice::from_ref(file))?);
    let plan = LogicalPlanBuilder::scan(table.name.as_str(), scan, None)?.build()?;
    let counts = distinct_counts(session, plan, &table.arrow_schema(), &missing).await?;
    set_distinct(stats, &missing, &counts, file.record_count);
    Ok(())
}

/// The columns of `schema` to analyze: `columns`, checked, or all of them.
pub(crate) fn wanted_columns(schema: &Schema, columns: &[String], table: &str) -> Result<Vec<String>> {
    if columns.is_empty() {
        return Ok(schema.fields().iter().map(|f| f.name().clone()).collect());
    }
    for column in columns {
        if schema.field_with_name(column).is_err() {
            return Err(Error::Invalid(format!("column \"{column}\" of relation \"{table}\" does not exist")));
        }
    }
    Ok(columns.to_vec())
}

/// Estimates of the distinct non-null values of `columns` over the rows of `plan`.
pub(crate) async fn distinct_counts(
    session: &Session,
    plan: LogicalPlan,
    schema: &Schema,
    columns: &[&str],
) -> Result<Vec<u64>> {
    let exprs: Vec<Expr> = columns.iter().map(|name| distinct_estimate(schema, name)).collect();
    let plan = LogicalPlanBuilder::from(plan).aggregate(Vec::<Expr>::new(), exprs)?.build()?;
    let batches = session.ctx.execute_logical_plan(plan).await?.collect().await?;
    let batch =
        batches.iter().find(|b| b.num_rows() > 0).ok_or_else(|| Error::Invalid("ANALYZE found no rows".into()))?;
    batch
        .columns()
        .iter()
        .map(|column| {
            column
                .as_any()
                .downcast_ref::<UInt64Array>()
                .filter(|a| !a.is_null(0))
                .map(|a| a.value(0))
                .ok_or_else(|| Error::Invalid("ANALYZE: approx_distinct gave no count".into()))
        })
        .collect()
}

/// `approx_distinct` of column `name`: HyperLogLog hashes values of most types, floating-point
/// ones by their text.
pub(crate) fn distinct_estimate(schema: &Schema, name: &str) -> Expr {
    let column = ident(name);
    match schema.field_with_name(name).map(|f| f.data_type().clone()) {
        Ok(DataType::Float16 | DataType::Float32 | DataType::Float64) => approx_distinct(cast(column, DataType::Utf8)),
        _ => approx_distinct(column),
    }
}

/// Records `counts` (for `columns`) in `stats`, never above the non-null rows of the file.
pub(crate) fn set_distinct(stats: &mut FileStats, columns: &[&str], counts: &[u64], rows: u64) {
    for (name, count) in columns.iter().zip(counts) {
        let entry = match stats.columns.iter().position(|c| c.name == *name) {
            Some(i) => &mut stats.columns[i],
            None => {
                stats.columns.push(ColumnStats { name: name.to_string(), ..Default::default() });
                stats.columns.last_mut().expect("just pushed")
            }
        };
        let non_null = rows - entry.nulls.as_ref().map_or(0, |n| n.value.min(rows));
        entry.distinct = Some(Stat { value: (*count).min(non_null), exact: false });
    }
}
