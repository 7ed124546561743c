//! DELETE, UPDATE and TRUNCATE on managed tables, as "remove old file, add new file" in the
//! transaction delta: reads inside the transaction then need no special reader.
//!
//! Only files with affected rows are rewritten. Each live file is first counted with the
//! statement's predicate over a scan of that file alone, where Parquet statistics skip row
//! groups (and so whole files) the predicate cannot match; files with no match stay as they are.

use std::collections::BTreeSet;
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::Int64Type;
use datafusion::common::TableReference;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::datasource::provider_as_source;
use datafusion::functions_aggregate::expr_fn::count;
use datafusion::logical_expr::{DmlStatement, Expr, Filter, LogicalPlan, LogicalPlanBuilder, Projection, lit};
use datafusion::sql::sqlparser::ast::{Truncate, TruncateTableTarget};
use tarn_catalog::{NewDataFile, TableDef};

use crate::ddl::resolve_name;
use crate::error::{Error, Result};
use crate::provider::listing_table;
use crate::session::{Output, Session, VisibleFile};
use crate::write;

mod joined;

pub use joined::MergeRemoveDuplicates;
pub(crate) use joined::{delete_using, merge, merge_remove_duplicates, update_from};

/// `DELETE FROM t [WHERE ...]`.
pub(crate) async fn delete(session: &Session, dml: DmlStatement) -> Result<Output> {
    let table = write::table_def(session, &dml.table_name)?;
    let files = session.shared.visible_files(&table)?;
    let (predicate, source) = match dml.input.as_ref() {
        LogicalPlan::TableScan(_) => {
            let deleted = files.iter().map(|f| f.record_count).sum();
            replace_files(session, &table, &files, Vec::new())?;
            return Ok(Output::command_with_rows("DELETE", deleted));
        }
        LogicalPlan::Filter(filter) => (&filter.predicate, &filter.input),
        _ => return Err(Error::Unsupported("DELETE ... LIMIT".into())),
    };
    let mut deleted = 0;
    for file in &files {
        let scan = Arc::new(restrict_to_file(session, &table, &TargetScan::Table(&dml.table_name), source, file)?);
        let matches =
            count_rows(session, &LogicalPlan::Filter(Filter::try_new(predicate.clone(), scan.clone())?)).await?;
        if matches == 0 {
            continue;
        }
        let keep = LogicalPlan::Filter(Filter::try_new(is_not_true(predicate), scan)?);
        let written = write::write_plan(session, &table, &keep).await?;
        replace_files(session, &table, std::slice::from_ref(file), written)?;
        deleted += matches;
    }
    Ok(Output::command_with_rows("DELETE", deleted))
}

/// `UPDATE t SET ... [WHERE ...]`: DataFusion plans the new rows as a projection over the
/// (filtered) table; the rows the filter does not select are kept as they are.
pub(crate) async fn update(session: &Session, dml: DmlStatement) -> Result<Output> {
    let table = write::table_def(session, &dml.table_name)?;
    let LogicalPlan::Projection(projection) = dml.input.as_ref() else {
        return Err(Error::Unsupported("this form of UPDATE".into()));
    };
    let (predicate, source) = match projection.input.as_ref() {
        LogicalPlan::Filter(filter) => (Some(&filter.predicate), &filter.input),
        _ => (None, &projection.input),
    };
    if !is_single_table_scan(source) {
        return Err(Error::Unsupported("UPDATE ... FROM".into()));
    }
    let files = session.shared.visible_files(&table)?;
    let mut updated = 0;
    for file in &files {
        let scan = Arc::new(restrict_to_file(session, &table, &TargetScan::Table(&dml.table_name), source, file)?);
        let (matches, selected, unchanged) = match predicate {
            None => (file.record_count, scan, None),
            Some(predicate) => {
                let selected = Arc::new(LogicalPlan::Filter(Filter::try_new(predicate.clone(), scan.clone())?));
                let matches = count_rows(session, &selected).await?;
                let unchanged = LogicalPlan::Filter(Filter::try_new(is_not_true(predicate), scan)?);
                (matches, selected, Some(unchanged))
            }
        };
        if matches == 0 {
            continue;
        }
        let changed = LogicalPlan::Projection(Projection::try_new(projection.expr.clone(), selected)?);
        let rewritten = match unchanged {
            Some(unchanged) => LogicalPlanBuilder::from(changed).union(unchanged)?.build()?,
            None => changed,
        };
        let written = write::write_plan(session, &table, &rewritten).await?;
        replace_files(session, &table, std::slice::from_ref(file), written)?;
        updated += matches;
    }
    Ok(Output::command_with_rows("UPDATE", updated))
}

