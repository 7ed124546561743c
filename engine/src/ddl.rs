//! DDL on the catalog: schemas, tables (including CTAS), views, renames and comments.
//! Every handler turns the statement into [`CatalogOp`]s on the session's transaction.

use std::collections::HashSet;

use datafusion::common::DFSchema;
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{
    AlterTable, AlterTableOperation, ColumnOption, CommentObject, CreateTable, CreateView, Expr, FunctionArg,
    FunctionArgExpr, FunctionArguments, Ident, ObjectName, ObjectType, RenameTableNameKind, SchemaName,
    Statement as SqlStatement, TableConstraint,
};
use tarn_catalog::{
    CatalogOp, ColumnDef, DEFAULT_SCHEMA, Relation, SchemaDef, SortKey, SqlType, TableDef, ViewDef, now,
};

use crate::engine::DATA_DIR;
use crate::error::{Error, Result};
use crate::provider::CATALOG_NAME;
use crate::session::{Output, Session};
use crate::sql::redshift_ddl::INTERLEAVED_MARKER;
use crate::write;

/// An identifier as SQL means it: unquoted names fold to lower case.
pub(crate) fn normalize(ident: &Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_lowercase(),
    }
}

/// `[dev.][schema.]name` → (schema, name), `default_schema` when no schema is given.
pub(crate) fn resolve_name_in(default_schema: &str, name: &ObjectName) -> Result<(String, String)> {
    let parts = name
        .0
        .iter()
        .map(|p| p.as_ident().map(normalize).ok_or_else(|| Error::Invalid(format!("invalid name {name}"))))
        .collect::<Result<Vec<_>>>()?;
    match parts.as_slice() {
        [table] => Ok((default_schema.to_string(), table.clone())),
        [schema, table] => Ok((schema.clone(), table.clone())),
        [catalog, schema, table] if catalog == CATALOG_NAME => Ok((schema.clone(), table.clone())),
        [catalog, ..] if parts.len() == 3 => {
            Err(Error::Invalid(format!("database \"{catalog}\" does not exist (tarn's is \"{CATALOG_NAME}\")")))
        }
        _ => Err(Error::Invalid(format!("improper qualified name (too many dotted names): {name}"))),
    }
}

fn single_name(name: &ObjectName) -> Result<String> {
    match name.0.as_slice() {
        [part] => part.as_ident().map(normalize).ok_or_else(|| Error::Invalid(format!("invalid name {name}"))),
        _ => Err(Error::Invalid(format!("schema name {name} must not be qualified"))),
    }
}

/// Directory names are derived from object names, made safe for any file system.
fn dir_name(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect()
}

fn allocate_id(session: &Session) -> Result<i64> {
    Ok(session.shared.engine.store.allocate_ids(1)?)
}

pub(crate) fn create_schema(session: &Session, name: &SchemaName, if_not_exists: bool) -> Result<Output> {
    let (name, owner) = match name {
        SchemaName::Simple(name) => (single_name(name)?, session.user().to_string()),
        SchemaName::NamedAuthorization(name, owner) => (single_name(name)?, normalize(owner)),
        SchemaName::UnnamedAuthorization(owner) => (normalize(owner), normalize(owner)),
    };
    if session.shared.lake_state()?.schema(&name).is_some() {
        // Even IF NOT EXISTS fails: the schema that exists is not a warehouse one.
        return Err(Error::Invalid(format!("schema \"{name}\" already exists (an external schema)")));
    }
    if session.shared.with_state(|s| s.schema_by_name(&name).is_some())? {
        return if if_not_exists {
            Ok(Output::command("CREATE SCHEMA"))
        } else {
            Err(Error::Invalid(format!("schema \"{name}\" already exists")))
        };
    }
    session.apply(CatalogOp::CreateSchema(SchemaDef {
        id: allocate_id(session)?,
        name,
        owner,
        comment: None,
        created_at: now(),
    }))?;
    Ok(Output::command("CREATE SCHEMA"))
}

