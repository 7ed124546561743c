//! System tables: `pg_catalog` (Redshift's `pg_namespace`, `pg_tables`, `svv_table_info`, ...,
//! and `tarn_snapshots`) and `information_schema`, which speaks Redshift's type names
//! (`character varying`, not `Utf8`). Each is built from the session's view of the catalog
//! when a query names it.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::TableProvider;
use datafusion::common::ScalarValue;
use datafusion::datasource::MemTable;
use tarn_catalog::{CatalogState, Relation, SqlType, TableDef};

mod access;
pub(crate) mod catalog_functions;
pub(crate) mod functions;
pub(crate) mod history;
pub(crate) mod lineage;
pub(crate) mod lineage_graph;
mod pg;

use crate::error::{Error, Result};
use crate::provider::CATALOG_NAME;
use crate::session::SessionShared;

pub(crate) const PG_CATALOG: &str = "pg_catalog";
pub(crate) const INFORMATION_SCHEMA: &str = "information_schema";
pub(crate) const SYSTEM_SCHEMAS: [&str; 2] = [PG_CATALOG, INFORMATION_SCHEMA];

const PG_TABLES: &[&str] = &[
    "pg_namespace",
    "pg_tables",
    "pg_views",
    "svv_table_info",
    "stl_load_errors",
    "stl_query",
    "tarn_lineage",
    "stl_load_commits",
    "tarn_snapshots",
    "tarn_data_files",
    "tarn_column_stats",
    "tarn_cache",
    "tarn_plan_cache",
    "svv_external_schemas",
    "svv_external_tables",
    "svv_external_columns",
    "svv_external_partitions",
    "svv_external_table_versions",
];
const INFO_TABLES: &[&str] =
    &["schemata", "tables", "columns", "views", "table_constraints", "key_column_usage", "df_settings"];

/// OIDs of user schemas start here, as in PostgreSQL.
pub(crate) const FIRST_USER_OID: i64 = 16384;

/// Whether `name` is a system table (found without its schema too).
pub(crate) fn is_system_table(name: &str) -> bool {
    PG_TABLES.contains(&name)
        || INFO_TABLES.contains(&name)
        || access::TABLES.contains(&name)
        || pg::TABLES.contains(&name)
}

/// Names of the system tables of `schema`, or `None` if it is not a system schema.
pub(crate) fn table_names(schema: &str) -> Option<Vec<String>> {
    match schema {
        PG_CATALOG => Some(PG_TABLES.iter().chain(access::TABLES).chain(pg::TABLES).map(|s| s.to_string()).collect()),
        INFORMATION_SCHEMA => Some(INFO_TABLES.iter().map(|s| s.to_string()).collect()),
        _ => None,
    }
}

pub(crate) fn text(s: impl Into<String>) -> ScalarValue {
    ScalarValue::Utf8(Some(s.into()))
}

pub(crate) fn opt_text(s: Option<impl Into<String>>) -> ScalarValue {
    ScalarValue::Utf8(s.map(Into::into))
}

pub(crate) fn int(i: i64) -> ScalarValue {
    ScalarValue::Int64(Some(i))
}

pub(crate) fn opt_int(i: Option<i64>) -> ScalarValue {
    ScalarValue::Int64(i)
}

pub(crate) fn field(name: &str, data_type: DataType) -> Field {
    Field::new(name, data_type, true)
}

/// A table of `fields` holding `rows`.
pub(crate) fn table_of(fields: Vec<Field>, rows: Vec<Vec<ScalarValue>>) -> Result<Arc<dyn TableProvider>> {
    let schema = Arc::new(Schema::new(fields));
    let columns = (0..schema.fields().len())
        .map(|i| {
            let values = rows.iter().map(|r| r[i].clone());
            if rows.is_empty() {
                Ok(datafusion::arrow::array::new_empty_array(schema.field(i).data_type()))
            } else {
                ScalarValue::iter_to_array(values)
            }
        })
        .collect::<datafusion::error::Result<Vec<_>>>()?;
    let batch = RecordBatch::try_new(schema.clone(), columns)
        .map_err(|e| Error::Invalid(format!("building system table: {e}")))?;
    Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
}

