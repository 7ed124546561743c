//! [`CatalogStore`] over a SQL database: the catalog's statements, written once for every
//! backend ([`crate::sqlite`], [`crate::postgres`]) in the SQL they share.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::db::{Connection, Row, TxMode, Value, params, transaction};
use crate::engines::Liveness;
use crate::lineage::{LineageKind, LineageObject, LineageRecord};
use crate::model::{
    CatalogOp, CatalogState, ColumnDef, DEFAULT_SCHEMA, DataFile, FileStats, ObjectId, SchemaDef, SnapshotId,
    SnapshotInfo, TableDef, ViewDef,
};
use crate::txn::Transaction;
use crate::types::SqlType;
use crate::{CatalogStore, Error, LoadCommit, LoadError, QueryRecord, Result, now};

/// A catalog kept in a SQL database: SQLite ([`SqlCatalog::sqlite`], embedded, the default) or
/// PostgreSQL ([`SqlCatalog::postgres`], shared by processes on several machines).
pub struct SqlCatalog {
    location: String,
    backend: Backend,
    conn: Mutex<Box<dyn Connection>>,
    /// How this catalog tells which engines run.
    liveness: Liveness,
}

/// The database a [`SqlCatalog`] is kept in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Every table of the catalog.
const TABLES: &[&str] = &[
    "tarn_metadata",
    "tarn_snapshot",
    "tarn_schema",
    "tarn_table",
    "tarn_column",
    "tarn_view",
    "tarn_data_file",
    "tarn_load_error",
    "tarn_load_commit",
    "tarn_lake_database",
    "tarn_lake_schema",
    "tarn_lake_table",
    "tarn_lake_table_version",
    "tarn_lake_partition",
    "tarn_lake_file_stats",
    "tarn_access",
    "tarn_query",
    "tarn_table_usage",
    "tarn_lineage",
    "tarn_lineage_source",
];

/// Metadata rows that belong to one database, never copied: its schema version and the row
/// PostgreSQL writers lock.
const OWN_METADATA: &str = "('schema_version', 'write_lock')";

/// What [`SqlCatalog::copy_from`] copied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyReport {
    /// The catalog copied into (without its password).
    pub location: String,
    pub tables: usize,
    pub rows: u64,
    /// The newest snapshot, now the target's too.
    pub snapshot: SnapshotId,
}

impl std::fmt::Debug for SqlCatalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlCatalog").field("location", &self.location).finish_non_exhaustive()
    }
}

impl SqlCatalog {
    pub(crate) fn new(location: String, backend: Backend, conn: Box<dyn Connection>, liveness: Liveness) -> Self {
        SqlCatalog { location, backend, conn: Mutex::new(conn), liveness }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// What orders rows of the load tables by insertion: SQLite's `rowid`, an identity column
    /// in PostgreSQL.
    fn insertion_order(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "rowid",
            Backend::Postgres => "row_order",
        }
    }

    /// The columns of a catalog table, in order (without PostgreSQL's insertion order).
    fn columns(&self, conn: &mut dyn Connection, table: &str) -> Result<Vec<String>> {
        let sql = match self.backend {
            Backend::Sqlite => "SELECT name FROM pragma_table_info(?1) ORDER BY cid",
            Backend::Postgres => {
                "SELECT CAST(column_name AS TEXT) FROM information_schema.columns
                 WHERE table_schema = current_schema() AND table_name = ?1 AND column_name <> 'row_order'
                 ORDER BY ordinal_position"
            }
        };
        conn.query(sql, params![table])?.into_iter().map(|r| r.get(0)).collect()
    }