pub(crate) fn drop(
    session: &Session,
    object_type: ObjectType,
    if_exists: bool,
    names: &[ObjectName],
    cascade: bool,
) -> Result<Output> {
    match object_type {
        ObjectType::Schema => {
            for name in names {
                let name = single_name(name)?;
                let Some((schema_id, contents)) = session.shared.with_state(|s| {
                    s.schema_by_name(&name).map(|schema| {
                        let contents: Vec<CatalogOp> = s
                            .relations_in(schema.id)
                            .iter()
                            .map(|r| match r {
                                Relation::Table(t) => CatalogOp::DropTable(t.id),
                                Relation::View(v) => CatalogOp::DropView(v.id),
                            })
                            .collect();
                        (schema.id, contents)
                    })
                })?
                else {
                    if if_exists {
                        continue;
                    }
                    return Err(Error::Invalid(format!("schema \"{name}\" does not exist")));
                };
                if cascade {
                    for op in contents {
                        if let CatalogOp::DropTable(id) | CatalogOp::DropView(id) = op {
                            crate::access::forget(session, tarn_catalog::Securable::Relation(id))?;
                        }
                        session.apply(op)?;
                    }
                }
                session.apply(CatalogOp::DropSchema(schema_id))?;
                crate::access::forget(session, tarn_catalog::Securable::Schema(schema_id))?;
            }
            Ok(Output::command("DROP SCHEMA"))
        }
        ObjectType::Table | ObjectType::View => {
            let want_table = object_type == ObjectType::Table;
            for name in names {
                let (schema, table) = session.resolve_name(name)?;
                let op = session.shared.with_state(|s| {
                    Some(match s.relation_by_name(&schema, &table)? {
                        Relation::Table(t) if want_table => Ok(CatalogOp::DropTable(t.id)),
                        Relation::View(v) if !want_table => Ok(CatalogOp::DropView(v.id)),
                        Relation::Table(_) => {
                            Err(Error::Invalid(format!("\"{schema}.{table}\" is not a view (use DROP TABLE)")))
                        }
                        Relation::View(_) => {
                            Err(Error::Invalid(format!("\"{schema}.{table}\" is not a table (use DROP VIEW)")))
                        }
                    })
                })?;
                match op {
                    Some(op) => {
                        let op = op?;
                        if let CatalogOp::DropTable(id) | CatalogOp::DropView(id) = op {
                            crate::access::forget(session, tarn_catalog::Securable::Relation(id))?;
                        }
                        session.apply(op)?
                    }
                    None if if_exists => {}
                    None => {
                        let kind = if want_table { "table" } else { "view" };
                        return Err(Error::Invalid(format!("{kind} \"{schema}.{table}\" does not exist")));
                    }
                }
            }
            Ok(Output::command(if want_table { "DROP TABLE" } else { "DROP VIEW" }))
        }
        other => Err(Error::Unsupported(format!("DROP {other}"))),
    }
}

/// Looks up the schema a new relation goes into and handles an existing one of the same name.
/// Returns `None` when `IF NOT EXISTS` found one (nothing to do).
fn prepare_new_relation(session: &Session, schema: &str, name: &str, if_not_exists: bool) -> Result<Option<i64>> {
    let (schema_id, exists) = session.shared.with_state(|s| {
        let schema_def = s.schema(schema)?;
        Ok::<_, tarn_catalog::Error>((schema_def.id, s.relation(schema_def.id, name).is_some()))
    })??;
    match (exists, if_not_exists) {
        (true, true) => Ok(None),
        (true, false) => Err(Error::Invalid(format!("relation \"{schema}.{name}\" already exists"))),
        (false, _) => Ok(Some(schema_id)),
    }
}

