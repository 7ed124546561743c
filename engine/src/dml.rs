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
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::datasource::provider_as_source;
use datafusion::functions_aggregate::expr_fn::count;
use datafusion::logical_expr::{DmlStatement, Expr, Filter, LogicalPlan, LogicalPlanBuilder, Projection, lit};
use datafusion::sql::sqlparser::ast::{
    AssignmentTarget, Merge, MergeAction, MergeClauseKind, MergeInsertKind, TableFactor, Truncate, TruncateTableTarget,
};
use tarn_catalog::{NewDataFile, TableDef};

use crate::ddl::{normalize, resolve_name};
use crate::error::{Error, Result};
use crate::provider::listing_table;
use crate::session::{Output, Session, VisibleFile};
use crate::write;

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
        let scan = Arc::new(restrict_to_file(session, &table, &dml.table_name, source, file)?);
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
        let scan = Arc::new(restrict_to_file(session, &table, &dml.table_name, source, file)?);
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

/// The clauses of a Redshift MERGE.
struct MergePlan {
    /// `WHEN MATCHED THEN UPDATE SET ...` assignments, or `None` for `THEN DELETE`.
    matched: Option<Option<Vec<(String, String)>>>,
    /// `WHEN NOT MATCHED THEN INSERT [(cols)] VALUES (...)`: (columns, values).
    not_matched: Option<(Vec<String>, Vec<String>)>,
}

/// `MERGE INTO target USING source ON cond WHEN MATCHED THEN UPDATE SET ... | DELETE
/// WHEN NOT MATCHED THEN INSERT ...`, as Redshift has it: the new rows are computed against the
/// target as it was, matched files are rewritten, and a target row that matches several source
/// rows is an error.
pub(crate) async fn merge(session: &Session, merge: &Merge) -> Result<Output> {
    let TableFactor::Table { name, alias, .. } = &merge.table else {
        return Err(Error::Invalid("MERGE INTO needs a table".into()));
    };
    let (schema, table_name) = resolve_name(name)?;
    let reference = TableReference::partial(schema.as_str(), table_name.as_str());
    let table = write::table_def(session, &reference)?;
    let target_alias = alias.as_ref().map(|a| a.name.to_string()).unwrap_or_else(|| format!("\"{table_name}\""));
    let target = format!("\"{schema}\".\"{table_name}\" AS {target_alias}");
    let source = merge.source.to_string();
    if source_reads(session, &source, &reference).await? {
        return Err(Error::Unsupported("MERGE with the target table as its source".into()));
    }
    let on = merge.on.to_string();
    let clauses = merge_clauses(merge)?;

    // Rows to insert, computed before the target changes.
    let inserted = match &clauses.not_matched {
        Some((columns, values)) => {
            let columns = if columns.is_empty() { String::new() } else { format!("({})", columns.join(", ")) };
            let sql = format!(
                "INSERT INTO \"{schema}\".\"{table_name}\" {columns} SELECT {} FROM {source} \
                 WHERE NOT EXISTS (SELECT 1 FROM {target} WHERE {on})",
                values.join(", ")
            );
            let LogicalPlan::Dml(dml) = plan_sql(session, &sql).await? else {
                return Err(Error::Invalid("MERGE: the INSERT clause did not plan as an insert".into()));
            };
            write::write_plan(session, &table, &dml.input).await?
        }
        None => Vec::new(),
    };
    let inserted_rows: u64 = inserted.iter().map(|f| f.record_count).sum();

    let mut changed = 0;
    if let Some(update) = &clauses.matched {
        let matched =
            plan_sql(session, &format!("SELECT * FROM {target} WHERE EXISTS (SELECT 1 FROM {source} WHERE {on})"))
                .await?;
        let unchanged = plan_sql(
            session,
            &format!("SELECT {target_alias}.* FROM {target} WHERE NOT EXISTS (SELECT 1 FROM {source} WHERE {on})"),
        )
        .await?;
        let joined = match update {
            Some(assignments) => {
                let columns: Vec<String> = table
                    .columns
                    .iter()
                    .map(|c| match assignments.iter().find(|(name, _)| *name == c.name) {
                        Some((_, value)) => format!("{value} AS \"{}\"", c.name),
                        None => format!("{target_alias}.\"{}\"", c.name),
                    })
                    .collect();
                Some(
                    plan_sql(session, &format!("SELECT {} FROM {target} JOIN {source} ON {on}", columns.join(", ")))
                        .await?,
                )
            }
            None => None,
        };
        for file in session.shared.visible_files(&table)? {
            let matches = count_rows(session, &restrict_to_file(session, &table, &reference, &matched, &file)?).await?;
            if matches == 0 {
                continue;
            }
            let kept = restrict_to_file(session, &table, &reference, &unchanged, &file)?;
            let rewritten = match &joined {
                Some(joined) => {
                    let updated = restrict_to_file(session, &table, &reference, joined, &file)?;
                    if count_rows(session, &updated).await? > matches {
                        return Err(Error::Invalid(format!(
                            "MERGE: a row of {schema}.{table_name} matches more than one source row"
                        )));
                    }
                    LogicalPlanBuilder::from(updated).union(kept)?.build()?
                }
                None => kept,
            };
            let written = write::write_plan(session, &table, &rewritten).await?;
            replace_files(session, &table, std::slice::from_ref(&file), written)?;
            changed += matches;
        }
    }
    session.with_txn(|txn| Ok(txn.add_files(table.id, inserted)?))?;
    Ok(Output::command_with_rows("MERGE", changed + inserted_rows))
}

