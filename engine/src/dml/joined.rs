//! DML that joins the target with other relations: `UPDATE t SET ... FROM s WHERE ...`,
//! `DELETE FROM t USING s WHERE ...`, `MERGE INTO t USING s ON ... WHEN [NOT] MATCHED [AND
//! cond] THEN ...` and Redshift's `MERGE ... REMOVE DUPLICATES`.
//!
//! All of them are one [`JoinedDml`]: the target's rows that match a source row (by the
//! condition) are acted on by the first matched clause whose condition holds; source rows that
//! match no target row are inserted by the first insert clause whose condition holds. The work
//! is done with generated SQL over the target under its alias, per data file (only files with
//! matching rows are rewritten), copy-on-write in the session's transaction. A target row that
//! matches more than one source row is an error, as in Redshift.

use datafusion::common::TableReference;
use datafusion::logical_expr::{LogicalPlan, LogicalPlanBuilder};
use datafusion::sql::sqlparser::ast::{
    Assignment, AssignmentTarget, Delete, Expr, FromTable, Merge, MergeAction, MergeClauseKind, MergeInsertKind,
    TableFactor, TableWithJoins, Update, UpdateTableFromKind,
};
use tarn_catalog::TableDef;

use super::{TargetScan, count_per_file, restrict_to_file, rewrite_files};
use crate::ddl::normalize;
use crate::error::{Error, Result};
use crate::session::{Output, Session, VisibleFile};
use crate::sql::{quote, quote_name};
use crate::write;

/// What a matched clause does to the target row.
#[derive(Debug, Clone)]
enum Action {
    /// New values (SQL text) of some columns.
    Update(Vec<(String, String)>),
    Delete,
}

#[derive(Debug, Clone)]
struct MatchedClause {
    condition: Option<String>,
    action: Action,
}

#[derive(Debug, Clone)]
struct InsertClause {
    condition: Option<String>,
    /// Target columns; empty: all, in order.
    columns: Vec<String>,
    /// The values (SQL text), or `None` for all the source's columns in order.
    values: Option<Vec<String>>,
}

/// The target of a joined DML statement: a managed table under an alias.
struct Target {
    table: TableDef,
    schema: String,
    /// The name the statement's SQL uses for the target (its alias, or the table's name).
    alias: String,
}

impl Target {
    fn resolve(session: &Session, factor: &TableFactor) -> Result<Target> {
        let TableFactor::Table { name, alias, .. } = factor else {
            return Err(Error::Invalid(format!("the target of this statement must be a table, not {factor}")));
        };
        let (schema, table_name) = session.resolve_name(name)?;
        let reference = TableReference::partial(schema.as_str(), table_name.as_str());
        let table = write::table_def(session, &reference)?;
        let alias = alias.as_ref().map(|a| normalize(&a.name)).unwrap_or(table_name);
        Ok(Target { table, schema, alias })
    }

    /// `"schema"."table" AS "alias"`.
    fn sql(&self) -> String {
        format!("{} AS {}", quote_name(&self.schema, &self.table.name), quote(&self.alias))
    }

    fn column(&self, column: &str) -> String {
        format!("{}.{}", quote(&self.alias), quote(column))
    }
}

/// One joined DML statement (see the module's documentation).
struct JoinedDml {
    target: Target,
    /// The other relations, as a FROM list.
    sources: String,
    /// When a target row and a source row match.
    on: String,
    matched: Vec<MatchedClause>,
    inserts: Vec<InsertClause>,
    /// A target row may match only one source row (UPDATE ... FROM and MERGE; not DELETE ...
    /// USING, where any match deletes the row).
    single_match: bool,
}

impl JoinedDml {
    /// Runs the statement in the session's transaction; returns the rows affected.
    async fn run(&self, session: &Session) -> Result<u64> {
        let (acted, inserted) = self.run_counted(session).await?;
        Ok(acted + inserted)
    }