    /// Copies every row of `source` into this catalog, which must be new (nothing but what
    /// opening it created): `tarn catalog migrate` moves a warehouse's SQLite catalog into
    /// PostgreSQL this way. One transaction on each side: the copy is a committed state of
    /// `source`, and this catalog has all of it or nothing.
    pub fn copy_from(&self, source: &SqlCatalog) -> Result<CopyReport> {
        self.write(|target| {
            let new: bool = target.query_value(
                "SELECT (SELECT count(*) FROM tarn_snapshot) = 1 AND (SELECT count(*) FROM tarn_schema) = 1
                    AND NOT EXISTS (SELECT 1 FROM tarn_lake_database) AND NOT EXISTS (SELECT 1 FROM tarn_query)
                    AND NOT EXISTS (SELECT 1 FROM tarn_load_commit) AND NOT EXISTS (SELECT 1 FROM tarn_lineage)
                    AND (SELECT version FROM tarn_access WHERE id = 1) = 0",
                params![],
            )?;
            if !new {
                return Err(Error::AlreadyExists(format!(
                    "catalog {} is not empty: a catalog is copied only into a new one",
                    self.location
                )));
            }
            source.read(|from| {
                let mut rows = 0;
                for table in TABLES {
                    let columns = self.columns(target, table)?;
                    let list = columns.join(", ");
                    let order = match *table {
                        "tarn_load_error" | "tarn_load_commit" => format!(" ORDER BY {}", source.insertion_order()),
                        _ => String::new(),
                    };
                    let (delete, select) = match *table {
                        "tarn_metadata" => (
                            format!("DELETE FROM tarn_metadata WHERE key NOT IN {OWN_METADATA}"),
                            format!("SELECT {list} FROM tarn_metadata WHERE key NOT IN {OWN_METADATA}"),
                        ),
                        _ => (format!("DELETE FROM {table}"), format!("SELECT {list} FROM {table}{order}")),
                    };
                    target.execute(&delete, params![])?;
                    let placeholders: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
                    let insert = format!("INSERT INTO {table} ({list}) VALUES ({})", placeholders.join(", "));
                    for row in from.query(&select, params![])? {
                        target.execute(&insert, &row.0)?;
                        rows += 1;
                    }
                }
                if self.backend == Backend::Postgres {
                    // Identity columns go on after the copied ids.
                    for (table, column) in [("tarn_data_file", "data_file_id"), ("tarn_lineage", "lineage_id")] {
                        target.query(
                            &format!(
                                "SELECT setval(pg_get_serial_sequence('{table}', '{column}'),
                                     (SELECT COALESCE(max({column}), 0) + 1 FROM {table}), false)"
                            ),
                            params![],
                        )?;
                    }
                }
                Ok(CopyReport {
                    location: self.location.clone(),
                    tables: TABLES.len(),
                    rows,
                    snapshot: latest(target)?,
                })
            })
        })
    }

    /// Where the catalog is: a file path or a PostgreSQL address (without its password).
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Runs `f` on the connection, outside any transaction of ours (each statement commits).
    pub(crate) fn with_conn<T>(&self, f: impl FnOnce(&mut dyn Connection) -> Result<T>) -> Result<T> {
        let mut conn = self.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        f(conn.as_mut())
    }

    /// Runs `f` in a write transaction: writers of every process go one after the other,
    /// readers go on reading what was committed before.
    pub(crate) fn write<T>(&self, f: impl FnOnce(&mut dyn Connection) -> Result<T>) -> Result<T> {
        self.with_conn(|conn| transaction(conn, TxMode::Write, f))
    }

    /// Runs `f` in a read transaction: everything it reads comes from one committed state.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&mut dyn Connection) -> Result<T>) -> Result<T> {
        self.with_conn(|conn| transaction(conn, TxMode::Read, f))
    }

    /// Every row of a query, each converted by `f`.
    pub(crate) fn rows<T>(&self, sql: &str, params: &[Value], f: impl FnMut(Row) -> Result<T>) -> Result<Vec<T>> {
        self.with_conn(|conn| conn.query(sql, params)?.into_iter().map(f).collect())
    }
}

/// Applies the `migrations` a catalog's database has not run yet (all of them to a new one,
/// which then gets its first state from [`initialize`]), in one schema transaction.
pub(crate) fn migrate(conn: &mut dyn Connection, migrations: &[&str], location: &str, owner: &str) -> Result<()> {
    let supported = migrations.len() as i64;
    transaction(conn, TxMode::Schema, |tx| {
        let version = tx.schema_version()?;
        if version > supported {
            return Err(Error::TooNew { location: location.to_string(), found: version, supported });
        }
        for migration in &migrations[version as usize..] {
            tx.batch(migration)?;
        }
        if version == 0 {
            initialize(tx, owner)?;
        }
        tx.set_schema_version(supported)
    })
}

/// The first state of a new catalog: snapshot 0 with the `public` schema, owned by `owner`.
fn initialize(conn: &mut dyn Connection, owner: &str) -> Result<()> {
    let time = now();
    conn.execute(
        "INSERT INTO tarn_snapshot VALUES (0, ?1, ?2, ?3)",
        params![&time, owner, format!("created_schema:\"{DEFAULT_SCHEMA}\"")],
    )?;
    let id = allocate(conn, 1)?;
    conn.execute(
        "INSERT INTO tarn_schema VALUES (?1, 0, NULL, ?2, ?3, NULL, ?4)",
        params![id, DEFAULT_SCHEMA, owner, time],
    )?;
    Ok(())
}

/// Writes lineage records; `snapshot` replaces theirs (a commit's new snapshot).
fn insert_lineage(tx: &mut dyn Connection, records: &[LineageRecord], snapshot: Option<SnapshotId>) -> Result<()> {
    for r in records {
        let id: i64 = tx.query_value(
            "INSERT INTO tarn_lineage (snapshot_id, time, userid, statement, target_kind, target, target_id, querytxt)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING lineage_id",
            params![
                snapshot.unwrap_or(r.snapshot),
                &r.time,
                &r.userid,
                &r.statement,
                r.target.kind.as_str(),
                &r.target.name,
                r.target.id,
                &r.querytxt
            ],
        )?;
        for (position, s) in r.sources.iter().enumerate() {
            tx.execute(
                "INSERT INTO tarn_lineage_source VALUES (?1, ?2, ?3, ?4, ?5)",
                params![id, position as i64, s.kind.as_str(), &s.name, s.id],
            )?;
        }
    }
    Ok(())
}