/// `TRUNCATE [TABLE] t [, ...]`: every listed table loses all its files.
pub(crate) fn truncate(session: &Session, truncate: &Truncate) -> Result<Output> {
    if truncate.partitions.is_some() {
        return Err(Error::Unsupported("TRUNCATE ... PARTITION".into()));
    }
    for TruncateTableTarget { name, .. } in &truncate.table_names {
        let (schema, name) = resolve_name(name)?;
        let table = session
            .shared
            .with_state(|s| s.table_by_name(&schema, &name).cloned())?
            .ok_or_else(|| Error::Invalid(format!("table \"{schema}.{name}\" does not exist")))?;
        let files = session.shared.visible_files(&table)?;
        replace_files(session, &table, &files, Vec::new())?;
    }
    Ok(Output::command("TRUNCATE TABLE"))
}

/// `predicate IS NOT TRUE`: the rows a DELETE or UPDATE leaves alone (including NULL results).
fn is_not_true(predicate: &Expr) -> Expr {
    Expr::IsNotTrue(Box::new(predicate.clone()))
}

fn is_single_table_scan(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::TableScan(_) => true,
        LogicalPlan::SubqueryAlias(alias) => is_single_table_scan(&alias.input),
        _ => false,
    }
}

/// Which scans of a plan read the table being rewritten.
pub(crate) enum TargetScan<'a> {
    /// Every scan of this table.
    Table(&'a TableReference),
    /// Only the scan under this alias (the table may appear again under other names).
    Alias(&'a str),
}

/// `plan` with its scan of the target replaced by a scan of `file` alone. Subqueries keep
/// seeing the whole table.
pub(crate) fn restrict_to_file(
    session: &Session,
    table: &TableDef,
    target: &TargetScan<'_>,
    plan: &LogicalPlan,
    file: &VisibleFile,
) -> Result<LogicalPlan> {
    let source = provider_as_source(listing_table(&session.shared, table, std::slice::from_ref(&file.path))?);
    let restrict = |scan: &mut datafusion::logical_expr::TableScan| scan.source = source.clone();
    let restricted = plan
        .clone()
        .transform_up(|node| match (node, target) {
            (LogicalPlan::TableScan(mut scan), TargetScan::Table(reference)) if scan.table_name == **reference => {
                restrict(&mut scan);
                Ok(Transformed::yes(LogicalPlan::TableScan(scan)))
            }
            (LogicalPlan::SubqueryAlias(alias), TargetScan::Alias(name)) if alias.alias.table() == *name => {
                match Arc::unwrap_or_clone(alias.input.clone()) {
                    LogicalPlan::TableScan(mut scan) => {
                        restrict(&mut scan);
                        let input = Arc::new(LogicalPlan::TableScan(scan));
                        Ok(Transformed::yes(LogicalPlan::SubqueryAlias(
                            datafusion::logical_expr::SubqueryAlias::try_new(input, alias.alias.clone())?,
                        )))
                    }
                    _ => Ok(Transformed::no(LogicalPlan::SubqueryAlias(alias))),
                }
            }
            (other, _) => Ok(Transformed::no(other)),
        })?
        .data;
    Ok(restricted)
}

pub(crate) async fn count_rows(session: &Session, plan: &LogicalPlan) -> Result<u64> {
    let counted = LogicalPlanBuilder::from(plan.clone()).aggregate(Vec::<Expr>::new(), vec![count(lit(1))])?.build()?;
    let batches = session.ctx.execute_logical_plan(counted).await?.collect().await?;
    let column = batches.first().map(|b| b.column(0).clone());
    match column {
        Some(c) if !c.is_empty() => Ok(c.as_primitive::<Int64Type>().value(0) as u64),
        _ => Ok(0),
    }
}

/// Records in the transaction that `old` files are replaced by `new` ones.
pub(crate) fn replace_files(
    session: &Session,
    table: &TableDef,
    old: &[VisibleFile],
    new: Vec<NewDataFile>,
) -> Result<()> {
    let committed: Vec<i64> = old.iter().filter_map(|f| f.id).collect();
    let own: BTreeSet<String> = old.iter().filter(|f| f.id.is_none()).map(|f| f.path.clone()).collect();
    session.with_txn(|txn| {
        txn.remove_files(table.id, committed, &own)?;
        txn.add_files(table.id, new)?;
        Ok(())
    })
}