/// The catalog as the session's user may see it: the schemas it may use and the relations it
/// may use there (superusers see everything). Every catalog table is built from this.
pub(crate) fn visible_state(shared: &SessionShared) -> Result<CatalogState> {
    let mut state = shared.with_state(|s| s.clone())?;
    let access = shared.engine.access_state()?;
    let user = shared.user.read().clone();
    let superuser = shared.is_superuser(&access);
    if superuser {
        return Ok(state);
    }
    let schemas = std::mem::take(&mut state.schemas);
    let relations: Vec<(i64, bool)> = state
        .relations()
        .map(|r| {
            let visible = schemas
                .get(&r.schema_id())
                .is_some_and(|schema| crate::access::may_see_relation(&access, false, &user, schema, &r));
            (r.id(), visible)
        })
        .collect();
    state.schemas =
        schemas.into_iter().filter(|(_, s)| crate::access::may_see_schema(&access, false, &user, s)).collect();
    for (id, visible) in relations {
        if !visible {
            state.tables.remove(&id);
            state.views.remove(&id);
        }
    }
    Ok(state)
}

/// The system table `schema.name`, if there is one.
pub(crate) async fn table(shared: &SessionShared, schema: &str, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
    let state = visible_state(shared)?;
    if schema == PG_CATALOG && access::TABLES.contains(&name) {
        return access::table(shared, &state, name);
    }
    if schema == PG_CATALOG && pg::TABLES.contains(&name) {
        return pg::table(shared, &state, name).await;
    }
    let provider = match (schema, name) {
        (PG_CATALOG, "pg_namespace") => {
            let mut rows = vec![
                vec![int(11), text(PG_CATALOG), text("tarn"), opt_text(None::<String>)],
                vec![int(12), text(INFORMATION_SCHEMA), text("tarn"), opt_text(None::<String>)],
            ];
            rows.extend(
                state
                    .schemas
                    .values()
                    .map(|s| vec![int(FIRST_USER_OID + s.id), text(&s.name), text(&s.owner), opt_text(None::<String>)]),
            );
            table_of(
                vec![
                    field("oid", DataType::Int64),
                    field("nspname", DataType::Utf8),
                    field("nspowner", DataType::Utf8),
                    field("nspacl", DataType::Utf8),
                ],
                rows,
            )?
        }
        (PG_CATALOG, "pg_tables") => table_of(
            vec![
                field("schemaname", DataType::Utf8),
                field("tablename", DataType::Utf8),
                field("tableowner", DataType::Utf8),
            ],
            sorted_tables(&state).map(|(schema, t)| vec![text(schema), text(&t.name), text(&t.owner)]).collect(),
        )?,
        (PG_CATALOG, "pg_views") => table_of(
            vec![
                field("schemaname", DataType::Utf8),
                field("viewname", DataType::Utf8),
                field("viewowner", DataType::Utf8),
                field("definition", DataType::Utf8),
            ],
            state
                .views
                .values()
                .map(|v| vec![text(state.schema_name(v.schema_id)), text(&v.name), text(&v.owner), text(&v.sql)])
                .collect(),
        )?,
        (PG_CATALOG, "svv_table_info") => {
            shared.engine.history.flush()?;
            let reads = shared.engine.store.table_reads()?;
            let mut rows = Vec::new();
            for (schema, t) in sorted_tables(&state) {
                let files = shared.visible_files(t)?;
                let rows_total: u64 = files.iter().map(|f| f.record_count).sum();
                let bytes: u64 = files.iter().map(|f| f.file_size_bytes).sum();
                let modified = shared.engine.store.table_modified_at(t.id, shared.snapshot()?)?;
                rows.push(vec![
                    text(CATALOG_NAME),
                    text(schema),
                    int(t.id),
                    text(&t.name),
                    int(rows_total as i64),
                    // Redshift reports size in 1 MB blocks.
                    int(bytes.div_ceil(1 << 20) as i64),
                    int(bytes as i64),
                    int(files.len() as i64),
                    text(&t.owner),
                    text(&t.created_at),
                    opt_text(modified),
                    opt_text(t.comment.clone()),
                    opt_text(t.sort_key.as_ref().map(|k| match k.interleaved {
                        true => format!("INTERLEAVED ({})", k.columns.join(", ")),
                        false => k.columns.first().cloned().unwrap_or_default(),
                    })),
                    int(t.sort_key.as_ref().map_or(0, |k| k.columns.len()) as i64),
                    int(stats_off(&files, rows_total)),
                    int(reads.get(&t.id).map_or(0, |(n, _)| *n)),
                    opt_text(reads.get(&t.id).map(|(_, last)| last.clone())),
                ]);
            }
            table_of(
                vec![
                    field("database", DataType::Utf8),
                    field("schema", DataType::Utf8),
                    field("table_id", DataType::Int64),
                    field("table", DataType::Utf8),
                    field("tbl_rows", DataType::Int64),
                    field("size", DataType::Int64),
                    field("size_bytes", DataType::Int64),
                    field("files", DataType::Int64),
                    field("owner", DataType::Utf8),
                    field("created", DataType::Utf8),
                    field("last_modified", DataType::Utf8),
                    field("comment", DataType::Utf8),
                    // Redshift's: the first sort key column, and how many there are.
                    field("sortkey1", DataType::Utf8),
                    field("sortkey_num", DataType::Int64),
                    // Redshift's staleness of statistics, 0 (current) to 100: here the share of
                    // rows in files not analyzed yet (no distinct-value estimates).
                    field("stats_off", DataType::Int64),
                    // Queries that read the table, and when the last did.
                    field("reads", DataType::Int64),
                    field("last_read", DataType::Utf8),
                ],
                rows,
            )?
        }
        (PG_CATALOG, "tarn_column_stats") => {
            let mut rows = Vec::new();
            for (schema, t) in sorted_tables(&state) {
                rows.extend(column_stats(shared, schema, t)?);
            }
            table_of(
                vec![
                    field("schema", DataType::Utf8),
                    field("table", DataType::Utf8),
                    field("column", DataType::Utf8),
                    field("files", DataType::Int64),
                    field("analyzed_files", DataType::Int64),
                    field("rows", DataType::Int64),
                    field("null_count", DataType::Int64),
                    field("min_value", DataType::Utf8),
                    field("max_value", DataType::Utf8),
                    field("distinct_count", DataType::Int64),
                    field("exact", DataType::Boolean),
                ],
                rows,
            )?
        }
        (PG_CATALOG, "tarn_snapshots") => table_of(
            vec![
                field("snapshot_id", DataType::Int64),
                field("snapshot_time", DataType::Utf8),
                field("author", DataType::Utf8),
                field("changes", DataType::Utf8),
            ],
            shared
                .engine
                .store
                .snapshots()?
                .into_iter()
                .map(|s| vec![int(s.id), text(s.time), text(s.author), text(s.changes)])
                .collect(),
        )?,
        (PG_CATALOG, "stl_query") => {
            // Users see their own statements; superusers everyone's.
            shared.engine.history.flush()?;
            let user = shared.user.read().clone();
            let superuser = shared.is_superuser(&*shared.engine.access_state()?);
            table_of(
                vec![
                    field("userid", DataType::Utf8),
                    field("query", DataType::Int64),
                    field("pid", DataType::Int64),
                    field("database", DataType::Utf8),
                    field("querytxt", DataType::Utf8),
                    field("starttime", DataType::Utf8),
                    field("endtime", DataType::Utf8),
                    field("aborted", DataType::Int64),
                    field("rows", DataType::Int64),
                    field("status", DataType::Utf8),
                    field("error", DataType::Utf8),
                ],
                shared
                    .engine
                    .store
                    .queries()?
                    .into_iter()
                    .filter(|q| superuser || q.userid == user)
                    .map(|q| {
                        vec![
                            text(q.userid),
                            int(q.query),
                            int(q.pid),
                            text(CATALOG_NAME),
                            text(q.querytxt),
                            text(q.starttime),
                            text(q.endtime),
                            int(i64::from(q.status != "success")),
                            ScalarValue::Int64(q.rows),
                            text(q.status),
                            opt_text(q.error),
                        ]
                    })
                    .collect(),
            )?
        }
        (PG_CATALOG, "tarn_lineage") => {
            // One row per source of each recorded statement; `*_current` is the object's name
            // now (NULL once dropped), so renamed objects stay traceable.
            let records = lineage_graph::visible_records(shared, &state)?;
            let now = |o: &tarn_catalog::LineageObject| match o.id {
                Some(id) => opt_text(lineage_graph::current(&state, id).map(|(name, _)| name)),
                None => text(&o.name),
            };
            let mut rows = Vec::new();
            for r in &records {
                for source in &r.sources {
                    rows.push(vec![
                        int(r.id),
                        int(r.snapshot),
                        text(&r.time),
                        text(&r.userid),
                        text(&r.statement),
                        text(r.target.kind.as_str()),
                        text(&r.target.name),
                        opt_int(r.target.id),
                        now(&r.target),
                        text(source.kind.as_str()),
                        text(&source.name),
                        opt_int(source.id),
                        now(source),
                        text(&r.querytxt),
                    ]);
                }
            }
            table_of(
                vec![
                    field("lineage_id", DataType::Int64),
                    field("snapshot_id", DataType::Int64),
                    field("time", DataType::Utf8),
                    field("userid", DataType::Utf8),
                    field("statement", DataType::Utf8),
                    field("target_type", DataType::Utf8),
                    field("target", DataType::Utf8),
                    field("target_id", DataType::Int64),
                    field("target_current", DataType::Utf8),
                    field("source_type", DataType::Utf8),
                    field("source", DataType::Utf8),
                    field("source_id", DataType::Int64),
                    field("source_current", DataType::Utf8),
                    field("querytxt", DataType::Utf8),
                ],
                rows,
            )?
        }
        (PG_CATALOG, "stl_load_errors") => table_of(
            vec![
                field("userid", DataType::Utf8),
                field("slice", DataType::Int64),
                field("tbl", DataType::Int64),
                field("starttime", DataType::Utf8),
                field("session", DataType::Int64),
                field("query", DataType::Int64),
                field("filename", DataType::Utf8),
                field("line_number", DataType::Int64),
                field("colname", DataType::Utf8),
                field("type", DataType::Utf8),
                field("col_length", DataType::Utf8),
                field("position", DataType::Int64),
                field("raw_line", DataType::Utf8),
                field("raw_field_value", DataType::Utf8),
                field("err_code", DataType::Int64),
                field("err_reason", DataType::Utf8),
            ],
            shared
                .engine
                .store
                .load_errors()?
                .into_iter()
                .map(|e| {
                    vec![
                        text(e.userid),
                        int(0),
                        int(e.tbl),
                        text(e.starttime),
                        int(e.session),
                        int(e.query),
                        text(e.filename),
                        int(e.line_number),
                        text(e.colname),
                        text(e.col_type),
                        text(e.col_length),
                        int(e.position),
                        text(e.raw_line),
                        text(e.raw_field_value),
                        int(e.err_code),
                        text(e.err_reason),
                    ]
                })
                .collect(),
        )?,
        (PG_CATALOG, "stl_load_commits") => table_of(
            vec![
                field("userid", DataType::Utf8),
                field("query", DataType::Int64),
                field("tbl", DataType::Int64),
                field("filename", DataType::Utf8),
                field("lines_scanned", DataType::Int64),
                field("curtime", DataType::Utf8),
                field("status", DataType::Utf8),
            ],
            shared
                .engine
                .store
                .load_commits()?
                .into_iter()
                .map(|c| {
                    vec![
                        text(c.userid),
                        int(c.query),
                        int(c.tbl),
                        text(c.filename),
                        int(c.lines_scanned),
                        text(c.curtime),
                        text(c.status),
                    ]
                })
                .collect(),
        )?,
        (PG_CATALOG, "tarn_data_files") => table_of(
            vec![
                field("data_file_id", DataType::Int64),
                field("table_id", DataType::Int64),
                field("path", DataType::Utf8),
                field("record_count", DataType::Int64),
                field("file_size_bytes", DataType::Int64),
                field("begin_snapshot", DataType::Int64),
                field("end_snapshot", DataType::Int64),
            ],
            shared
                .engine
                .store
                .all_data_files()?
                .into_iter()
                .map(|f| {
                    vec![
                        int(f.id),
                        int(f.table_id),
                        text(f.path),
                        int(f.record_count as i64),
                        int(f.file_size_bytes as i64),
                        int(f.begin_snapshot),
                        opt_int(f.end_snapshot),
                    ]
                })
                .collect(),
        )?,
        (PG_CATALOG, "tarn_cache") => {
            let stats = shared.engine.decoded.stats();
            table_of(
                vec![
                    field("entries", DataType::Int64),
                    field("bytes", DataType::Int64),
                    field("capacity", DataType::Int64),
                    field("hits", DataType::Int64),
                    field("misses", DataType::Int64),
                    field("evictions", DataType::Int64),
                ],
                vec![
                    [stats.entries, stats.bytes, stats.capacity, stats.hits, stats.misses, stats.evictions]
                        .into_iter()
                        .map(|n| int(n as i64))
                        .collect(),
                ],
            )?
        }
        (PG_CATALOG, "tarn_plan_cache") => {
            let stats = shared.plans.stats();
            table_of(
                vec![
                    field("entries", DataType::Int64),
                    field("hits", DataType::Int64),
                    field("misses", DataType::Int64),
                ],
                vec![[stats.entries, stats.hits, stats.misses].into_iter().map(|n| int(n as i64)).collect()],
            )?
        }
        (INFORMATION_SCHEMA, "schemata") => table_of(
            vec![
                field("catalog_name", DataType::Utf8),
                field("schema_name", DataType::Utf8),
                field("schema_owner", DataType::Utf8),
            ],
            state.schemas.values().map(|s| vec![text(CATALOG_NAME), text(&s.name), text(&s.owner)]).collect(),
        )?,
        (INFORMATION_SCHEMA, "tables") => {
            let mut rows = Vec::new();
            for schema in state.schemas.values() {
                for relation in state.relations_in(schema.id) {
                    let kind = match relation {
                        Relation::Table(_) => "BASE TABLE",
                        Relation::View(_) => "VIEW",
                    };
                    rows.push(vec![text(CATALOG_NAME), text(&schema.name), text(relation.name()), text(kind)]);
                }
            }
            table_of(
                vec![
                    field("table_catalog", DataType::Utf8),
                    field("table_schema", DataType::Utf8),
                    field("table_name", DataType::Utf8),
                    field("table_type", DataType::Utf8),
                ],
                rows,
            )?
        }
        (INFORMATION_SCHEMA, "columns") => columns_table(shared, &state).await?,
        (INFORMATION_SCHEMA, "views") => table_of(
            vec![
                field("table_catalog", DataType::Utf8),
                field("table_schema", DataType::Utf8),
                field("table_name", DataType::Utf8),
                field("view_definition", DataType::Utf8),
            ],
            state
                .views
                .values()
                .map(|v| vec![text(CATALOG_NAME), text(state.schema_name(v.schema_id)), text(&v.name), text(&v.sql)])
                .collect(),
        )?,
        (INFORMATION_SCHEMA, "table_constraints") | (INFORMATION_SCHEMA, "key_column_usage") => {
            constraints_table(&state, name == "key_column_usage")?
        }
        (INFORMATION_SCHEMA, "df_settings") => {
            let session_state = shared.session_state()?;
            table_of(
                vec![
                    field("name", DataType::Utf8),
                    field("value", DataType::Utf8),
                    field("description", DataType::Utf8),
                ],
                session_state
                    .config_options()
                    .entries()
                    .into_iter()
                    .map(|e| vec![text(e.key), opt_text(e.value), text(e.description)])
                    .collect(),
            )?
        }
        (PG_CATALOG, name) if name.starts_with("svv_external_") => {
            return crate::lake::views::table(shared, &state, name);
        }
        _ => return Ok(None),
    };
    Ok(Some(provider))
}

