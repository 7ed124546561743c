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
use datafusion::logical_expr::{DmlStatement, Expr, Filter, LogicalPlan, LogicalPlanBuilder, lit};
use datafusion::sql::sqlparser::ast::{Truncate, TruncateTableTarget};
use tarn_catalog::{NewDataFile, TableDef};

use crate::ddl::resolve_name;
use crate::error::{Error, Result};
use crate::provider::listing_table;
use crate::session::{Output, Session, VisibleFile};
use crate::write;

/// `DELETE FROM t [WHERE ...]`.
pub(crate) async fn delete(session: &Session, dml: DmlStatement) -> Result<Output> {
    let table = write::table_def(session, &dml.table_name)?;
    let files = session.shared.visible_files(&table)?;
    let predicate = match dml.input.as_ref() {
        LogicalPlan::TableScan(_) => None,
        LogicalPlan::Filter(filter) => Some(filter.predicate.clone()),
        _ => return Err(Error::Unsupported("DELETE ... LIMIT".into())),
    };
    let Some(predicate) = predicate else {
        let deleted = files.iter().map(|f| f.record_count).sum();
        replace_files(session, &table, &files, Vec::new())?;
        return Ok(Output::command_with_rows("DELETE", deleted));
    };
    let mut deleted = 0;
    for file in &files {
        let scoped = restrict_to_file(session, &table, &dml.table_name, &dml.input, file)?;
        let matches = count_rows(session, &scoped).await?;
        if matches == 0 {
            continue;
        }
        let LogicalPlan::Filter(filter) = &scoped else { unreachable!("the DELETE input is a filter") };
        let keep = LogicalPlan::Filter(Filter::try_new(is_not_true(&predicate), filter.input.clone())?);
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
        LogicalPlan::Filter(filter) => (Some(filter.predicate.clone()), filter.input.clone()),
        other => (None, Arc::new(other.clone())),
    };
    if !is_single_table_scan(&source) {
        return Err(Error::Unsupported("UPDATE ... FROM".into()));
    }
    let files = session.shared.visible_files(&table)?;
    let mut updated = 0;
    for file in &files {
        let scoped = restrict_to_file(session, &table, &dml.table_name, &dml.input, file)?;
        let LogicalPlan::Projection(scoped_projection) = &scoped else {
            unreachable!("the UPDATE input is a projection")
        };
        let (matches, rewritten) = match &predicate {
            None => (file.record_count, scoped.clone()),
            Some(predicate) => {
                let LogicalPlan::Filter(filter) = scoped_projection.input.as_ref() else {
                    unreachable!("the UPDATE input filters")
                };
                let matches = count_rows(session, scoped_projection.input.as_ref()).await?;
                if matches == 0 {
                    continue;
                }
                let unchanged = LogicalPlan::Filter(Filter::try_new(is_not_true(predicate), filter.input.clone())?);
                (matches, LogicalPlanBuilder::from(scoped.clone()).union(unchanged)?.build()?)
            }
        };
        if matches == 0 {
            continue;
        }
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

/// `plan` with its scan of `table` replaced by a scan of `file` alone. Subqueries keep seeing
/// the whole table.
fn restrict_to_file(
    session: &Session,
    table: &TableDef,
    reference: &TableReference,
    plan: &LogicalPlan,
    file: &VisibleFile,
) -> Result<LogicalPlan> {
    let source = provider_as_source(listing_table(&session.shared, table, std::slice::from_ref(&file.path))?);
    let restricted = plan
        .clone()
        .transform_up(|node| match node {
            LogicalPlan::TableScan(mut scan) if scan.table_name == *reference => {
                scan.source = source.clone();
                Ok(Transformed::yes(LogicalPlan::TableScan(scan)))
            }
            other => Ok(Transformed::no(other)),
        })?
        .data;
    Ok(restricted)
}

async fn count_rows(session: &Session, plan: &LogicalPlan) -> Result<u64> {
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