pub(crate) async fn create_table(session: &Session, create: CreateTable) -> Result<Output> {
    if create.temporary {
        return Err(Error::Unsupported("temporary tables".into()));
    }
    if create.like.is_some() || create.clone.is_some() {
        return Err(Error::Unsupported("CREATE TABLE ... LIKE".into()));
    }
    if create.or_replace {
        return Err(Error::Unsupported("CREATE OR REPLACE TABLE (DROP TABLE IF EXISTS first)".into()));
    }
    // DISTSTYLE, DISTKEY and BACKUP only steer Redshift's placement of rows across nodes; they
    // are accepted as in Redshift Serverless. SORTKEY is kept: writes sort on it.
    let (schema, name) = session.resolve_name(&create.name)?;
    let Some(schema_id) = prepare_new_relation(session, &schema, &name, create.if_not_exists)? else {
        return Ok(Output::command("CREATE TABLE"));
    };
    let id = allocate_id(session)?;
    let mut table = TableDef {
        id,
        schema_id,
        name: name.clone(),
        columns: Vec::new(),
        path: format!("{DATA_DIR}/{}/{}_{id}", dir_name(&schema), dir_name(&name)),
        owner: session.user().to_string(),
        comment: create.comment.as_ref().map(|c| c.to_string()),
        created_at: now(),
        sort_key: None,
    };

    if let Some(query) = create.query {
        if !create.columns.is_empty() {
            return Err(Error::Unsupported("column lists in CREATE TABLE ... AS".into()));
        }
        let plan = session.plan(DFStatement::Statement(Box::new(SqlStatement::Query(query)))).await?;
        let mut seen = HashSet::new();
        for field in plan.schema().fields() {
            let name = crate::sql::names::output_name(field.name());
            if !seen.insert(name.to_string()) {
                // Redshift's words.
                return Err(Error::Invalid(format!("column \"{name}\" specified more than once")));
            }
            let sql_type =
                SqlType::of_field(field).map_err(|e| Error::Invalid(format!("column \"{}\": {e}", field.name())))?;
            table.columns.push(ColumnDef::new(name, sql_type));
        }
        table.sort_key = sort_key(create.sortkey.as_deref(), &table)?;
        session.apply(CatalogOp::CreateTable(table.clone()))?;
        crate::access::default_grants(session, table.schema_id, &table.owner, table.id)?;
        let rows = write::write_into(session, &table, &plan).await?;
        return Ok(Output::command_with_rows("SELECT", rows));
    }

    if create.columns.is_empty() {
        return Err(Error::Invalid(format!("table \"{schema}.{name}\" needs at least one column")));
    }
    let state = session.ctx.state();
    // UNIQUE constraints are numbered from 2 (1 marks an older catalog's, see ColumnDef::unique).
    let mut unique_keys = 1;
    for column in &create.columns {
        let column_name = normalize(&column.name);
        if table.column(&column_name).is_some() {
            return Err(Error::Invalid(format!("column \"{column_name}\" specified more than once")));
        }
        let sql_type = SqlType::parse(&column.data_type.to_string())
            .map_err(|e| Error::Invalid(format!("column \"{column_name}\": {e}")))?;
        let mut def = ColumnDef::new(&column_name, sql_type);
        for option in &column.options {
            match &option.option {
                ColumnOption::Null => def.nullable = true,
                ColumnOption::NotNull => def.nullable = false,
                ColumnOption::Default(expr) => {
                    let text = expr.to_string();
                    // Check it now rather than at the first INSERT.
                    state.create_logical_expr(&text, &DFSchema::empty()).map_err(|e| {
                        Error::Invalid(format!("default of column \"{column_name}\" ({text}): {}", Error::from(e)))
                    })?;
                    def.default = Some(text);
                }
                ColumnOption::PrimaryKey(_) => {
                    def.primary_key = true;
                    def.nullable = false;
                }
                ColumnOption::Unique(_) => {
                    unique_keys += 1;
                    def.unique = Some(unique_keys);
                }
                ColumnOption::Comment(text) => def.comment = Some(text.clone()),
                // Redshift column attributes that only steer physical layout.
                ColumnOption::DialectSpecific(_) => {}
                other => return Err(Error::Unsupported(format!("column option {other}"))),
            }
        }
        table.columns.push(def);
    }
    for constraint in &create.constraints {
        if matches!(constraint, TableConstraint::Unique(_)) {
            unique_keys += 1;
        }
        let (columns, primary) = match constraint {
            TableConstraint::PrimaryKey(pk) => (&pk.columns, true),
            TableConstraint::Unique(unique) => (&unique.columns, false),
            other => return Err(Error::Unsupported(format!("table constraint {other}"))),
        };
        for index_column in columns {
            let column_name = index_column.column.expr.to_string().to_lowercase().trim_matches('"').to_string();
            let def = table.columns.iter_mut().find(|c| c.name == column_name).ok_or_else(|| {
                Error::Invalid(format!("column \"{column_name}\" named in constraint does not exist"))
            })?;
            if primary {
                def.primary_key = true;
                def.nullable = false;
            } else {
                def.unique = Some(unique_keys);
            }
        }
    }
    table.sort_key = sort_key(create.sortkey.as_deref(), &table)?;
    crate::access::default_grants(session, table.schema_id, &table.owner, table.id)?;
    session.apply(CatalogOp::CreateTable(table))?;
    Ok(Output::command("CREATE TABLE"))
}