/// Share of a table's rows (in percent) in files without distinct-value estimates.
fn stats_off(files: &[crate::session::VisibleFile], rows: u64) -> i64 {
    let analyzed = |f: &&crate::session::VisibleFile| {
        f.stats.as_ref().is_some_and(|s| !s.columns.is_empty() && s.columns.iter().all(|c| c.distinct.is_some()))
    };
    let stale: u64 = files.iter().filter(|f| !analyzed(f)).map(|f| f.record_count).sum();
    if rows == 0 { 0 } else { (stale * 100).div_ceil(rows) as i64 }
}

/// Rows of `tarn_column_stats` for `table`: per column, what the planner knows of it, merged
/// over the table's files as DataFusion merges them.
fn column_stats(shared: &SessionShared, schema: &str, table: &TableDef) -> Result<Vec<Vec<ScalarValue>>> {
    use datafusion::common::Statistics;
    let files = shared.visible_files(table)?;
    let read_schema = table.arrow_schema();
    let known: Vec<Statistics> = files
        .iter()
        .filter_map(|f| f.stats.as_ref().map(|s| crate::stats::to_datafusion(s, f.record_count, &read_schema)))
        .collect();
    let merged = Statistics::try_merge_iter(&known, &read_schema)?;
    let complete = known.len() == files.len();
    let analyzed = |column: &str| {
        files
            .iter()
            .filter(|f| {
                f.stats.as_ref().is_some_and(|s| s.columns.iter().any(|c| c.name == column && c.distinct.is_some()))
            })
            .count() as i64
    };
    let value = |v: &datafusion::common::stats::Precision<ScalarValue>| v.get_value().and_then(crate::stats::encode);
    let count = |v: &datafusion::common::stats::Precision<usize>| v.get_value().map(|n| *n as i64);
    Ok(read_schema
        .fields()
        .iter()
        .zip(&merged.column_statistics)
        .map(|(field, c)| {
            // Only what every file knows describes the table.
            let known_everywhere = |v: Option<i64>| v.filter(|_| complete && !files.is_empty());
            vec![
                text(schema),
                text(&table.name),
                text(field.name()),
                int(files.len() as i64),
                int(analyzed(field.name())),
                int(files.iter().map(|f| f.record_count as i64).sum()),
                opt_int(known_everywhere(count(&c.null_count))),
                opt_text(value(&c.min_value).filter(|_| complete)),
                opt_text(value(&c.max_value).filter(|_| complete)),
                opt_int(known_everywhere(count(&c.distinct_count))),
                ScalarValue::Boolean(Some(complete && c.min_value.is_exact().unwrap_or(false))),
            ]
        })
        .collect())
}