fn lineage_object(kind: String, name: String, id: Option<ObjectId>) -> Result<LineageObject> {
    let kind = LineageKind::parse(&kind).ok_or_else(|| Error::Corrupt(format!("lineage kind {kind:?}")))?;
    Ok(LineageObject { kind, name, id })
}

const LIVE: &str = "begin_snapshot <= ?1 AND (end_snapshot IS NULL OR end_snapshot > ?1)";

pub(crate) fn allocate(tx: &mut dyn Connection, count: i64) -> Result<ObjectId> {
    let next: i64 = tx.query_value(
        "UPDATE tarn_metadata SET value = CAST(CAST(value AS BIGINT) + ?1 AS TEXT) WHERE key = 'next_object_id'
         RETURNING CAST(value AS BIGINT)",
        params![count],
    )?;
    Ok(next - count)
}

/// A JSON column: `None` stays NULL.
fn json_column<T: serde::de::DeserializeOwned>(text: Option<String>, what: &str) -> Result<Option<T>> {
    text.map(|text| serde_json::from_str(&text))
        .transpose()
        .map_err(|e| Error::Corrupt(format!("{what} does not decode: {e}")))
}

fn load_state(conn: &mut dyn Connection, snapshot: SnapshotId) -> Result<CatalogState> {
    let mut state = CatalogState { snapshot, ..Default::default() };
    let at = params![snapshot];

    let sql = format!("SELECT schema_id, schema_name, owner, comment, created_at FROM tarn_schema WHERE {LIVE}");
    for r in conn.query(&sql, at)? {
        let s =
            SchemaDef { id: r.get(0)?, name: r.get(1)?, owner: r.get(2)?, comment: r.get(3)?, created_at: r.get(4)? };
        state.schemas.insert(s.id, s);
    }

    let sql = format!(
        "SELECT table_id, schema_id, table_name, path, owner, comment, created_at, sort_key FROM tarn_table WHERE {LIVE}"
    );
    for r in conn.query(&sql, at)? {
        let t = TableDef {
            id: r.get(0)?,
            schema_id: r.get(1)?,
            name: r.get(2)?,
            path: r.get(3)?,
            owner: r.get(4)?,
            comment: r.get(5)?,
            created_at: r.get(6)?,
            columns: Vec::new(),
            sort_key: json_column(r.get(7)?, "a sort key")?,
        };
        state.tables.insert(t.id, t);
    }

    let sql = format!(
        "SELECT table_id, column_name, column_type, default_value, nulls_allowed, is_primary_key, is_unique, comment
         FROM tarn_column WHERE {LIVE} ORDER BY table_id, column_order"
    );
    for r in conn.query(&sql, at)? {
        let table_id: ObjectId = r.get(0)?;
        let type_text: String = r.get(2)?;
        let column = ColumnDef {
            name: r.get(1)?,
            sql_type: SqlType::parse(&type_text)
                .map_err(|e| Error::Corrupt(format!("column type of table {table_id}: {e}")))?,
            default: r.get(3)?,
            nullable: r.get(4)?,
            primary_key: r.get(5)?,
            unique: r.get::<Option<u32>>(6)?.filter(|n| *n != 0),
            comment: r.get(7)?,
        };
        let table = state
            .tables
            .get_mut(&table_id)
            .ok_or_else(|| Error::Corrupt(format!("columns of missing table {table_id}")))?;
        table.columns.push(column);
    }

    let sql = format!(
        "SELECT view_id, schema_id, view_name, sql, column_aliases, owner, comment, created_at FROM tarn_view WHERE {LIVE}"
    );
    for r in conn.query(&sql, at)? {
        let aliases: String = r.get(4)?;
        let v = ViewDef {
            id: r.get(0)?,
            schema_id: r.get(1)?,
            name: r.get(2)?,
            sql: r.get(3)?,
            column_aliases: serde_json::from_str(&aliases).unwrap_or_default(),
            owner: r.get(5)?,
            comment: r.get(6)?,
            created_at: r.get(7)?,
        };
        state.views.insert(v.id, v);
    }
    Ok(state)
}

fn latest(conn: &mut dyn Connection) -> Result<SnapshotId> {
    conn.query_value("SELECT max(snapshot_id) FROM tarn_snapshot", params![])
}