    /// Runs the statement; returns the matched rows acted on and the rows inserted.
    async fn run_counted(&self, session: &Session) -> Result<(u64, u64)> {
        // Rows to insert are chosen against the target as it was.
        let mut inserted = Vec::new();
        for (i, clause) in self.inserts.iter().enumerate() {
            let earlier = self.inserts[..i].iter().filter_map(|c| c.condition.as_ref());
            let mut conditions: Vec<String> = earlier.map(|c| format!("({c}) IS NOT TRUE")).collect();
            if let Some(c) = &clause.condition {
                conditions.push(format!("({c}) IS TRUE"));
            }
            conditions.push(format!("NOT EXISTS (SELECT 1 FROM {} WHERE {})", self.target.sql(), self.on));
            let values = match &clause.values {
                Some(values) => values.join(", "),
                None => "*".to_string(),
            };
            let columns = if clause.columns.is_empty() {
                String::new()
            } else {
                format!("({})", clause.columns.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", "))
            };
            let sql = format!(
                "INSERT INTO {} {columns} SELECT {values} FROM {} WHERE {}",
                quote_name(&self.target.schema, &self.target.table.name),
                self.sources,
                conditions.join(" AND ")
            );
            let LogicalPlan::Dml(dml) = session.plan_sql(&sql).await? else {
                return Err(Error::Invalid("the INSERT clause did not plan as an insert".into()));
            };
            inserted.extend(write::write_plan(session, &self.target.table, &dml.input).await?);
        }
        let inserted_rows: u64 = inserted.iter().map(|f| f.record_count).sum();
        let changed = if self.matched.is_empty() { 0 } else { self.rewrite_matched(session).await? };
        session.with_txn(|txn| Ok(txn.add_files(self.target.table.id, inserted)?))?;
        Ok((changed, inserted_rows))
    }

    /// Rewrites the files holding matched target rows; returns how many rows a clause acted on.
    async fn rewrite_matched(&self, session: &Session) -> Result<u64> {
        let (target, on, sources) = (self.target.sql(), &self.on, &self.sources);
        let alias = quote(&self.target.alias);
        let plan = |sql: String| async move { session.plan_sql(&sql).await };
        let matched =
            plan(format!("SELECT {alias}.* FROM {target} WHERE EXISTS (SELECT 1 FROM {sources} WHERE {on})")).await?;
        let kept =
            plan(format!("SELECT {alias}.* FROM {target} WHERE NOT EXISTS (SELECT 1 FROM {sources} WHERE {on})"))
                .await?;
        let pairs = plan(format!("SELECT 1 FROM {target}, {sources} WHERE {on}")).await?;
        let acted_on = self.any_clause();
        let acted = plan(format!("SELECT 1 FROM {target}, {sources} WHERE ({on}) AND {acted_on}")).await?;
        let changed = match self.changed_columns() {
            Some(columns) => {
                let deleted = self.deleted();
                Some(plan(format!("SELECT {columns} FROM {target}, {sources} WHERE ({on}) AND NOT {deleted}")).await?)
            }
            None => None,
        };
        let scan = TargetScan::Alias(&self.target.alias);
        let table = &self.target.table;
        let files = session.shared.visible_files(table)?;
        let counts = count_per_file(session, table, &scan, &matched, &files).await?;
        let (files, counts): (Vec<VisibleFile>, Vec<u64>) =
            files.into_iter().zip(counts).filter(|(_, matches)| *matches > 0).unzip();
        if self.single_match {
            let pairs = count_per_file(session, table, &scan, &pairs, &files).await?;
            if pairs.iter().zip(&counts).any(|(pairs, matches)| pairs > matches) {
                return Err(Error::Invalid(format!(
                    "a row of {}.{} matches more than one source row (each target row may be changed once)",
                    self.target.schema, table.name
                )));
            }
        }
        // Each matched row has one source row, so the pairs acted on count rows; where rows may
        // match several (DELETE ... USING), the one clause acts on every matched row.
        let affected = if self.single_match {
            count_per_file(session, table, &scan, &acted, &files).await?.iter().sum()
        } else {
            counts.iter().sum()
        };
        rewrite_files(session, table, &files, |file| {
            let restrict = |plan: &LogicalPlan| restrict_to_file(session, table, &scan, plan, file);
            let kept = LogicalPlanBuilder::from(restrict(&kept)?);
            Ok(match &changed {
                Some(changed) => kept.union(restrict(changed)?)?.build()?,
                None => kept.build()?,
            })
        })
        .await?;
        Ok(affected)
    }

    /// `CASE WHEN c1 THEN x1 WHEN c2 THEN x2 ... ELSE otherwise END` over the matched clauses.
    fn by_clause(&self, value: impl Fn(&MatchedClause) -> String, otherwise: &str) -> String {
        if let [MatchedClause { condition: None, .. }] = self.matched.as_slice() {
            return value(&self.matched[0]);
        }
        let mut out = String::from("CASE");
        for clause in &self.matched {
            out.push_str(&format!(" WHEN {} THEN {}", clause.condition.as_deref().unwrap_or("TRUE"), value(clause)));
            if clause.condition.is_none() {
                break;
            }
        }
        out.push_str(&format!(" ELSE {otherwise} END"));
        out
    }

    /// Whether some clause acts on a matched pair.
    fn any_clause(&self) -> String {
        format!("({})", self.by_clause(|_| "TRUE".into(), "FALSE"))
    }

    fn deleted(&self) -> String {
        format!("({})", self.by_clause(|c| matches!(c.action, Action::Delete).to_string().to_uppercase(), "FALSE"))
    }

    /// The new row of a matched target row, or `None` when every matched row is deleted.
    fn changed_columns(&self) -> Option<String> {
        if let [MatchedClause { condition: None, action: Action::Delete }] = self.matched.as_slice() {
            return None;
        }
        let columns = self.target.table.columns.iter().map(|column| {
            let old = self.target.column(&column.name);
            let value = self.by_clause(
                |clause| match &clause.action {
                    Action::Update(assignments) => assignments
                        .iter()
                        .find(|(name, _)| *name == column.name)
                        .map_or_else(|| old.clone(), |(_, value)| format!("({value})")),
                    Action::Delete => old.clone(),
                },
                &old,
            );
            format!("{value} AS {}", quote(&column.name))
        });
        Some(columns.collect::<Vec<_>>().join(", "))
    }
}

