//! PostgreSQL's own catalog tables, as drivers and SQLAlchemy's inspector read them on connect
//! and for reflection: `pg_class`, `pg_attribute`, `pg_type`, `pg_index`, `pg_description`,
//! `pg_database`, `pg_settings`, `pg_attrdef`, and the ones tarn has nothing to put in
//! (`pg_constraint`, `pg_collation`, `pg_enum`, ...) with their columns, empty. Object ids
//! are the catalog's ids from 16384 up, as PostgreSQL numbers user objects.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::catalog::TableProvider;
use datafusion::common::ScalarValue;
use tarn_catalog::{CatalogState, Relation, SqlType};

use super::{FIRST_USER_OID, field, int, opt_text, table_of, text};
use crate::error::Result;
use crate::pg_types;
use crate::session::SessionShared;

pub(super) const TABLES: &[&str] = &[
    "pg_class",
    "pg_attribute",
    "pg_type",
    "pg_index",
    "pg_description",
    "pg_database",
    "pg_settings",
    "pg_attrdef",
    "pg_constraint",
    "pg_collation",
    "pg_enum",
    "pg_sequence",
    "pg_inherits",
    "pg_am",
    "pg_opclass",
    "pg_tablespace",
    "pg_proc",
    "pg_stat_activity",
];

/// `pg_namespace.oid` of `pg_catalog`, which owns the built-in types.
const PG_CATALOG_OID: i64 = 11;
/// The database's oid.
const DATABASE_OID: i64 = 1;

/// PostgreSQL's oids of its catalog tables (`'pg_catalog.pg_class'::regclass`).
pub(crate) fn system_oid(name: &str) -> Option<i64> {
    Some(match name {
        "pg_type" => 1247,
        "pg_attribute" => 1249,
        "pg_proc" => 1255,
        "pg_class" => 1259,
        "pg_database" => 1262,
        "pg_am" => 2601,
        "pg_attrdef" => 2604,
        "pg_constraint" => 2606,
        "pg_description" => 2609,
        "pg_index" => 2610,
        "pg_inherits" => 2611,
        "pg_namespace" => 2615,
        "pg_sequence" => 2224,
        "pg_collation" => 3456,
        "pg_enum" => 3501,
        _ => return None,
    })
}

/// The oid of a catalog object (schema, table, view) of id `id`.
pub(crate) fn oid(id: i64) -> i64 {
    FIRST_USER_OID + id
}

fn boolean(b: bool) -> ScalarValue {
    ScalarValue::Boolean(Some(b))
}

fn small(i: i64) -> ScalarValue {
    ScalarValue::Int64(Some(i))
}

/// The columns of a relation: (name, declared type, nullable, default).
pub(crate) async fn relation_columns(
    shared: &SessionShared,
    state: &CatalogState,
    relation: &Relation<'_>,
) -> Vec<(String, SqlType, bool, Option<String>)> {
    match relation {
        Relation::Table(t) => {
            t.columns.iter().map(|c| (c.name.clone(), c.sql_type, c.nullable, c.default.clone())).collect()
        }
        // A view broken by a dropped table still lists, without columns.
        Relation::View(v) => {
            super::view_columns(shared, state.schema_name(v.schema_id), &v.name).await.unwrap_or_default()
        }
    }
}

