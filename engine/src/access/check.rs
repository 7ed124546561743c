//! The privilege check of every statement: what it touches, with which privilege, and whether
//! the session's user holds it.

use datafusion::common::TableReference;
use datafusion::sql::parser::{CopyToSource, Statement as DFStatement};
use datafusion::sql::sqlparser::ast::{
    FromTable, MergeAction, ObjectName, ObjectType, Statement as SqlStatement, TableFactor, TableObject,
};
use tarn_catalog::{AccessState, CatalogState, Privilege, Relation, SchemaDef, Securable};

use super::{AccessStatement, denied};
use crate::error::{Error, Result};
use crate::lake::LakeStatement;
use crate::locks::LockMode;
use crate::parser::Statement;
use crate::session::Session;
use crate::system::SYSTEM_SCHEMAS;

/// What a statement needs.
#[derive(Debug, Default)]
struct Needs {
    /// Relations and the privilege each is used with.
    relations: Vec<(TableReference, Privilege)>,
    /// Schemas (by name) and the privilege needed on each (CREATE for new objects).
    schemas: Vec<(String, Privilege)>,
    /// Relations and schemas the user must own.
    owned_relations: Vec<ObjectName>,
    owned_schemas: Vec<String>,
    /// CREATE on the database (new schemas).
    create_database: bool,
    superuser: Option<&'static str>,
}

/// Checks that the session's user may run `statement`.
pub(crate) async fn authorize(session: &Session, statement: &Statement) -> Result<()> {
    admit(session, statement).await.map(|_| ())
}