/// Ends the live row(s) of an object in `table` at snapshot `s`.
fn end_rows(tx: &mut dyn Connection, table: &str, id_column: &str, id: ObjectId, s: SnapshotId) -> Result<()> {
    tx.execute(
        &format!("UPDATE {table} SET end_snapshot = ?1 WHERE {id_column} = ?2 AND end_snapshot IS NULL"),
        params![s, id],
    )?;
    Ok(())
}

fn insert_schema(tx: &mut dyn Connection, def: &SchemaDef, s: SnapshotId) -> Result<()> {
    tx.execute(
        "INSERT INTO tarn_schema VALUES (?1, ?2, NULL, ?3, ?4, ?5, ?6)",
        params![def.id, s, &def.name, &def.owner, &def.comment, &def.created_at],
    )?;
    Ok(())
}

fn insert_table(tx: &mut dyn Connection, def: &TableDef, s: SnapshotId) -> Result<()> {
    let sort_key = def
        .sort_key
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| Error::Corrupt(format!("cannot encode the sort key of table {}: {e}", def.name)))?;
    tx.execute(
        "INSERT INTO tarn_table VALUES (?1, ?2, NULL, ?3, ?4, ?5, 1, ?6, ?7, ?8, ?9)",
        params![def.id, s, def.schema_id, &def.name, &def.path, &def.owner, &def.comment, &def.created_at, sort_key],
    )?;
    for (order, c) in def.columns.iter().enumerate() {
        tx.execute(
            "INSERT INTO tarn_column VALUES (?1, ?2, NULL, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                def.id,
                s,
                order as i64,
                &c.name,
                c.sql_type.to_string(),
                &c.default,
                c.nullable,
                c.primary_key,
                c.unique.unwrap_or(0),
                &c.comment
            ],
        )?;
    }
    Ok(())
}

fn insert_view(tx: &mut dyn Connection, def: &ViewDef, s: SnapshotId) -> Result<()> {
    let aliases = serde_json::to_string(&def.column_aliases).expect("strings serialize");
    tx.execute(
        "INSERT INTO tarn_view VALUES (?1, ?2, NULL, ?3, ?4, 'redshift', ?5, ?6, ?7, ?8, ?9)",
        params![def.id, s, def.schema_id, &def.name, &def.sql, aliases, &def.owner, &def.comment, &def.created_at],
    )?;
    Ok(())
}

/// DuckLake-style `changes_made` text of a transaction.
fn describe_changes(txn: &Transaction) -> String {
    let state = txn.state();
    let base = txn.base();
    let qualified = |schema_id: ObjectId, name: &str| {
        let schema = state
            .schemas
            .get(&schema_id)
            .or_else(|| base.schemas.get(&schema_id))
            .map(|s| s.name.as_str())
            .unwrap_or("?");
        format!("\"{schema}\".\"{name}\"")
    };
    let mut changes: Vec<String> = txn
        .ops()
        .iter()
        .map(|op| match op {
            CatalogOp::CreateSchema(s) => format!("created_schema:\"{}\"", s.name),
            CatalogOp::AlterSchema(s) => format!("altered_schema:{}", s.id),
            CatalogOp::DropSchema(id) => format!("dropped_schema:{id}"),
            CatalogOp::CreateTable(t) => {
                format!("created_table:{}", qualified(t.schema_id, &t.name))
            }
            CatalogOp::AlterTable(t) => format!("altered_table:{}", t.id),
            CatalogOp::DropTable(id) => format!("dropped_table:{id}"),
            CatalogOp::CreateView(v) => format!("created_view:{}", qualified(v.schema_id, &v.name)),
            CatalogOp::AlterView(v) => format!("altered_view:{}", v.id),
            CatalogOp::DropView(id) => format!("dropped_view:{id}"),
        })
        .collect();
    for (table_id, files) in txn.files() {
        if !files.added.is_empty() {
            changes.push(format!("inserted_into_table:{table_id}"));
        }
        if !files.removed.is_empty() {
            changes.push(format!("deleted_from_table:{table_id}"));
        }
    }
    changes.join(",")
}

/// Checks `txn` against what committed after its base (`head` is the newest snapshot).
fn check_conflicts(tx: &mut dyn Connection, txn: &Transaction, head: SnapshotId) -> Result<()> {
    let base = txn.base_snapshot();
    let mut newest = load_state(tx, head)?;
    for table_id in txn.rewritten_tables() {
        let changed: bool = tx.query_value(
            "SELECT EXISTS (SELECT 1 FROM tarn_data_file WHERE table_id = ?1 AND (begin_snapshot > ?2 OR end_snapshot > ?2))
                 OR EXISTS (SELECT 1 FROM tarn_table WHERE table_id = ?1 AND (begin_snapshot > ?2 OR end_snapshot > ?2))",
            params![table_id, base],
        )?;
        if changed {
            let name =
                txn.base().tables.get(&table_id).map(|t| format!("{}.{}", txn.base().schema_name(t.schema_id), t.name));
            return Err(Error::Conflict(format!(
                "table \"{}\" was changed by a concurrent transaction",
                name.unwrap_or_else(|| table_id.to_string())
            )));
        }
    }
    for op in txn.ops() {
        newest.apply(op).map_err(|e| Error::Conflict(format!("a concurrent transaction committed first: {e}")))?;
    }
    for table_id in txn.files().keys() {
        if !newest.tables.contains_key(table_id) {
            return Err(Error::Conflict(format!("table {table_id} was dropped by a concurrent transaction")));
        }
    }
    Ok(())
}