pub(super) async fn table(
    shared: &SessionShared,
    state: &CatalogState,
    name: &str,
) -> Result<Option<Arc<dyn TableProvider>>> {
    let access = shared.engine.access_state()?;
    let user_id = |name: &str| access.users.get(name).map_or(super::access::EMBEDDED_USER_ID, |u| u.id);
    Ok(Some(match name {
        "pg_class" => {
            let mut rows = Vec::new();
            for relation in state.relations() {
                let (kind, columns, tuples) = match &relation {
                    Relation::Table(t) => {
                        let tuples: u64 = shared.visible_files(t)?.iter().map(|f| f.record_count).sum();
                        ("r", t.columns.len() as i64, tuples as f64)
                    }
                    Relation::View(_) => ("v", relation_columns(shared, state, &relation).await.len() as i64, 0.0),
                };
                rows.push(vec![
                    int(oid(relation.id())),
                    text(relation.name()),
                    int(oid(relation.schema_id())),
                    int(0),
                    int(user_id(relation.owner())),
                    int(0),
                    int(oid(relation.id())),
                    int(0),
                    int(0),
                    boolean(false),
                    ScalarValue::Float64(Some(tuples)),
                    boolean(false),
                    boolean(false),
                    text("p"),
                    text(kind),
                    small(columns),
                    small(0),
                    boolean(false),
                    boolean(false),
                    boolean(false),
                    boolean(false),
                    opt_text(None::<String>),
                    opt_text(None::<String>),
                ]);
            }
            table_of(
                vec![
                    field("oid", DataType::Int64),
                    field("relname", DataType::Utf8),
                    field("relnamespace", DataType::Int64),
                    field("reltype", DataType::Int64),
                    field("relowner", DataType::Int64),
                    field("relam", DataType::Int64),
                    field("relfilenode", DataType::Int64),
                    field("reltablespace", DataType::Int64),
                    field("relpages", DataType::Int64),
                    field("relhasoids", DataType::Boolean),
                    field("reltuples", DataType::Float64),
                    field("relhasindex", DataType::Boolean),
                    field("relisshared", DataType::Boolean),
                    field("relpersistence", DataType::Utf8),
                    field("relkind", DataType::Utf8),
                    field("relnatts", DataType::Int64),
                    field("relchecks", DataType::Int64),
                    field("relhasrules", DataType::Boolean),
                    field("relhastriggers", DataType::Boolean),
                    field("relhassubclass", DataType::Boolean),
                    field("relispartition", DataType::Boolean),
                    field("relacl", DataType::Utf8),
                    field("reloptions", DataType::Utf8),
                ],
                rows,
            )?
        }
        "pg_attribute" => {
            let mut rows = Vec::new();
            for relation in state.relations() {
                for (i, (name, sql_type, nullable, default)) in
                    relation_columns(shared, state, &relation).await.into_iter().enumerate()
                {
                    let pg = pg_types::of_sql_type(&sql_type);
                    rows.push(vec![
                        int(oid(relation.id())),
                        text(name),
                        int(pg.oid as i64),
                        small(pg.type_len() as i64),
                        small(i as i64 + 1),
                        small(0),
                        int(pg.typmod as i64),
                        boolean(pg.type_len() > 0 && pg.type_len() <= 8),
                        boolean(!nullable),
                        boolean(default.is_some()),
                        text(""),
                        text(""),
                        boolean(false),
                        boolean(true),
                        small(0),
                        int(0),
                        opt_text(None::<String>),
                    ]);
                }
            }
            table_of(
                vec![
                    field("attrelid", DataType::Int64),
                    field("attname", DataType::Utf8),
                    field("atttypid", DataType::Int64),
                    field("attlen", DataType::Int64),
                    field("attnum", DataType::Int64),
                    field("attndims", DataType::Int64),
                    field("atttypmod", DataType::Int64),
                    field("attbyval", DataType::Boolean),
                    field("attnotnull", DataType::Boolean),
                    field("atthasdef", DataType::Boolean),
                    field("attidentity", DataType::Utf8),
                    field("attgenerated", DataType::Utf8),
                    field("attisdropped", DataType::Boolean),
                    field("attislocal", DataType::Boolean),
                    field("attinhcount", DataType::Int64),
                    field("attcollation", DataType::Int64),
                    field("attacl", DataType::Utf8),
                ],
                rows,
            )?
        }
        "pg_attrdef" => {
            let mut rows = Vec::new();
            for t in state.tables.values() {
                for (i, c) in t.columns.iter().enumerate() {
                    if let Some(default) = &c.default {
                        rows.push(vec![
                            int(oid(t.id) * 1000 + i as i64),
                            int(oid(t.id)),
                            small(i as i64 + 1),
                            text(default),
                        ]);
                    }
                }
            }
            table_of(
                vec![
                    field("oid", DataType::Int64),
                    field("adrelid", DataType::Int64),
                    field("adnum", DataType::Int64),
                    field("adbin", DataType::Utf8),
                ],
                rows,
            )?
        }
        "pg_type" => table_of(
            vec![
                field("oid", DataType::Int64),
                field("typname", DataType::Utf8),
                field("typnamespace", DataType::Int64),
                field("typowner", DataType::Int64),
                field("typlen", DataType::Int64),
                field("typbyval", DataType::Boolean),
                field("typtype", DataType::Utf8),
                field("typcategory", DataType::Utf8),
                field("typispreferred", DataType::Boolean),
                field("typisdefined", DataType::Boolean),
                field("typdelim", DataType::Utf8),
                field("typrelid", DataType::Int64),
                field("typelem", DataType::Int64),
                field("typarray", DataType::Int64),
                field("typnotnull", DataType::Boolean),
                field("typbasetype", DataType::Int64),
                field("typtypmod", DataType::Int64),
                field("typndims", DataType::Int64),
                field("typcollation", DataType::Int64),
                field("typdefault", DataType::Utf8),
            ],
            pg_types::TYPES
                .iter()
                .map(|(type_oid, name, len, category, array, element)| {
                    vec![
                        int(*type_oid as i64),
                        text(*name),
                        int(PG_CATALOG_OID),
                        int(super::access::EMBEDDED_USER_ID),
                        small(*len as i64),
                        boolean(*len > 0 && *len <= 8),
                        text("b"),
                        text(category.to_string()),
                        boolean(false),
                        boolean(true),
                        text(","),
                        int(0),
                        int(*element as i64),
                        int(*array as i64),
                        boolean(false),
                        int(0),
                        int(-1),
                        small(0),
                        int(if *category == 'S' { 100 } else { 0 }),
                        opt_text(None::<String>),
                    ]
                })
                .collect(),
        )?,
        "pg_description" => {
            let mut rows = Vec::new();
            for relation in state.relations() {
                let (comment, columns) = match &relation {
                    Relation::Table(t) => {
                        (t.comment.clone(), t.columns.iter().map(|c| c.comment.clone()).collect::<Vec<_>>())
                    }
                    Relation::View(v) => (v.comment.clone(), Vec::new()),
                };
                if let Some(comment) = comment {
                    rows.push(vec![int(oid(relation.id())), int(1259), small(0), text(comment)]);
                }
                for (i, comment) in columns.into_iter().enumerate() {
                    if let Some(comment) = comment {
                        rows.push(vec![int(oid(relation.id())), int(1259), small(i as i64 + 1), text(comment)]);
                    }
                }
            }
            for schema in state.schemas.values() {
                if let Some(comment) = &schema.comment {
                    rows.push(vec![int(oid(schema.id)), int(2615), small(0), text(comment)]);
                }
            }
            table_of(
                vec![
                    field("objoid", DataType::Int64),
                    field("classoid", DataType::Int64),
                    field("objsubid", DataType::Int64),
                    field("description", DataType::Utf8),
                ],
                rows,
            )?
        }
        "pg_database" => table_of(
            vec![
                field("oid", DataType::Int64),
                field("datname", DataType::Utf8),
                field("datdba", DataType::Int64),
                field("encoding", DataType::Int64),
                field("datcollate", DataType::Utf8),
                field("datctype", DataType::Utf8),
                field("datistemplate", DataType::Boolean),
                field("datallowconn", DataType::Boolean),
                field("datconnlimit", DataType::Int64),
                field("datacl", DataType::Utf8),
            ],
            vec![vec![
                int(DATABASE_OID),
                text(crate::provider::CATALOG_NAME),
                int(super::access::EMBEDDED_USER_ID),
                int(6),
                text("C"),
                text("C"),
                boolean(false),
                boolean(true),
                int(-1),
                opt_text(None::<String>),
            ]],
        )?,
        "pg_settings" => {
            let settings = shared.all_settings();
            table_of(
                vec![
                    field("name", DataType::Utf8),
                    field("setting", DataType::Utf8),
                    field("unit", DataType::Utf8),
                    field("category", DataType::Utf8),
                    field("short_desc", DataType::Utf8),
                    field("context", DataType::Utf8),
                    field("vartype", DataType::Utf8),
                    field("source", DataType::Utf8),
                ],
                settings
                    .into_iter()
                    .map(|(name, value, description)| {
                        vec![
                            text(name),
                            text(value),
                            opt_text(None::<String>),
                            text("Client Connection Defaults"),
                            text(description),
                            text("user"),
                            text("string"),
                            text("session"),
                        ]
                    })
                    .collect(),
            )?
        }
        "pg_stat_activity" => table_of(
            vec![
                field("datid", DataType::Int64),
                field("datname", DataType::Utf8),
                field("pid", DataType::Int64),
                field("usename", DataType::Utf8),
                field("application_name", DataType::Utf8),
                field("state", DataType::Utf8),
                field("query", DataType::Utf8),
            ],
            vec![vec![
                int(DATABASE_OID),
                text(crate::provider::CATALOG_NAME),
                int(shared.id),
                text(shared.user.read().clone()),
                text(shared.settings.read().get("application_name").unwrap_or_default()),
                text("active"),
                opt_text(None::<String>),
            ]],
        )?,
        // Catalogs of things tarn does not have (indexes, constraints PostgreSQL enforces,
        // collations, enums, sequences, inheritance, functions): their columns, no rows.
        "pg_index" => empty(&[
            ("indexrelid", DataType::Int64),
            ("indrelid", DataType::Int64),
            ("indnatts", DataType::Int64),
            ("indnkeyatts", DataType::Int64),
            ("indisunique", DataType::Boolean),
            ("indisprimary", DataType::Boolean),
            ("indisexclusion", DataType::Boolean),
            ("indimmediate", DataType::Boolean),
            ("indisclustered", DataType::Boolean),
            ("indisvalid", DataType::Boolean),
            ("indcheckxmin", DataType::Boolean),
            ("indisready", DataType::Boolean),
            ("indislive", DataType::Boolean),
            ("indisreplident", DataType::Boolean),
            ("indnullsnotdistinct", DataType::Boolean),
            ("indkey", int_list()),
            ("indcollation", int_list()),
            ("indclass", int_list()),
            ("indoption", int_list()),
            ("indexprs", DataType::Utf8),
            ("indpred", DataType::Utf8),
        ])?,
        "pg_constraint" => empty(&[
            ("oid", DataType::Int64),
            ("conname", DataType::Utf8),
            ("connamespace", DataType::Int64),
            ("contype", DataType::Utf8),
            ("condeferrable", DataType::Boolean),
            ("condeferred", DataType::Boolean),
            ("convalidated", DataType::Boolean),
            ("conrelid", DataType::Int64),
            ("contypid", DataType::Int64),
            ("conindid", DataType::Int64),
            ("confrelid", DataType::Int64),
            ("confupdtype", DataType::Utf8),
            ("confdeltype", DataType::Utf8),
            ("confmatchtype", DataType::Utf8),
            ("conislocal", DataType::Boolean),
            ("coninhcount", DataType::Int64),
            ("connoinherit", DataType::Boolean),
            ("conkey", int_list()),
            ("confkey", int_list()),
            ("conpfeqop", int_list()),
            ("conppeqop", int_list()),
            ("conffeqop", int_list()),
            ("conexclop", int_list()),
            ("conbin", DataType::Utf8),
        ])?,
        "pg_collation" => empty(&[
            ("oid", DataType::Int64),
            ("collname", DataType::Utf8),
            ("collnamespace", DataType::Int64),
            ("collowner", DataType::Int64),
            ("collprovider", DataType::Utf8),
            ("collencoding", DataType::Int64),
            ("collcollate", DataType::Utf8),
            ("collctype", DataType::Utf8),
        ])?,
        "pg_enum" => empty(&[
            ("oid", DataType::Int64),
            ("enumtypid", DataType::Int64),
            ("enumsortorder", DataType::Float64),
            ("enumlabel", DataType::Utf8),
        ])?,
        "pg_sequence" => empty(&[
            ("seqrelid", DataType::Int64),
            ("seqtypid", DataType::Int64),
            ("seqstart", DataType::Int64),
            ("seqincrement", DataType::Int64),
            ("seqmax", DataType::Int64),
            ("seqmin", DataType::Int64),
            ("seqcache", DataType::Int64),
            ("seqcycle", DataType::Boolean),
        ])?,
        "pg_inherits" => {
            empty(&[("inhrelid", DataType::Int64), ("inhparent", DataType::Int64), ("inhseqno", DataType::Int64)])?
        }
        "pg_am" => empty(&[
            ("oid", DataType::Int64),
            ("amname", DataType::Utf8),
            ("amhandler", DataType::Utf8),
            ("amtype", DataType::Utf8),
        ])?,
        "pg_tablespace" => table_of(
            vec![field("oid", DataType::Int64), field("spcname", DataType::Utf8), field("spcowner", DataType::Int64)],
            vec![vec![int(1663), text("pg_default"), int(super::access::EMBEDDED_USER_ID)]],
        )?,
        "pg_opclass" => empty(&[
            ("oid", DataType::Int64),
            ("opcmethod", DataType::Int64),
            ("opcname", DataType::Utf8),
            ("opcnamespace", DataType::Int64),
            ("opcdefault", DataType::Boolean),
        ])?,
        "pg_proc" => empty(&[
            ("oid", DataType::Int64),
            ("proname", DataType::Utf8),
            ("pronamespace", DataType::Int64),
            ("proowner", DataType::Int64),
            ("prorettype", DataType::Int64),
            ("proargtypes", DataType::Utf8),
            ("prosrc", DataType::Utf8),
        ])?,
        _ => return Ok(None),
    }))
}

/// `int2vector`/`int2[]` columns (column numbers).
fn int_list() -> DataType {
    DataType::List(Arc::new(datafusion::arrow::datatypes::Field::new_list_field(DataType::Int64, true)))
}

fn empty(columns: &[(&str, DataType)]) -> Result<Arc<dyn TableProvider>> {
    table_of(columns.iter().map(|(name, t)| field(name, t.clone())).collect(), Vec::new())
}