/// Checks that the session's user may run `statement` and returns the table locks it takes
/// (see [`crate::locks`]); what the statement touches is worked out once, for both.
pub(crate) async fn admit(session: &Session, statement: &Statement) -> Result<Vec<(String, LockMode)>> {
    let state = session.access_state()?;
    let superuser = session.is_superuser(&state);
    let writes = writes_tables(statement);
    if superuser && !writes {
        return Ok(Vec::new());
    }
    let needs = match needs(session, statement) {
        Ok(needs) => needs,
        // A statement whose targets cannot be named fails in planning, with its own error.
        Err(_) if superuser => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    if !superuser {
        check(session, &state, &needs)?;
    }
    Ok(if writes { write_locks(session, &needs) } else { Vec::new() })
}

/// Whether the session's user holds everything `needs` lists.
fn check(session: &Session, state: &AccessState, needs: &Needs) -> Result<()> {
    let catalog = session.shared.with_state(|s| s.clone())?;
    let user = session.user();
    let user = user.as_str();
    if let Some(what) = needs.superuser {
        return Err(denied(format!("to {what} (only superusers may)")));
    }
    if needs.create_database && !state.granted(user, &Securable::Database, Privilege::Create) {
        return Err(denied(format!("for database {}", super::DATABASE)));
    }
    for (schema, privilege) in &needs.schemas {
        check_schema(session, state, &catalog, user, schema, *privilege)?;
    }
    for name in &needs.owned_schemas {
        if let Some(schema) = catalog.schema_by_name(name)
            && schema.owner != user
        {
            return Err(denied(format!("for schema {name} (only its owner may change it)")));
        }
    }
    for name in &needs.owned_relations {
        let (schema, table) = session.resolve_name(name)?;
        if let Some(relation) = catalog.relation_by_name(&schema, &table)
            && relation.owner() != user
        {
            return Err(denied(format!("for relation {table} (only its owner may change it)")));
        }
    }
    for (reference, privilege) in &needs.relations {
        check_relation(session, state, &catalog, user, reference, *privilege)?;
    }
    Ok(())
}

fn check_schema(
    session: &Session,
    state: &AccessState,
    catalog: &CatalogState,
    user: &str,
    schema: &str,
    privilege: Privilege,
) -> Result<()> {
    if SYSTEM_SCHEMAS.contains(&schema) {
        return Ok(());
    }
    let allowed = match catalog.schema_by_name(schema) {
        Some(def) => def.owner == user || state.granted(user, &Securable::Schema(def.id), privilege),
        None => match session.shared.lake_state()?.schema(schema) {
            Some(external) => {
                external.owner == user || state.granted(user, &Securable::ExternalSchema(schema.to_string()), privilege)
            }
            // Missing: planning says so.
            None => true,
        },
    };
    if allowed { Ok(()) } else { Err(denied(format!("for schema {schema}"))) }
}

fn check_relation(
    session: &Session,
    state: &AccessState,
    catalog: &CatalogState,
    user: &str,
    reference: &TableReference,
    privilege: Privilege,
) -> Result<()> {
    if reference.catalog().is_some_and(|c| c != crate::provider::CATALOG_NAME) {
        return Ok(());
    }
    let default_schema = session.shared.default_schema();
    let schema = reference.schema().unwrap_or(&default_schema);
    let name = reference.table();
    // Files read in place and system tables need nothing here (system tables show each user
    // only what it may use).
    if schema == crate::lake::files::FILES_SCHEMA {
        // Files on the engine's machine or in its buckets: what the engine's process may read.
        return Err(denied("to read files in place (only superusers may; an external table can be granted)".into()));
    }
    if SYSTEM_SCHEMAS.contains(&schema) || (reference.schema().is_none() && crate::system::is_system_table(name)) {
        return Ok(());
    }
    check_schema(session, state, catalog, user, schema, Privilege::Usage)?;
    if let Some(relation) = catalog.relation_by_name(schema, name) {
        let owner = relation.owner() == user;
        if !owner && !state.granted(user, &Securable::Relation(relation.id()), privilege) {
            return Err(denied(format!("for relation {name}")));
        }
    }
    // External tables: USAGE on their schema is what Redshift grants.
    Ok(())
}

/// Whether `user` may see a schema's rows in catalog tables: it owns it or holds a privilege.
pub(crate) fn may_see_schema(state: &AccessState, superuser: bool, user: &str, schema: &SchemaDef) -> bool {
    superuser
        || schema.owner == user
        || [tarn_catalog::Privilege::Usage, tarn_catalog::Privilege::Create]
            .iter()
            .any(|p| state.granted(user, &Securable::Schema(schema.id), *p))
}

/// Whether `user` may see a relation in catalog tables: it may use its schema, and owns the
/// relation or holds some privilege on it.
pub(crate) fn may_see_relation(
    state: &AccessState,
    superuser: bool,
    user: &str,
    schema: &SchemaDef,
    relation: &Relation<'_>,
) -> bool {
    superuser
        || (may_see_schema(state, superuser, user, schema)
            && (relation.owner() == user
                || Privilege::TABLE.iter().any(|p| state.granted(user, &Securable::Relation(relation.id()), *p))))
}

fn table_reference(session: &Session, name: &ObjectName) -> Result<TableReference> {
    let (schema, table) = session.resolve_name(name)?;
    Ok(TableReference::partial(schema, table))
}

/// The relations a statement reads (all of them, CTE names aside).
fn read(session: &Session, statement: &DFStatement) -> Result<Vec<TableReference>> {
    Ok(session.ctx.state().resolve_table_references(statement)?)
}

fn needs(session: &Session, statement: &Statement) -> Result<Needs> {
    let mut needs = Needs::default();
    let schema_of = |name: &ObjectName| session.resolve_name(name).map(|(schema, _)| schema);
    match statement {
        Statement::Begin
        | Statement::BeginAsOf(_)
        | Statement::Commit
        | Statement::Rollback
        | Statement::Savepoint(_)
        | Statement::RollbackTo(_)
        | Statement::Release(_) => {}
        Statement::Vacuum(vacuum) => match &vacuum.table {
            Some(table) => needs.owned_relations.push(table.clone()),
            None => needs.superuser = Some("vacuum every table"),
        },
        // Statistics of a relation: its owner's business, and they show its values.
        Statement::Analyze(analyze) => {
            if let Some(table) = &analyze.table {
                needs.owned_relations.push(table.clone());
                needs.relations.push((table_reference(session, table)?, Privilege::Select));
            }
        }
        Statement::CopyFrom(copy) => {
            needs.relations.push((table_reference(session, &copy.table)?, Privilege::Insert));
        }
        // Its samples show the table's values.
        Statement::CheckTable(check) => {
            needs.relations.push((table_reference(session, &check.table)?, Privilege::Select));
        }
        Statement::Unload(unload) => {
            for statement in crate::parser::parse(&unload.query)? {
                if let Statement::Sql(sql) = statement {
                    needs.relations.extend(read(session, &sql)?.into_iter().map(|r| (r, Privilege::Select)));
                }
            }
        }
        Statement::MergeRemoveDuplicates(merge) => {
            if let TableFactor::Table { name, .. } = &merge.target {
                let target = table_reference(session, name)?;
                needs.relations.push((target.clone(), Privilege::Insert));
                needs.relations.push((target, Privilege::Delete));
            }
            if let TableFactor::Table { name, .. } = &merge.source {
                needs.relations.push((table_reference(session, name)?, Privilege::Select));
            }
        }
        Statement::Lake(lake) => lake_needs(session, lake, &mut needs),
        Statement::Access(access) => {
            // Checked by the statement itself (owners grant, superusers manage users).
            let _: &AccessStatement = access;
        }
        Statement::Sql(sql) => sql_needs(session, sql, &mut needs, schema_of)?,
    }
    Ok(needs)
}

fn lake_needs(session: &Session, lake: &LakeStatement, needs: &mut Needs) {
    match lake {
        LakeStatement::CreateExternalSchema { .. } | LakeStatement::CreateDatabase { .. } => {
            needs.create_database = true
        }
        LakeStatement::DropDatabase { .. } => needs.superuser = Some("drop a database"),
        LakeStatement::ShowCreateTable { table } => {
            if let Ok(reference) = table_reference(session, table) {
                needs.relations.push((reference, Privilege::Select));
            }
        }
        // Changes of external tables: the external schema's owner (USAGE is not enough).
        other => {
            if let Some(schema) = other.external_schema(&session.shared.default_schema()) {
                needs.schemas.push((schema, Privilege::Create));
            }
        }
    }
}

fn sql_needs(
    session: &Session,
    statement: &DFStatement,
    needs: &mut Needs,
    schema_of: impl Fn(&ObjectName) -> Result<String>,
) -> Result<()> {
    let DFStatement::Statement(inner) = statement else {
        match statement {
            DFStatement::Explain(explain) => return sql_needs(session, &explain.statement, needs, schema_of),
            DFStatement::CopyTo(copy) => {
                if let CopyToSource::Relation(name) = &copy.source {
                    needs.relations.push((table_reference(session, name)?, Privilege::Select));
                } else {
                    needs.relations.extend(read(session, statement)?.into_iter().map(|r| (r, Privilege::Select)));
                }
                return Ok(());
            }
            _ => return Ok(()),
        }
    };
    let reads = |needs: &mut Needs, except: Option<&TableReference>| -> Result<()> {
        let mut skipped = false;
        for reference in read(session, statement)? {
            if !skipped && except.is_some_and(|e| same(e, &reference)) {
                skipped = true;
                continue;
            }
            needs.relations.push((reference, Privilege::Select));
        }
        Ok(())
    };
    match inner.as_ref() {
        SqlStatement::Query(_) => reads(needs, None)?,
        SqlStatement::Insert(insert) => {
            let TableObject::TableName(name) = &insert.table else {
                return Err(Error::Unsupported("INSERT INTO a table function".into()));
            };
            let target = table_reference(session, name)?;
            needs.relations.push((target.clone(), Privilege::Insert));
            reads(needs, Some(&target))?;
        }
        SqlStatement::Update(update) => {
            if let TableFactor::Table { name, .. } = &update.table.relation {
                let target = table_reference(session, name)?;
                needs.relations.push((target.clone(), Privilege::Update));
                reads(needs, Some(&target))?;
            }
        }
        SqlStatement::Delete(delete) => {
            let (FromTable::WithFromKeyword(tables) | FromTable::WithoutKeyword(tables)) = &delete.from;
            if let Some(TableFactor::Table { name, .. }) = tables.first().map(|t| &t.relation) {
                let target = table_reference(session, name)?;
                needs.relations.push((target.clone(), Privilege::Delete));
                reads(needs, Some(&target))?;
            }
        }
        SqlStatement::Merge(merge) => {
            if let TableFactor::Table { name, .. } = &merge.table {
                let target = table_reference(session, name)?;
                for clause in &merge.clauses {
                    needs.relations.push((
                        target.clone(),
                        match clause.action {
                            MergeAction::Update(_) => Privilege::Update,
                            MergeAction::Delete { .. } => Privilege::Delete,
                            MergeAction::Insert(_) => Privilege::Insert,
                        },
                    ));
                }
                reads(needs, Some(&target))?;
            }
        }
        SqlStatement::Truncate(truncate) => {
            for target in &truncate.table_names {
                needs.relations.push((table_reference(session, &target.name)?, Privilege::Delete));
            }
        }
        SqlStatement::CreateTable(create) => {
            needs.schemas.push((schema_of(&create.name)?, Privilege::Create));
            reads(needs, None)?;
        }
        SqlStatement::CreateView(create) => {
            needs.schemas.push((schema_of(&create.name)?, Privilege::Create));
            reads(needs, None)?;
        }
        SqlStatement::CreateSchema { .. } => needs.create_database = true,
        SqlStatement::Drop { object_type, names, .. } => match object_type {
            ObjectType::Schema => {
                needs.owned_schemas.extend(names.iter().map(|n| n.to_string().to_lowercase()));
            }
            _ => needs.owned_relations.extend(names.iter().cloned()),
        },
        SqlStatement::AlterTable(alter) => needs.owned_relations.push(alter.name.clone()),
        SqlStatement::Comment { object_name, object_type, .. } => match object_type {
            datafusion::sql::sqlparser::ast::CommentObject::Schema => {
                needs.owned_schemas.push(object_name.to_string().to_lowercase())
            }
            datafusion::sql::sqlparser::ast::CommentObject::Column => {
                let mut parts = object_name.0.clone();
                parts.pop();
                needs.owned_relations.push(ObjectName(parts));
            }
            _ => needs.owned_relations.push(object_name.clone()),
        },
        SqlStatement::ShowVariable { .. }
        | SqlStatement::ShowVariables { .. }
        | SqlStatement::ShowTables { .. }
        | SqlStatement::ShowColumns { .. }
        | SqlStatement::Set(_) => {}
        _ => reads(needs, None)?,
    }
    Ok(())
}

/// Whether two references name the same table (`t` is `public.t`).
fn same(a: &TableReference, b: &TableReference) -> bool {
    a.table() == b.table()
        && a.schema().unwrap_or(tarn_catalog::DEFAULT_SCHEMA) == b.schema().unwrap_or(tarn_catalog::DEFAULT_SCHEMA)
}

/// Whether `statement` writes tables (and so takes table locks).
fn writes_tables(statement: &Statement) -> bool {
    match statement {
        Statement::CopyFrom(_) | Statement::MergeRemoveDuplicates(_) => true,
        Statement::Sql(sql) => matches!(
            sql.as_ref(),
            DFStatement::Statement(inner) if matches!(
                inner.as_ref(),
                SqlStatement::Insert(_)
                    | SqlStatement::Update(_)
                    | SqlStatement::Delete(_)
                    | SqlStatement::Merge(_)
                    | SqlStatement::Truncate(_)
                    | SqlStatement::AlterTable(_)
                    | SqlStatement::Drop { .. }
            )
        ),
        _ => false,
    }
}

/// The table locks of a statement that needs `needs`: appends for INSERT and COPY, rewrites for
/// UPDATE, DELETE, MERGE, TRUNCATE, ALTER and DROP. Reads take none.
fn write_locks(session: &Session, needs: &Needs) -> Vec<(String, LockMode)> {
    let mut locks: Vec<(String, LockMode)> = Vec::new();
    let mut lock = |key: String, mode: LockMode| match locks.iter_mut().find(|(k, _)| *k == key) {
        Some((_, held)) => *held = (*held).max(mode),
        None => locks.push((key, mode)),
    };
    for (reference, privilege) in &needs.relations {
        let key = crate::locks::key(reference.schema().unwrap_or(tarn_catalog::DEFAULT_SCHEMA), reference.table());
        match privilege {
            Privilege::Insert => lock(key, LockMode::Append),
            Privilege::Update | Privilege::Delete => lock(key, LockMode::Rewrite),
            _ => {}
        }
    }
    for name in &needs.owned_relations {
        if let Ok((schema, table)) = session.resolve_name(name) {
            lock(crate::locks::key(&schema, &table), LockMode::Rewrite);
        }
    }
    locks
}