/// Writes `txn` as snapshot `snapshot`.
fn write_transaction(tx: &mut dyn Connection, txn: &Transaction, snapshot: SnapshotId, author: &str) -> Result<()> {
    for op in txn.ops() {
        match op {
            CatalogOp::CreateSchema(def) => insert_schema(tx, def, snapshot)?,
            CatalogOp::AlterSchema(def) => {
                end_rows(tx, "tarn_schema", "schema_id", def.id, snapshot)?;
                insert_schema(tx, def, snapshot)?;
            }
            CatalogOp::DropSchema(id) => end_rows(tx, "tarn_schema", "schema_id", *id, snapshot)?,
            CatalogOp::CreateTable(def) => insert_table(tx, def, snapshot)?,
            CatalogOp::AlterTable(def) => {
                end_rows(tx, "tarn_table", "table_id", def.id, snapshot)?;
                end_rows(tx, "tarn_column", "table_id", def.id, snapshot)?;
                insert_table(tx, def, snapshot)?;
            }
            CatalogOp::DropTable(id) => {
                end_rows(tx, "tarn_table", "table_id", *id, snapshot)?;
                end_rows(tx, "tarn_column", "table_id", *id, snapshot)?;
                end_rows(tx, "tarn_data_file", "table_id", *id, snapshot)?;
            }
            CatalogOp::CreateView(def) => insert_view(tx, def, snapshot)?,
            CatalogOp::AlterView(def) => {
                end_rows(tx, "tarn_view", "view_id", def.id, snapshot)?;
                insert_view(tx, def, snapshot)?;
            }
            CatalogOp::DropView(id) => end_rows(tx, "tarn_view", "view_id", *id, snapshot)?,
        }
    }
    for (table_id, files) in txn.files() {
        for file_id in &files.removed {
            let ended = tx.execute(
                "UPDATE tarn_data_file SET end_snapshot = ?1 WHERE data_file_id = ?2 AND table_id = ?3 AND end_snapshot IS NULL",
                params![snapshot, *file_id, *table_id],
            )?;
            if ended != 1 {
                // No longer live: another transaction removed it first.
                return Err(Error::Conflict("a data file was removed by a concurrent transaction".into()));
            }
        }
        for f in &files.added {
            let stats = f
                .stats
                .as_ref()
                .map(serde_json::to_string)
                .transpose()
                .map_err(|e| Error::Corrupt(format!("cannot encode the statistics of {}: {e}", f.path)))?;
            tx.execute(
                "INSERT INTO tarn_data_file (table_id, begin_snapshot, path, file_format, record_count, file_size_bytes, footer_size, column_stats)
                 VALUES (?1, ?2, ?3, 'parquet', ?4, ?5, ?6, ?7)",
                params![
                    *table_id,
                    snapshot,
                    &f.path,
                    f.record_count as i64,
                    f.file_size_bytes as i64,
                    f.footer_size as i64,
                    stats
                ],
            )?;
        }
    }
    tx.execute(
        "INSERT INTO tarn_snapshot VALUES (?1, ?2, ?3, ?4)",
        params![snapshot, now(), author, describe_changes(txn)],
    )?;
    insert_lineage(tx, txn.lineage(), Some(snapshot))
}

fn data_file(r: &Row, table_id: Option<ObjectId>) -> Result<DataFile> {
    // Columns: data_file_id, table_id, path, record_count, file_size_bytes, begin_snapshot,
    // end_snapshot, column_stats.
    Ok(DataFile {
        id: r.get(0)?,
        table_id: match table_id {
            Some(id) => id,
            None => r.get(1)?,
        },
        path: r.get(2)?,
        record_count: r.get::<i64>(3)? as u64,
        file_size_bytes: r.get::<i64>(4)? as u64,
        begin_snapshot: r.get(5)?,
        end_snapshot: r.get(6)?,
        // Unreadable statistics (written by a newer tarn, say) are as good as none: the planner
        // then reads the file's footer.
        stats: r.get::<Option<String>>(7)?.and_then(|json| serde_json::from_str::<FileStats>(&json).ok()),
    })
}

const DATA_FILE_COLUMNS: &str =
    "data_file_id, table_id, path, record_count, file_size_bytes, begin_snapshot, end_snapshot, column_stats";

