//! DELETE, UPDATE and TRUNCATE on managed tables, as "remove old file, add new file" in the
//! transaction delta: reads inside the transaction then need no special reader.
//!
//! Only files with affected rows are rewritten. The statement's predicate is first counted per
//! live file, in one query over scans of one file each (where Parquet statistics skip row groups,
//! and so whole files, the predicate cannot match); files with no match stay as they are.
//! Consecutive small affected files are rewritten together into one ([`rewrite_files`]).

use std::collections::BTreeSet;
use std::sync::Arc;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::Int64Type;
use datafusion::common::TableReference;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::datasource::provider_as_source;
use datafusion::functions_aggregate::expr_fn::count;
use datafusion::logical_expr::{DmlStatement, Expr, Filter, LogicalPlan, LogicalPlanBuilder, Projection, lit};
use datafusion::sql::sqlparser::ast::{Truncate, TruncateTableTarget};
use tarn_catalog::{NewDataFile, TableDef};

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
    let scan = TargetScan::Table(&dml.table_name);
    let matching = LogicalPlan::Filter(Filter::try_new(predicate.clone(), source.clone())?);
    let counts = count_per_file(session, &table, &scan, &matching, &files).await?;
    let (affected, deleted) = with_matches(&files, &counts);
    rewrite_files(session, &table, &affected, |file| {
        let restricted = Arc::new(restrict_to_file(session, &table, &scan, source, file)?);
        Ok(LogicalPlan::Filter(Filter::try_new(is_not_true(predicate), restricted)?))
    })
    .await?;
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
    let target = TargetScan::Table(&dml.table_name);
    let counts = match predicate {
        None => files.iter().map(|f| f.record_count).collect(),
        Some(predicate) => {
            let matching = LogicalPlan::Filter(Filter::try_new(predicate.clone(), source.clone())?);
            count_per_file(session, &table, &target, &matching, &files).await?
        }
    };
    let (affected, updated) = with_matches(&files, &counts);
    rewrite_files(session, &table, &affected, |file| {
        let scan = Arc::new(restrict_to_file(session, &table, &target, source, file)?);
        let Some(predicate) = predicate else {
            return Ok(LogicalPlan::Projection(Projection::try_new(projection.expr.clone(), scan)?));
        };
        let selected = Arc::new(LogicalPlan::Filter(Filter::try_new(predicate.clone(), scan.clone())?));
        let changed = LogicalPlan::Projection(Projection::try_new(projection.expr.clone(), selected)?);
        let unchanged = LogicalPlan::Filter(Filter::try_new(is_not_true(predicate), scan)?);
        Ok(LogicalPlanBuilder::from(changed).union(unchanged)?.build()?)
    })
    .await?;
    Ok(Output::command_with_rows("UPDATE", updated))
}

/// `TRUNCATE [TABLE] t [, ...]`: every listed table loses all its files.
pub(crate) fn truncate(session: &Session, truncate: &Truncate) -> Result<Output> {
    if truncate.partitions.is_some() {
        return Err(Error::Unsupported("TRUNCATE ... PARTITION".into()));
    }
    for TruncateTableTarget { name, .. } in &truncate.table_names {
        let (schema, name) = session.resolve_name(name)?;
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
    let source = provider_as_source(listing_table(&session.shared, table, std::slice::from_ref(file))?);
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

/// The rows of `plan` (which reads the target table) that come from each of `files`: one query
/// over a union of `plan` restricted to one file each, so that a table of many small files
/// costs one plan and one pass rather than one per file.
pub(crate) async fn count_per_file(
    session: &Session,
    table: &TableDef,
    target: &TargetScan<'_>,
    plan: &LogicalPlan,
    files: &[VisibleFile],
) -> Result<Vec<u64>> {
    /// Files per query: bounds the size of one plan.
    const FILES_PER_QUERY: usize = 256;
    const FILE: &str = "tarn_file";
    let mut counts = vec![0; files.len()];
    for (chunk_number, chunk) in files.chunks(FILES_PER_QUERY).enumerate() {
        let first = chunk_number * FILES_PER_QUERY;
        let mut branches = chunk.iter().enumerate().map(|(i, file)| -> Result<LogicalPlan> {
            let restricted = restrict_to_file(session, table, target, plan, file)?;
            Ok(LogicalPlanBuilder::from(restricted).project(vec![lit((first + i) as i64).alias(FILE)])?.build()?)
        });
        let Some(first_branch) = branches.next() else { continue };
        let mut union = LogicalPlanBuilder::from(first_branch?);
        for branch in branches {
            union = union.union(branch?)?;
        }
        let counted = union.aggregate(vec![datafusion::logical_expr::col(FILE)], vec![count(lit(1))])?.build()?;
        for batch in session.ctx.execute_logical_plan(counted).await?.collect().await? {
            let (index, count) =
                (batch.column(0).as_primitive::<Int64Type>(), batch.column(1).as_primitive::<Int64Type>());
            for row in 0..batch.num_rows() {
                counts[index.value(row) as usize] = count.value(row) as u64;
            }
        }
    }
    Ok(counts)
}

/// The files with matching rows (`counts` from [`count_per_file`]) and the number of rows.
fn with_matches(files: &[VisibleFile], counts: &[u64]) -> (Vec<VisibleFile>, u64) {
    let affected = files.iter().zip(counts).filter(|(_, n)| **n > 0).map(|(f, _)| f.clone()).collect();
    (affected, counts.iter().sum())
}

/// Replaces `files` by the rows `rewritten` plans for each of them. Consecutive files are
/// rewritten together, up to a data file's worth of rows, into one file: statements that touch
/// many small files leave a few full ones, while a large file is rewritten on its own and the
/// row ranges of files (what pruning relies on) stay as they were.
pub(crate) async fn rewrite_files(
    session: &Session,
    table: &TableDef,
    files: &[VisibleFile],
    rewritten: impl Fn(&VisibleFile) -> Result<LogicalPlan>,
) -> Result<()> {
    /// Files per write: bounds the size of one plan.
    const FILES_PER_WRITE: usize = 256;
    let mut start = 0;
    while start < files.len() {
        let mut end = start + 1;
        let mut rows = files[start].record_count;
        while end < files.len()
            && end - start < FILES_PER_WRITE
            && rows + files[end].record_count <= write::FILE_ROWS as u64
        {
            rows += files[end].record_count;
            end += 1;
        }
        let chunk = &files[start..end];
        let written = if let [file] = chunk {
            write::write_plan(session, table, &rewritten(file)?).await?
        } else {
            let mut union = LogicalPlanBuilder::from(rewritten(&chunk[0])?);
            for file in &chunk[1..] {
                union = union.union(rewritten(file)?)?;
            }
            write::write_plan_coalesced(session, table, &union.build()?).await?
        };
        replace_files(session, table, chunk, written)?;
        start = end;
    }
    Ok(())
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
