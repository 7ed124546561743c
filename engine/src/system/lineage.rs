//! Lineage, recorded by the engine: for every committed statement that builds a table or view
//! from others (CREATE TABLE AS, INSERT ... SELECT, UPDATE / DELETE / MERGE with other tables,
//! COPY from files, UNLOAD to a prefix, CREATE VIEW), its target, its sources, its kind, user,
//! time and masked text. Shown by the system table `tarn_lineage` and drawn by
//! [`crate::system::lineage_graph`].
//!
//! Sources are noted while the statement plans (its queries go through [`Session::plan`] or
//! [`Session::plan_sql`], which call [`note_plan`]): the relations its plans scan, views as
//! views (their own lineage says what they read), and the files COPY loads; only while a
//! statement that records lineage runs. The record joins the statement's transaction, so it
//! commits (with the commit's snapshot) or rolls back with the statement's changes.

use datafusion::common::TableReference;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{
    FromTable, ObjectName, Statement as SqlStatement, TableFactor, TableObject, TableWithJoins,
};
use tarn_catalog::{LineageKind, LineageObject, LineageRecord, Relation};

use crate::error::Result;
use crate::session::{Session, SessionShared};

/// The sources the running statement has read so far, in the order first read.
#[derive(Debug, Default)]
pub(crate) struct Sources {
    /// The running statement records lineage: its reads are noted (other statements' are not).
    active: bool,
    objects: Vec<LineageObject>,
    /// Views the statement names itself (not through other views), as (schema, name).
    views: Vec<(String, String)>,
}

impl Sources {
    fn add(&mut self, object: LineageObject) {
        if !self.objects.contains(&object) {
            self.objects.push(object);
        }
    }
}

/// What a statement builds, known before it runs.
#[derive(Debug)]
pub(crate) struct Pending {
    /// `CREATE TABLE AS`, `INSERT`, ...
    statement: &'static str,
    target: Target,
}

#[derive(Debug)]
enum Target {
    Relation(ObjectName),
    /// Files an UNLOAD writes under a prefix.
    Location(String),
}

impl Pending {
    /// The lineage a SQL statement makes, if it is of a kind that builds from sources.
    pub fn of_sql(statement: &DFStatement) -> Option<Pending> {
        let DFStatement::Statement(statement) = statement else { return None };
        let relation =
            |statement, name: &ObjectName| Some(Pending { statement, target: Target::Relation(name.clone()) });
        match statement.as_ref() {
            SqlStatement::CreateTable(create) if create.query.is_some() => relation("CREATE TABLE AS", &create.name),
            SqlStatement::CreateView(create) => relation("CREATE VIEW", &create.name),
            SqlStatement::Insert(insert) => match &insert.table {
                TableObject::TableName(name) => relation("INSERT", name),
                _ => None,
            },
            SqlStatement::Update(update) => table_name(&update.table).and_then(|name| relation("UPDATE", name)),
            SqlStatement::Delete(delete) => {
                let (FromTable::WithFromKeyword(from) | FromTable::WithoutKeyword(from)) = &delete.from;
                from.first().and_then(table_name).and_then(|name| relation("DELETE", name))
            }
            SqlStatement::Merge(merge) => match &merge.table {
                TableFactor::Table { name, .. } => relation("MERGE", name),
                _ => None,
            },
            _ => None,
        }
    }

    /// The lineage of `COPY table FROM ...`: the table, from the files loaded.
    pub fn copy(table: &ObjectName) -> Pending {
        Pending { statement: "COPY", target: Target::Relation(table.clone()) }
    }

    /// The lineage of `MERGE ... REMOVE DUPLICATES` (Redshift's merge of a staging table).
    pub fn merge(target: &TableFactor) -> Option<Pending> {
        match target {
            TableFactor::Table { name, .. } => {
                Some(Pending { statement: "MERGE", target: Target::Relation(name.clone()) })
            }
            _ => None,
        }
    }

    /// The lineage of `UNLOAD ('query') TO 'prefix'`.
    pub fn unload(to: &str) -> Pending {
        Pending { statement: "UNLOAD", target: Target::Location(to.to_string()) }
    }
}

fn table_name(table: &TableWithJoins) -> Option<&ObjectName> {
    match &table.relation {
        TableFactor::Table { name, .. } => Some(name),
        _ => None,
    }
}

/// Readies the session's sources for a statement; `active`: it records lineage.
/// Whether the running statement records lineage.
pub(crate) fn active(shared: &SessionShared) -> bool {
    shared.lineage.lock().active
}

pub(crate) fn start(shared: &SessionShared, active: bool) {
    *shared.lineage.lock() = Sources { active, ..Sources::default() };
}

/// Notes that the statement names the view `schema.name` itself (called as the view is planned
/// for it, not for another view).
pub(crate) fn note_view(shared: &SessionShared, schema: &str, name: &str) {
    let mut sources = shared.lineage.lock();
    if sources.active {
        sources.views.push((schema.to_string(), name.to_string()));
    }
}