impl CatalogStore for SqlCatalog {
    fn latest_snapshot(&self) -> Result<SnapshotId> {
        self.with_conn(latest)
    }

    fn load_state(&self, snapshot: SnapshotId) -> Result<CatalogState> {
        self.read(|conn| load_state(conn, snapshot))
    }

    fn data_files(&self, table_id: ObjectId, snapshot: SnapshotId) -> Result<Vec<DataFile>> {
        self.rows(
            &format!(
                "SELECT {DATA_FILE_COLUMNS} FROM tarn_data_file WHERE table_id = ?2 AND {LIVE} ORDER BY data_file_id"
            ),
            params![snapshot, table_id],
            |r| data_file(&r, Some(table_id)),
        )
    }

    fn allocate_ids(&self, count: i64) -> Result<ObjectId> {
        self.write(|tx| allocate(tx, count))
    }

    fn commit(&self, txn: &Transaction, author: &str) -> Result<SnapshotId> {
        if txn.is_empty() {
            let base = txn.base_snapshot();
            let records: Vec<LineageRecord> =
                txn.lineage().iter().map(|r| LineageRecord { snapshot: base, ..r.clone() }).collect();
            self.record_lineage(&records)?;
            return Ok(base);
        }
        // The write transaction serializes commits across processes; readers go on reading the
        // previous snapshot.
        self.write(|tx| {
            if txn.written_epoch().is_some_and(|epoch| epoch != tx.reconnections()) {
                return Err(Error::Conflict(
                    "the connection to the catalog was lost while the transaction wrote its files (other processes \
                     may have taken this one for gone and removed them)"
                        .into(),
                ));
            }
            let head = latest(tx)?;
            if head != txn.base_snapshot() {
                // Someone committed since this transaction began: check it against their changes.
                check_conflicts(tx, txn, head)?;
            }
            let snapshot = head + 1;
            write_transaction(tx, txn, snapshot, author)?;
            Ok(snapshot)
        })
    }

    fn snapshot_at_time(&self, time: &str) -> Result<Option<SnapshotId>> {
        self.with_conn(|conn| {
            conn.query_value("SELECT max(snapshot_id) FROM tarn_snapshot WHERE snapshot_time <= ?1", params![time])
        })
    }

    fn snapshots(&self) -> Result<Vec<SnapshotInfo>> {
        self.rows(
            "SELECT snapshot_id, snapshot_time, author, changes_made FROM tarn_snapshot ORDER BY snapshot_id",
            params![],
            |r| Ok(SnapshotInfo { id: r.get(0)?, time: r.get(1)?, author: r.get(2)?, changes: r.get(3)? }),
        )
    }