fn assignments(target: &Target, assignments: &[Assignment]) -> Result<Vec<(String, String)>> {
    assignments
        .iter()
        .map(|a| match &a.target {
            AssignmentTarget::ColumnName(name) => {
                let column = name.0.last().and_then(|p| p.as_ident()).map(normalize).unwrap_or_default();
                if target.table.column(&column).is_none() {
                    return Err(Error::Invalid(format!(
                        "column \"{column}\" of relation \"{}\" does not exist",
                        target.table.name
                    )));
                }
                Ok((column, a.value.to_string()))
            }
            AssignmentTarget::Tuple(_) => Err(Error::Unsupported("tuple assignments (SET (a, b) = ...)".into())),
        })
        .collect()
}

fn from_list(tables: &[TableWithJoins]) -> String {
    tables.iter().map(|t| t.to_string()).collect::<Vec<_>>().join(", ")
}

/// `UPDATE t [AS a] SET ... FROM s [, ...] [WHERE ...]`.
pub(crate) async fn update_from(session: &Session, update: &Update) -> Result<Output> {
    let Some(UpdateTableFromKind::AfterSet(from) | UpdateTableFromKind::BeforeSet(from)) = &update.from else {
        return Err(Error::Invalid("internal: UPDATE without FROM".into()));
    };
    if !update.table.joins.is_empty() {
        return Err(Error::Unsupported("joins in the target of UPDATE (list the other tables in FROM)".into()));
    }
    let target = Target::resolve(session, &update.table.relation)?;
    let assignments = assignments(&target, &update.assignments)?;
    let dml = JoinedDml {
        sources: from_list(from),
        on: update.selection.as_ref().map_or_else(|| "TRUE".to_string(), Expr::to_string),
        matched: vec![MatchedClause { condition: None, action: Action::Update(assignments) }],
        inserts: vec![],
        single_match: true,
        target,
    };
    Ok(Output::command_with_rows("UPDATE", dml.run(session).await?))
}

/// `DELETE FROM t [AS a] USING s [, ...] [WHERE ...]`.
pub(crate) async fn delete_using(session: &Session, delete: &Delete) -> Result<Output> {
    let (FromTable::WithFromKeyword(tables) | FromTable::WithoutKeyword(tables)) = &delete.from;
    let [target] = tables.as_slice() else {
        return Err(Error::Invalid("DELETE ... USING deletes from one table".into()));
    };
    let using = delete.using.as_deref().unwrap_or_default();
    let dml = JoinedDml {
        target: Target::resolve(session, &target.relation)?,
        sources: from_list(using),
        on: delete.selection.as_ref().map_or_else(|| "TRUE".to_string(), Expr::to_string),
        matched: vec![MatchedClause { condition: None, action: Action::Delete }],
        inserts: vec![],
        single_match: false,
    };
    Ok(Output::command_with_rows("DELETE", dml.run(session).await?))
}