/// Redshift's `ALTER TABLE t ALTER SORTKEY (cols)`: the new compound key, and every file of the
/// table rewritten in its order in the same transaction (scans declare a key's order, so no
/// file may hold another).
async fn alter_sort_key(session: &Session, schema: &str, name: &str, columns: &[Expr]) -> Result<Output> {
    let table = session
        .shared
        .with_state(|s| s.table_by_name(schema, name).cloned())?
        .ok_or_else(|| Error::Invalid(format!("table \"{schema}.{name}\" does not exist")))?;
    let altered = TableDef { sort_key: sort_key(Some(columns), &table)?, ..table };
    session.apply(CatalogOp::AlterTable(altered.clone()))?;
    let files = session.shared.visible_files(&altered)?;
    if !files.is_empty() {
        crate::maintenance::rewrite(session, &altered, &files).await?;
    }
    Ok(Output::command("ALTER TABLE"))
}

/// The table's sort key from `SORTKEY (...)`: columns of the table, each once; an
/// `INTERLEAVED SORTKEY` comes from the parser as `SORTKEY (tarn_interleaved(cols))` (see
/// [`crate::sql::redshift_ddl`]).
fn sort_key(sortkey: Option<&[Expr]>, table: &TableDef) -> Result<Option<SortKey>> {
    let Some(exprs) = sortkey else { return Ok(None) };
    let (exprs, interleaved) = match exprs {
        [Expr::Function(f)] if f.name.to_string() == INTERLEAVED_MARKER => match &f.args {
            FunctionArguments::List(list) => (
                list.args
                    .iter()
                    .map(|a| match a {
                        FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Ok(e.clone()),
                        other => Err(Error::Invalid(format!("SORTKEY: {other} is not a column"))),
                    })
                    .collect::<Result<Vec<_>>>()?,
                true,
            ),
            _ => return Err(Error::Invalid("SORTKEY needs columns".into())),
        },
        exprs => (exprs.to_vec(), false),
    };
    let mut columns: Vec<String> = Vec::new();
    for expr in &exprs {
        let Expr::Identifier(ident) = expr else {
            return Err(Error::Invalid(format!("SORTKEY: {expr} is not a column name")));
        };
        let name = normalize(ident);
        if table.column(&name).is_none() {
            return Err(Error::Invalid(format!("column \"{name}\" named in SORTKEY does not exist")));
        }
        if columns.contains(&name) {
            return Err(Error::Invalid(format!("column \"{name}\" appears more than once in SORTKEY")));
        }
        columns.push(name);
    }
    // Redshift's limits.
    if interleaved && columns.len() > 8 {
        return Err(Error::Invalid("an INTERLEAVED SORTKEY has at most 8 columns".into()));
    }
    if columns.len() > 400 {
        return Err(Error::Invalid("a SORTKEY has at most 400 columns".into()));
    }
    Ok((!columns.is_empty()).then_some(SortKey { columns, interleaved }))
}