fn sorted_tables(state: &CatalogState) -> impl Iterator<Item = (&str, &TableDef)> {
    let mut tables: Vec<(&str, &TableDef)> =
        state.tables.values().map(|t| (state.schema_name(t.schema_id), t)).collect();
    tables.sort_by(|a, b| (a.0, &a.1.name).cmp(&(b.0, &b.1.name)));
    tables.into_iter()
}

/// Redshift's `information_schema.columns.data_type`: the type name without its modifiers.
pub(crate) fn type_name(t: &SqlType) -> String {
    let full = t.to_string();
    full.split('(').next().unwrap_or(&full).to_string()
}

/// `(character_maximum_length, numeric_precision, numeric_scale)` as PostgreSQL reports them.
fn type_facets(t: &SqlType) -> (Option<i64>, Option<i64>, Option<i64>) {
    match t {
        SqlType::Char(n) | SqlType::Varchar(n) => (Some(*n as i64), None, None),
        SqlType::Text => (Some(256), None, None),
        SqlType::SmallInt => (None, Some(16), Some(0)),
        SqlType::Integer => (None, Some(32), Some(0)),
        SqlType::BigInt => (None, Some(64), Some(0)),
        SqlType::Real => (None, Some(24), None),
        SqlType::Double => (None, Some(53), None),
        SqlType::Decimal { precision, scale } => (None, Some(*precision as i64), Some(*scale as i64)),
        _ => (None, None, None),
    }
}