/// Notes the relations `plan` scans directly (a view is a source; what it reads is its own
/// lineage). Scans of system tables are not lineage.
pub(crate) fn note_plan(shared: &SessionShared, plan: &LogicalPlan) {
    let views = {
        let sources = shared.lineage.lock();
        if !sources.active {
            return;
        }
        sources.views.clone()
    };
    let default_schema = shared.default_schema();
    let mut references = Vec::new();
    let _ = plan.apply_with_subqueries(|node| {
        match node {
            LogicalPlan::TableScan(scan) => references.push(scan.table_name.clone()),
            // DataFusion plans a view as its query under the view's name: that is the source,
            // not what the query reads.
            LogicalPlan::SubqueryAlias(alias) => {
                let schema = alias.alias.schema().unwrap_or(&default_schema);
                if views.iter().any(|(s, n)| s == schema && n == alias.alias.table()) {
                    references.push(alias.alias.clone());
                    return Ok(TreeNodeRecursion::Jump);
                }
            }
            _ => {}
        }
        Ok(TreeNodeRecursion::Continue)
    });
    let objects: Vec<LineageObject> = references.iter().flat_map(|r| resolve(shared, &default_schema, r)).collect();
    let mut sources = shared.lineage.lock();
    for object in objects {
        sources.add(object);
    }
}

/// Notes files read by the statement (COPY's input).
pub(crate) fn note_files(shared: &SessionShared, files: impl IntoIterator<Item = String>) {
    let mut sources = shared.lineage.lock();
    if !sources.active {
        return;
    }
    for name in files {
        sources.add(LineageObject { kind: LineageKind::File, name, id: None });
    }
}

/// What a scanned relation is, as lineage names it (nothing for system tables).
fn resolve(shared: &SessionShared, default_schema: &str, reference: &TableReference) -> Vec<LineageObject> {
    let schema = reference.schema().unwrap_or(default_schema);
    let name = reference.table();
    if schema == crate::lake::files::FILES_SCHEMA {
        let files = shared.files.lock();
        let patterns = files.patterns(name).map(<[String]>::to_vec).unwrap_or_default();
        return patterns.into_iter().map(|name| LineageObject { kind: LineageKind::File, name, id: None }).collect();
    }
    if let Some(relation) = relation(shared, schema, name) {
        return vec![relation];
    }
    let external = shared
        .lake_state()
        .ok()
        .is_some_and(|lake| lake.schema(schema).is_some_and(|s| lake.table(&s.database, name).is_some()));
    match external {
        true => vec![LineageObject { kind: LineageKind::ExternalTable, name: format!("{schema}.{name}"), id: None }],
        false => Vec::new(),
    }
}

/// The table or view `schema.name` as the statement sees it.
fn relation(shared: &SessionShared, schema: &str, name: &str) -> Option<LineageObject> {
    let (kind, id) = shared
        .with_state(|s| {
            let schema_id = s.schema(schema).ok()?.id;
            s.relation(schema_id, name).map(|r| match r {
                Relation::Table(t) => (LineageKind::Table, t.id),
                Relation::View(v) => (LineageKind::View, v.id),
            })
        })
        .ok()
        .flatten()?;
    Some(LineageObject { kind, name: format!("{schema}.{name}"), id: Some(id) })
}

/// Records the lineage of a statement that has just succeeded: with its transaction, or
/// straight away for an UNLOAD (its files are written whatever the transaction does).
/// Statements that read nothing but their target make none.
pub(crate) fn record(session: &Session, pending: Pending) -> Result<()> {
    let shared = &session.shared;
    let target = match &pending.target {
        Target::Location(location) => LineageObject { kind: LineageKind::File, name: location.clone(), id: None },
        Target::Relation(name) => {
            let (schema, name) = session.resolve_name(name)?;
            let Some(target) = relation(shared, &schema, &name) else { return Ok(()) };
            target
        }
    };
    let sources: Vec<LineageObject> = std::mem::take(&mut *shared.lineage.lock())
        .objects
        .into_iter()
        .filter(|s| s.id.is_none() || s.id != target.id)
        .collect();
    if sources.is_empty() {
        return Ok(());
    }
    let record = LineageRecord {
        id: 0,
        snapshot: shared.snapshot()?,
        time: tarn_catalog::now(),
        userid: session.user(),
        statement: pending.statement.to_string(),
        target,
        sources,
        querytxt: shared.statement_text.lock().clone().unwrap_or_default(),
    };
    match pending.target {
        // The UNLOAD's files are written: a catalog that cannot take the record does not make
        // the statement fail.
        Target::Location(location) => {
            if let Err(e) = shared.engine.store.record_lineage(&[record]) {
                log::warn!("could not record the lineage of the UNLOAD to {location}: {e}");
            }
            Ok(())
        }
        Target::Relation(_) => session.with_txn(|txn| {
            txn.record_lineage(record);
            Ok(())
        }),
    }
}