pub(crate) async fn alter_table(session: &Session, alter: AlterTable) -> Result<Output> {
    let (schema, name) = session.resolve_name(&alter.name)?;
    let [operation] = alter.operations.as_slice() else {
        return Err(Error::Unsupported("several operations in one ALTER TABLE".into()));
    };
    if let AlterTableOperation::AlterSortKey { columns } = operation {
        return alter_sort_key(session, &schema, &name, columns).await;
    }
    let AlterTableOperation::RenameTable { table_name } = operation else {
        return Err(Error::Unsupported(format!("ALTER TABLE ... {operation}")));
    };
    let (RenameTableNameKind::To(new_name) | RenameTableNameKind::As(new_name)) = table_name;
    let (new_schema, new_name) = session.resolve_name(new_name)?;
    if new_name_is_qualified(table_name) && new_schema != schema {
        return Err(Error::Unsupported("moving a table to another schema".into()));
    }
    let op = session.shared.with_state(|s| {
        Some(match s.relation_by_name(&schema, &name)? {
            Relation::Table(t) => CatalogOp::AlterTable(TableDef { name: new_name.clone(), ..t.clone() }),
            Relation::View(v) => CatalogOp::AlterView(ViewDef { name: new_name.clone(), ..v.clone() }),
        })
    })?;
    match op {
        Some(op) => session.apply(op)?,
        None if alter.if_exists => {}
        None => {
            return Err(Error::Invalid(format!("relation \"{schema}.{name}\" does not exist")));
        }
    }
    Ok(Output::command("ALTER TABLE"))
}

fn new_name_is_qualified(kind: &RenameTableNameKind) -> bool {
    let (RenameTableNameKind::To(name) | RenameTableNameKind::As(name)) = kind;
    name.0.len() > 1
}

pub(crate) async fn create_view(session: &Session, create: CreateView) -> Result<Output> {
    if create.materialized {
        return Err(Error::Unsupported("materialized views".into()));
    }
    let (schema, name) = session.resolve_name(&create.name)?;
    let query = SqlStatement::Query(create.query.clone());
    let state = session.ctx.state();
    for reference in state.resolve_table_references(&DFStatement::Statement(Box::new(query.clone())))? {
        if reference.table() == name && reference.schema().unwrap_or(DEFAULT_SCHEMA) == schema {
            return Err(Error::Invalid(format!("view \"{schema}.{name}\" cannot reference itself")));
        }
    }
    // Plan it now: a view over a missing table or column fails here, not at first use.
    let plan = crate::sql::names::with_output_names(session.plan(DFStatement::Statement(Box::new(query))).await?)?;
    let aliases: Vec<String> = create.columns.iter().map(|c| normalize(&c.name)).collect();
    if !aliases.is_empty() && aliases.len() != plan.schema().fields().len() {
        return Err(Error::Invalid(format!(
            "view \"{schema}.{name}\" names {} columns but its query returns {}",
            aliases.len(),
            plan.schema().fields().len()
        )));
    }
    let existing = session.shared.with_state(|s| {
        let schema_def = s.schema(&schema)?;
        Ok::<_, tarn_catalog::Error>((
            schema_def.id,
            s.relation(schema_def.id, &name).map(|r| match r {
                Relation::View(v) => Ok(v.clone()),
                Relation::Table(_) => Err(Error::Invalid(format!("\"{schema}.{name}\" is a table, not a view"))),
            }),
        ))
    })??;
    let (schema_id, existing) = existing;
    let def = ViewDef {
        id: 0,
        schema_id,
        name: name.clone(),
        sql: create.query.to_string(),
        column_aliases: aliases,
        owner: session.user().to_string(),
        comment: create.comment.clone(),
        created_at: now(),
    };
    match existing {
        Some(Err(e)) => return Err(e),
        Some(Ok(_)) if create.if_not_exists => {}
        Some(Ok(old)) if create.or_replace => {
            session.apply(CatalogOp::AlterView(ViewDef { id: old.id, created_at: old.created_at, ..def }))?
        }
        Some(Ok(_)) => {
            return Err(Error::Invalid(format!("relation \"{schema}.{name}\" already exists")));
        }
        None => {
            let id = allocate_id(session)?;
            crate::access::default_grants(session, schema_id, &def.owner, id)?;
            session.apply(CatalogOp::CreateView(ViewDef { id, ..def }))?
        }
    }
    Ok(Output::command("CREATE VIEW"))
}