    fn table_modified_at(&self, table_id: ObjectId, snapshot: SnapshotId) -> Result<Option<String>> {
        self.with_conn(|conn| {
            let row = conn.query_opt(
                "SELECT snapshot_time FROM tarn_snapshot WHERE snapshot_id = (
                   SELECT max(s) FROM (
                     SELECT begin_snapshot AS s FROM tarn_table WHERE table_id = ?1
                     UNION ALL SELECT begin_snapshot FROM tarn_data_file WHERE table_id = ?1
                     UNION ALL SELECT end_snapshot FROM tarn_data_file WHERE table_id = ?1) AS changes
                   WHERE s <= ?2)",
                params![table_id, snapshot],
            )?;
            row.map(|r| r.get(0)).transpose()
        })
    }

    fn expire_snapshots(&self, cutoff: &str) -> Result<Vec<String>> {
        self.write(|tx| {
            let oldest_kept: Option<SnapshotId> = tx
                .query_value("SELECT max(snapshot_id) FROM tarn_snapshot WHERE snapshot_time <= ?1", params![cutoff])?;
            let Some(oldest_kept) = oldest_kept else { return Ok(Vec::new()) };
            let expired = tx
                .query("SELECT path FROM tarn_data_file WHERE end_snapshot <= ?1", params![oldest_kept])?
                .into_iter()
                .map(|r| r.get(0))
                .collect::<Result<Vec<String>>>()?;
            for table in ["tarn_data_file", "tarn_column", "tarn_table", "tarn_view", "tarn_schema"] {
                tx.execute(&format!("DELETE FROM {table} WHERE end_snapshot <= ?1"), params![oldest_kept])?;
            }
            tx.execute("DELETE FROM tarn_snapshot WHERE snapshot_id < ?1", params![oldest_kept])?;
            Ok(expired)
        })
    }

    fn next_query_id(&self) -> Result<i64> {
        self.write(|tx| take_query_ids(tx, 1))
    }

    fn record_load(&self, errors: &[LoadError], files: &[LoadCommit]) -> Result<()> {
        self.write(|tx| {
            for e in errors {
                tx.execute(
                    "INSERT INTO tarn_load_error (query, userid, tbl, starttime, session, filename, line_number, colname,
                         type, col_length, position, raw_line, raw_field_value, err_code, err_reason)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
                    params![
                        e.query,
                        &e.userid,
                        e.tbl,
                        &e.starttime,
                        e.session,
                        &e.filename,
                        e.line_number,
                        &e.colname,
                        &e.col_type,
                        &e.col_length,
                        e.position,
                        &e.raw_line,
                        &e.raw_field_value,
                        e.err_code,
                        &e.err_reason
                    ],
                )?;
            }
            for f in files {
                tx.execute(
                    "INSERT INTO tarn_load_commit (query, userid, tbl, filename, lines_scanned, curtime, status)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![f.query, &f.userid, f.tbl, &f.filename, f.lines_scanned, &f.curtime, &f.status],
                )?;
            }
            Ok(())
        })
    }

    fn record_queries(&self, queries: &[QueryRecord]) -> Result<()> {
        if queries.is_empty() {
            return Ok(());
        }
        self.write(|tx| {
            let first = take_query_ids(tx, queries.len() as i64)?;
            for (i, q) in queries.iter().enumerate() {
                tx.execute(
                    "INSERT INTO tarn_query VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    params![
                        first + i as i64,
                        &q.userid,
                        q.pid,
                        &q.querytxt,
                        &q.starttime,
                        &q.endtime,
                        q.rows,
                        &q.status,
                        &q.error
                    ],
                )?;
            }
            Ok(())
        })
    }

    fn record_lineage(&self, records: &[LineageRecord]) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        self.write(|tx| insert_lineage(tx, records, None))
    }

    fn lineage(&self) -> Result<Vec<LineageRecord>> {
        self.read(|conn| {
            let mut sources: HashMap<i64, Vec<LineageObject>> = HashMap::new();
            for row in conn.query(
                "SELECT lineage_id, source_kind, source, source_id FROM tarn_lineage_source ORDER BY lineage_id, position",
                params![],
            )? {
                sources.entry(row.get(0)?).or_default().push(lineage_object(row.get(1)?, row.get(2)?, row.get(3)?)?);
            }
            conn.query(
                "SELECT lineage_id, snapshot_id, time, userid, statement, target_kind, target, target_id, querytxt
                 FROM tarn_lineage ORDER BY lineage_id",
                params![],
            )?
            .into_iter()
            .map(|r| {
                let id: i64 = r.get(0)?;
                Ok(LineageRecord {
                    id,
                    snapshot: r.get(1)?,
                    time: r.get(2)?,
                    userid: r.get(3)?,
                    statement: r.get(4)?,
                    target: lineage_object(r.get(5)?, r.get(6)?, r.get(7)?)?,
                    sources: sources.remove(&id).unwrap_or_default(),
                    querytxt: r.get(8)?,
                })
            })
            .collect()
        })
    }

    fn record_reads(&self, reads: &[(ObjectId, u64, String)]) -> Result<()> {
        if reads.is_empty() {
            return Ok(());
        }
        self.write(|tx| {
            for (table, count, last) in reads {
                tx.execute(
                    "INSERT INTO tarn_table_usage VALUES (?1, ?2, ?3) ON CONFLICT (table_id) DO UPDATE
                     SET reads = tarn_table_usage.reads + excluded.reads,
                         last_read = CASE WHEN excluded.last_read > tarn_table_usage.last_read
                                          THEN excluded.last_read ELSE tarn_table_usage.last_read END",
                    params![*table, *count as i64, last],
                )?;
            }
            Ok(())
        })
    }

    fn table_reads(&self) -> Result<HashMap<ObjectId, (i64, String)>> {
        let rows = self.rows("SELECT table_id, reads, last_read FROM tarn_table_usage", params![], |r| {
            Ok((r.get(0)?, (r.get(1)?, r.get(2)?)))
        })?;
        Ok(rows.into_iter().collect())
    }

    fn queries(&self) -> Result<Vec<QueryRecord>> {
        self.rows(
            "SELECT query, userid, pid, querytxt, starttime, endtime, rows, status, error FROM tarn_query ORDER BY query",
            params![],
            |r| {
                Ok(QueryRecord {
                    query: r.get(0)?,
                    userid: r.get(1)?,
                    pid: r.get(2)?,
                    querytxt: r.get(3)?,
                    starttime: r.get(4)?,
                    endtime: r.get(5)?,
                    rows: r.get(6)?,
                    status: r.get(7)?,
                    error: r.get(8)?,
                })
            },
        )
    }

    fn trim_queries(&self, keep: Option<u64>, before: Option<&str>) -> Result<u64> {
        self.with_conn(|conn| {
            let mut gone = 0;
            if let Some(keep) = keep {
                gone += conn.execute(
                    "DELETE FROM tarn_query WHERE query NOT IN (SELECT query FROM tarn_query ORDER BY query DESC LIMIT ?1)",
                    params![keep as i64],
                )?;
            }
            if let Some(before) = before {
                gone += conn.execute("DELETE FROM tarn_query WHERE starttime < ?1", params![before])?;
            }
            Ok(gone)
        })
    }

    fn load_errors(&self) -> Result<Vec<LoadError>> {
        self.rows(
            &format!(
                "SELECT query, userid, tbl, starttime, session, filename, line_number, colname, type, col_length,
                     position, raw_line, raw_field_value, err_code, err_reason
                 FROM tarn_load_error ORDER BY {}",
                self.insertion_order()
            ),
            params![],
            |r| {
                Ok(LoadError {
                    query: r.get(0)?,
                    userid: r.get(1)?,
                    tbl: r.get(2)?,
                    starttime: r.get(3)?,
                    session: r.get(4)?,
                    filename: r.get(5)?,
                    line_number: r.get(6)?,
                    colname: r.get(7)?,
                    col_type: r.get(8)?,
                    col_length: r.get(9)?,
                    position: r.get(10)?,
                    raw_line: r.get(11)?,
                    raw_field_value: r.get(12)?,
                    err_code: r.get(13)?,
                    err_reason: r.get(14)?,
                })
            },
        )
    }

    fn load_commits(&self) -> Result<Vec<LoadCommit>> {
        self.rows(
            &format!(
                "SELECT query, userid, tbl, filename, lines_scanned, curtime, status FROM tarn_load_commit ORDER BY {}",
                self.insertion_order()
            ),
            params![],
            |r| {
                Ok(LoadCommit {
                    query: r.get(0)?,
                    userid: r.get(1)?,
                    tbl: r.get(2)?,
                    filename: r.get(3)?,
                    lines_scanned: r.get(4)?,
                    curtime: r.get(5)?,
                    status: r.get(6)?,
                })
            },
        )
    }

    fn all_data_files(&self) -> Result<Vec<DataFile>> {
        self.rows(&format!("SELECT {DATA_FILE_COLUMNS} FROM tarn_data_file ORDER BY data_file_id"), params![], |r| {
            data_file(&r, None)
        })
    }

    fn register_engine(&self, id: &str) -> Result<()> {
        self.with_conn(|conn| self.liveness.register(id, conn))
    }

    fn live_engines(&self) -> Result<std::collections::HashSet<String>> {
        self.with_conn(|conn| self.liveness.live(conn))
    }

    fn liveness_epoch(&self) -> u64 {
        // An SQLite catalog's engines hold their lock file for their whole life: always 0.
        self.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).reconnections()
    }

    fn data_location(&self, wanted: Option<&str>) -> Result<Option<String>> {
        let recorded = "SELECT value FROM tarn_metadata WHERE key = 'data_location'";
        let current: Option<String> =
            self.read(|conn| conn.query_opt(recorded, params![])?.map(|r| r.get(0)).transpose())?;
        let Some(wanted) = wanted.filter(|w| current.as_deref() != Some(*w)) else { return Ok(current) };
        self.write(|conn| {
            match conn.query_opt(recorded, params![])?.map(|r| r.get::<String>(0)).transpose()? {
                Some(current) if current != wanted => Err(Error::Invalid(format!(
                    "the warehouse keeps its data at {current}, not {wanted} (a warehouse's data location is fixed when it is created)"
                ))),
                Some(current) => Ok(Some(current)),
                None => {
                    if conn.query_opt("SELECT 1 FROM tarn_data_file", params![])?.is_some() {
                        return Err(Error::Invalid(format!(
                            "the warehouse keeps its data in its own directory (it has data files there): its data location \
                             cannot become {wanted}"
                        )));
                    }
                    conn.execute("INSERT INTO tarn_metadata (key, value) VALUES ('data_location', ?1)", params![wanted])?;
                    Ok(Some(wanted.to_string()))
                }
            }
        })
    }

    fn record_file_stats(&self, stats: &[(i64, FileStats)]) -> Result<()> {
        let rows = stats
            .iter()
            .map(|(id, s)| {
                serde_json::to_string(s)
                    .map(|json| (*id, json))
                    .map_err(|e| Error::Corrupt(format!("cannot encode statistics of data file {id}: {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        self.write(|tx| {
            for (id, json) in rows {
                tx.execute("UPDATE tarn_data_file SET column_stats = ?2 WHERE data_file_id = ?1", params![id, json])?;
            }
            Ok(())
        })
    }
}

/// Takes `count` ids from the query id sequence; returns the first.
fn take_query_ids(tx: &mut dyn Connection, count: i64) -> Result<i64> {
    tx.query_value(
        "UPDATE tarn_metadata SET value = CAST(CAST(value AS BIGINT) + ?1 AS TEXT) WHERE key = 'next_query_id'
         RETURNING CAST(value AS BIGINT) - ?1",
        params![count],
    )
}