/// `MERGE INTO t USING s ON cond WHEN MATCHED [AND c] THEN UPDATE SET ... | DELETE ...
/// WHEN NOT MATCHED [AND c] THEN INSERT [(cols)] VALUES (...)`, clauses tried in order.
pub(crate) async fn merge(session: &Session, merge: &Merge) -> Result<Output> {
    let target = Target::resolve(session, &merge.table)?;
    let mut matched = Vec::new();
    let mut inserts = Vec::new();
    for clause in &merge.clauses {
        let condition = clause.predicate.as_ref().map(Expr::to_string);
        match (&clause.clause_kind, &clause.action) {
            (MergeClauseKind::Matched, MergeAction::Update(update)) => {
                if update.update_predicate.is_some() || update.delete_predicate.is_some() {
                    return Err(Error::Unsupported(
                        "WHERE and DELETE WHERE inside MERGE ... UPDATE (use WHEN MATCHED AND ...)".into(),
                    ));
                }
                matched.push(MatchedClause {
                    condition,
                    action: Action::Update(assignments(&target, &update.assignments)?),
                });
            }
            (MergeClauseKind::Matched, MergeAction::Delete { .. }) => {
                matched.push(MatchedClause { condition, action: Action::Delete });
            }
            (MergeClauseKind::NotMatched | MergeClauseKind::NotMatchedByTarget, MergeAction::Insert(insert)) => {
                let values = match &insert.kind {
                    MergeInsertKind::Values(values) => {
                        let [row] = values.rows.as_slice() else {
                            return Err(Error::Invalid("MERGE ... INSERT takes one VALUES row".into()));
                        };
                        Some(row.iter().map(|e| e.to_string()).collect())
                    }
                    MergeInsertKind::Row => None,
                };
                let columns = insert
                    .columns
                    .iter()
                    .map(|c| c.0.last().and_then(|p| p.as_ident()).map(normalize).unwrap_or_default())
                    .collect();
                inserts.push(InsertClause { condition, columns, values });
            }
            (kind, action) => {
                return Err(Error::Unsupported(format!("MERGE clause WHEN {kind} THEN {action}")));
            }
        }
    }
    let dml = JoinedDml {
        target,
        sources: merge.source.to_string(),
        on: merge.on.to_string(),
        matched,
        inserts,
        single_match: true,
    };
    Ok(Output::command_with_rows("MERGE", dml.run(session).await?))
}

/// Redshift's simplified MERGE: `MERGE INTO t USING s ON cond REMOVE DUPLICATES`. Target rows
/// that match a source row are replaced by it (several matching target rows leave one), and
/// source rows that match none are inserted: the source's columns are the target's, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct MergeRemoveDuplicates {
    pub target: TableFactor,
    pub source: TableFactor,
    pub on: Expr,
}

pub(crate) async fn merge_remove_duplicates(session: &Session, merge: &MergeRemoveDuplicates) -> Result<Output> {
    let target = Target::resolve(session, &merge.target)?;
    let source_alias = match &merge.source {
        TableFactor::Table { alias: Some(alias), .. } | TableFactor::Derived { alias: Some(alias), .. } => {
            normalize(&alias.name)
        }
        TableFactor::Table { name, .. } => session.resolve_name(name)?.1,
        other => return Err(Error::Invalid(format!("MERGE ... REMOVE DUPLICATES needs an alias for {other}"))),
    };
    let source = merge.source.to_string();
    let width = session.plan_sql(&format!("SELECT * FROM {source}")).await?.schema().fields().len();
    if width != target.table.columns.len() {
        return Err(Error::Invalid(format!(
            "MERGE ... REMOVE DUPLICATES: the source has {width} columns and the target {}",
            target.table.columns.len()
        )));
    }
    let dml = JoinedDml {
        sources: source,
        on: merge.on.to_string(),
        matched: vec![MatchedClause { condition: None, action: Action::Delete }],
        // Every source row goes in: the ones that matched replace the rows just removed.
        inserts: vec![InsertClause {
            condition: None,
            columns: vec![],
            values: Some(vec![format!("{}.*", quote(&source_alias))]),
        }],
        single_match: false,
        target,
    };
    // The insert clause is for source rows matching no target row; matched source rows come
    // back as the replacement of the rows the DELETE clause removes (chosen before it runs).
    let replacements = dml.replacements(session, &source_alias).await?;
    let replaced: u64 = replacements.iter().map(|f| f.record_count).sum();
    let (_, inserted) = dml.run_counted(session).await?;
    let table_id = dml.target.table.id;
    session.with_txn(|txn| Ok(txn.add_files(table_id, replacements)?))?;
    Ok(Output::command_with_rows("MERGE", replaced + inserted))
}

impl JoinedDml {
    /// Writes the source rows that match a target row (REMOVE DUPLICATES puts them in place of
    /// the matched rows); the files are not yet part of the transaction.
    async fn replacements(&self, session: &Session, source_alias: &str) -> Result<Vec<tarn_catalog::NewDataFile>> {
        let sql = format!(
            "INSERT INTO {} SELECT {}.* FROM {} WHERE EXISTS (SELECT 1 FROM {} WHERE {})",
            quote_name(&self.target.schema, &self.target.table.name),
            quote(source_alias),
            self.sources,
            self.target.sql(),
            self.on
        );
        let LogicalPlan::Dml(dml) = session.plan_sql(&sql).await? else {
            return Err(Error::Invalid("the replacement rows did not plan as an insert".into()));
        };
        write::write_plan(session, &self.target.table, &dml.input).await
    }
}