async fn columns_table(shared: &SessionShared, state: &CatalogState) -> Result<Arc<dyn TableProvider>> {
    let mut rows = Vec::new();
    for schema in state.schemas.values() {
        for relation in state.relations_in(schema.id) {
            let columns: Vec<(String, SqlType, bool, Option<String>)> = match relation {
                Relation::Table(t) => {
                    t.columns.iter().map(|c| (c.name.clone(), c.sql_type, c.nullable, c.default.clone())).collect()
                }
                // A view broken by a dropped table still lists, without columns.
                Relation::View(v) => view_columns(shared, &schema.name, &v.name).await.unwrap_or_default(),
            };
            for (position, (name, sql_type, nullable, default)) in columns.into_iter().enumerate() {
                let (length, precision, scale) = type_facets(&sql_type);
                rows.push(vec![
                    text(CATALOG_NAME),
                    text(&schema.name),
                    text(relation.name()),
                    text(name),
                    int(position as i64 + 1),
                    opt_text(default),
                    text(if nullable { "YES" } else { "NO" }),
                    text(type_name(&sql_type)),
                    opt_int(length),
                    opt_int(precision),
                    opt_int(scale),
                ]);
            }
        }
    }
    table_of(
        vec![
            field("table_catalog", DataType::Utf8),
            field("table_schema", DataType::Utf8),
            field("table_name", DataType::Utf8),
            field("column_name", DataType::Utf8),
            field("ordinal_position", DataType::Int64),
            field("column_default", DataType::Utf8),
            field("is_nullable", DataType::Utf8),
            field("data_type", DataType::Utf8),
            field("character_maximum_length", DataType::Int64),
            field("numeric_precision", DataType::Int64),
            field("numeric_scale", DataType::Int64),
        ],
        rows,
    )
}