/// `ALTER TABLE|VIEW|SCHEMA name OWNER TO user`: the owner or a superuser may.
pub(crate) fn set_owner(
    session: &Session,
    kind: crate::access::OwnedKind,
    name: &ObjectName,
    owner: &str,
    superuser: bool,
) -> Result<Output> {
    let me = session.user();
    let me = me.as_str();
    let denied = |what: String| Err(Error::PermissionDenied(format!("for {what} (only its owner may change it)")));
    match kind {
        crate::access::OwnedKind::Schema => {
            let name = single_name(name)?;
            let def = session
                .shared
                .with_state(|s| s.schema_by_name(&name).cloned())?
                .ok_or_else(|| Error::Invalid(format!("schema \"{name}\" does not exist")))?;
            if !superuser && def.owner != me {
                return denied(format!("schema {name}"));
            }
            session.apply(CatalogOp::AlterSchema(SchemaDef { owner: owner.to_string(), ..def }))?;
            Ok(Output::command("ALTER SCHEMA"))
        }
        crate::access::OwnedKind::Table => {
            let (schema, table) = session.resolve_name(name)?;
            let op = session.shared.with_state(|s| {
                s.relation_by_name(&schema, &table).map(|r| match r {
                    Relation::Table(t) => {
                        (t.owner.clone(), CatalogOp::AlterTable(TableDef { owner: owner.to_string(), ..t.clone() }))
                    }
                    Relation::View(v) => {
                        (v.owner.clone(), CatalogOp::AlterView(ViewDef { owner: owner.to_string(), ..v.clone() }))
                    }
                })
            })?;
            let (current, op) =
                op.ok_or_else(|| Error::Invalid(format!("relation \"{schema}.{table}\" does not exist")))?;
            if !superuser && current != me {
                return denied(format!("relation {table}"));
            }
            session.apply(op)?;
            Ok(Output::command("ALTER TABLE"))
        }
    }
}

pub(crate) fn comment(
    session: &Session,
    object_type: CommentObject,
    object_name: &ObjectName,
    comment: Option<String>,
    if_exists: bool,
) -> Result<Output> {
    let missing = |what: String| {
        if if_exists { Ok(None) } else { Err(Error::Invalid(format!("{what} does not exist"))) }
    };
    let op = match object_type {
        CommentObject::Schema => {
            let name = single_name(object_name)?;
            match session.shared.with_state(|s| s.schema_by_name(&name).cloned())? {
                Some(def) => Some(CatalogOp::AlterSchema(SchemaDef { comment, ..def })),
                None => missing(format!("schema \"{name}\""))?,
            }
        }
        CommentObject::Table | CommentObject::View => {
            let (schema, name) = session.resolve_name(object_name)?;
            let found = session.shared.with_state(|s| {
                Some(match s.relation_by_name(&schema, &name)? {
                    Relation::Table(t) => CatalogOp::AlterTable(TableDef { comment: comment.clone(), ..t.clone() }),
                    Relation::View(v) => CatalogOp::AlterView(ViewDef { comment: comment.clone(), ..v.clone() }),
                })
            })?;
            match found {
                Some(op) => Some(op),
                None => missing(format!("relation \"{schema}.{name}\""))?,
            }
        }
        CommentObject::Column => {
            let mut parts = object_name.0.clone();
            let column = parts
                .pop()
                .and_then(|p| p.as_ident().map(normalize))
                .ok_or_else(|| Error::Invalid(format!("invalid column name {object_name}")))?;
            if parts.is_empty() {
                return Err(Error::Invalid(format!("column name {object_name} must be qualified with its table")));
            }
            let (schema, name) = session.resolve_name(&ObjectName(parts))?;
            let table = session.shared.with_state(|s| s.table_by_name(&schema, &name).cloned())?;
            match table {
                Some(mut table) => {
                    let def = table.columns.iter_mut().find(|c| c.name == column).ok_or_else(|| {
                        Error::Invalid(format!("column \"{column}\" of relation \"{schema}.{name}\" does not exist"))
                    })?;
                    def.comment = comment;
                    Some(CatalogOp::AlterTable(table))
                }
                None => missing(format!("table \"{schema}.{name}\""))?,
            }
        }
        other => return Err(Error::Unsupported(format!("COMMENT ON {other}"))),
    };
    if let Some(op) = op {
        session.apply(op)?;
    }
    Ok(Output::command("COMMENT"))
}