fn merge_clauses(merge: &Merge) -> Result<MergePlan> {
    let mut plan = MergePlan { matched: None, not_matched: None };
    for clause in &merge.clauses {
        if clause.predicate.is_some() {
            return Err(Error::Unsupported("conditions on MERGE WHEN clauses".into()));
        }
        match (&clause.clause_kind, &clause.action) {
            (MergeClauseKind::Matched, MergeAction::Update(update)) if plan.matched.is_none() => {
                if update.update_predicate.is_some() || update.delete_predicate.is_some() {
                    return Err(Error::Unsupported("conditions in MERGE ... UPDATE".into()));
                }
                let assignments = update
                    .assignments
                    .iter()
                    .map(|a| match &a.target {
                        AssignmentTarget::ColumnName(name) => {
                            let column = name.0.last().and_then(|p| p.as_ident()).map(normalize).unwrap_or_default();
                            Ok((column, a.value.to_string()))
                        }
                        AssignmentTarget::Tuple(_) => Err(Error::Unsupported("tuple assignments in MERGE".into())),
                    })
                    .collect::<Result<Vec<_>>>()?;
                plan.matched = Some(Some(assignments));
            }
            (MergeClauseKind::Matched, MergeAction::Delete { .. }) if plan.matched.is_none() => {
                plan.matched = Some(None);
            }
            (MergeClauseKind::NotMatched | MergeClauseKind::NotMatchedByTarget, MergeAction::Insert(insert))
                if plan.not_matched.is_none() =>
            {
                let MergeInsertKind::Values(values) = &insert.kind else {
                    return Err(Error::Unsupported("MERGE ... INSERT ROW".into()));
                };
                let [row] = values.rows.as_slice() else {
                    return Err(Error::Invalid("MERGE ... INSERT takes one VALUES row".into()));
                };
                let columns = insert.columns.iter().map(|c| c.to_string()).collect();
                plan.not_matched = Some((columns, row.iter().map(|e| e.to_string()).collect()));
            }
            (kind, _) => return Err(Error::Unsupported(format!("this MERGE clause (WHEN {kind})"))),
        }
    }
    Ok(plan)
}

/// Whether the MERGE source reads the target table (then per-file rewriting would also narrow
/// the source, so it is refused).
async fn source_reads(session: &Session, source: &str, target: &TableReference) -> Result<bool> {
    let plan = plan_sql(session, &format!("SELECT * FROM {source}")).await?;
    let mut found = false;
    plan.apply(|node| {
        if let LogicalPlan::TableScan(scan) = node {
            let schema = scan.table_name.schema().unwrap_or(tarn_catalog::DEFAULT_SCHEMA);
            found |= scan.table_name.table() == target.table() && Some(schema) == target.schema();
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    Ok(found)
}

async fn plan_sql(session: &Session, sql: &str) -> Result<LogicalPlan> {
    let mut statements = crate::parser::parse(sql)?;
    let Some(crate::parser::Statement::Sql(statement)) = statements.pop() else {
        return Err(Error::Invalid(format!("internal: cannot plan {sql}")));
    };
    Ok(session.ctx.state().statement_to_plan(*statement).await?)
}