/// Columns of a view, from planning its query.
pub(crate) async fn view_columns(
    shared: &SessionShared,
    schema: &str,
    view: &str,
) -> Result<Vec<(String, SqlType, bool, Option<String>)>> {
    let state = shared.session_state()?;
    let reference = datafusion::common::TableReference::full(CATALOG_NAME, schema, view);
    let provider = state
        .schema_for_ref(reference)?
        .table(view)
        .await?
        .ok_or_else(|| Error::Invalid(format!("view \"{schema}.{view}\" does not exist")))?;
    provider
        .schema()
        .fields()
        .iter()
        .map(|f| Ok((f.name().clone(), SqlType::of_field(f)?, f.is_nullable(), None)))
        .collect()
}

fn constraints_table(state: &CatalogState, key_columns: bool) -> Result<Arc<dyn TableProvider>> {
    let mut rows = Vec::new();
    for (schema, table) in sorted_tables(state) {
        for key in table.keys() {
            let (name, kind, columns) = (key.name, if key.primary { "PRIMARY KEY" } else { "UNIQUE" }, key.columns);
            if key_columns {
                for (i, column) in columns.iter().enumerate() {
                    rows.push(vec![text(schema), text(&table.name), text(&name), text(column), int(i as i64 + 1)]);
                }
            } else {
                rows.push(vec![text(schema), text(&table.name), text(&name), text(kind)]);
            }
        }
    }
    let fields = if key_columns {
        vec![
            field("table_schema", DataType::Utf8),
            field("table_name", DataType::Utf8),
            field("constraint_name", DataType::Utf8),
            field("column_name", DataType::Utf8),
            field("ordinal_position", DataType::Int64),
        ]
    } else {
        vec![
            field("table_schema", DataType::Utf8),
            field("table_name", DataType::Utf8),
            field("constraint_name", DataType::Utf8),
            field("constraint_type", DataType::Utf8),
        ]
    };
    table_of(fields, rows)
}
