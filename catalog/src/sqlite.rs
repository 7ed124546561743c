//! The embedded catalog: one SQLite database (bundled, WAL) per warehouse.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Transaction as SqlTxn, TransactionBehavior, params};

use crate::lineage::{LineageKind, LineageObject, LineageRecord};
use crate::model::{
    CatalogOp, CatalogState, ColumnDef, DEFAULT_SCHEMA, DataFile, FileStats, ObjectId, SchemaDef, SnapshotId,
    SnapshotInfo, TableDef, ViewDef,
};
use crate::txn::Transaction;
use crate::types::SqlType;
use crate::{CatalogStore, Error, LoadCommit, LoadError, QueryRecord, Result, now};

/// Schema migrations, applied in order; `PRAGMA user_version` records how many ran.
/// Table layouts mirror DuckLake's (`ducklake_snapshot`, `ducklake_table`, ...).
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE tarn_metadata (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE tarn_snapshot (
    snapshot_id INTEGER PRIMARY KEY,
    snapshot_time TEXT NOT NULL,
    author TEXT NOT NULL,
    changes_made TEXT NOT NULL
);
CREATE TABLE tarn_schema (
    schema_id INTEGER NOT NULL,
    begin_snapshot INTEGER NOT NULL,
    end_snapshot INTEGER,
    schema_name TEXT NOT NULL,
    owner TEXT NOT NULL,
    comment TEXT,
    created_at TEXT NOT NULL
);
CREATE TABLE tarn_table (
    table_id INTEGER NOT NULL,
    begin_snapshot INTEGER NOT NULL,
    end_snapshot INTEGER,
    schema_id INTEGER NOT NULL,
    table_name TEXT NOT NULL,
    path TEXT NOT NULL,
    path_is_relative INTEGER NOT NULL DEFAULT 1,
    owner TEXT NOT NULL,
    comment TEXT,
    created_at TEXT NOT NULL
);
CREATE TABLE tarn_column (
    table_id INTEGER NOT NULL,
    begin_snapshot INTEGER NOT NULL,
    end_snapshot INTEGER,
    column_order INTEGER NOT NULL,
    column_name TEXT NOT NULL,
    column_type TEXT NOT NULL,
    default_value TEXT,
    nulls_allowed INTEGER NOT NULL,
    is_primary_key INTEGER NOT NULL,
    is_unique INTEGER NOT NULL,
    comment TEXT
);
CREATE TABLE tarn_view (
    view_id INTEGER NOT NULL,
    begin_snapshot INTEGER NOT NULL,
    end_snapshot INTEGER,
    schema_id INTEGER NOT NULL,
    view_name TEXT NOT NULL,
    dialect TEXT NOT NULL,
    sql TEXT NOT NULL,
    column_aliases TEXT NOT NULL,
    owner TEXT NOT NULL,
    comment TEXT,
    created_at TEXT NOT NULL
);
CREATE TABLE tarn_data_file (
    data_file_id INTEGER PRIMARY KEY,
    table_id INTEGER NOT NULL,
    begin_snapshot INTEGER NOT NULL,
    end_snapshot INTEGER,
    path TEXT NOT NULL,
    path_is_relative INTEGER NOT NULL DEFAULT 1,
    file_format TEXT NOT NULL,
    record_count INTEGER NOT NULL,
    file_size_bytes INTEGER NOT NULL,
    footer_size INTEGER NOT NULL
);
CREATE INDEX tarn_data_file_table ON tarn_data_file (table_id, end_snapshot);
CREATE INDEX tarn_table_live ON tarn_table (end_snapshot);
INSERT INTO tarn_metadata VALUES ('next_object_id', '1');
"#,
    r#"
CREATE TABLE tarn_load_error (
    query INTEGER NOT NULL,
    userid TEXT NOT NULL,
    tbl INTEGER NOT NULL,
    starttime TEXT NOT NULL,
    session INTEGER NOT NULL,
    filename TEXT NOT NULL,
    line_number INTEGER NOT NULL,
    colname TEXT NOT NULL,
    type TEXT NOT NULL,
    col_length TEXT NOT NULL,
    position INTEGER NOT NULL,
    raw_line TEXT NOT NULL,
    raw_field_value TEXT NOT NULL,
    err_code INTEGER NOT NULL,
    err_reason TEXT NOT NULL
);
CREATE TABLE tarn_load_commit (
    query INTEGER NOT NULL,
    userid TEXT NOT NULL,
    tbl INTEGER NOT NULL,
    filename TEXT NOT NULL,
    lines_scanned INTEGER NOT NULL,
    curtime TEXT NOT NULL,
    status TEXT NOT NULL
);
INSERT INTO tarn_metadata VALUES ('next_query_id', '1');
"#,
    // 3: the lake catalog (Glue's model); definitions are JSON, partitions one row each.
    r#"
CREATE TABLE tarn_lake_database (
    name TEXT PRIMARY KEY,
    definition TEXT NOT NULL
);
CREATE TABLE tarn_lake_schema (
    name TEXT PRIMARY KEY,
    database TEXT NOT NULL,
    definition TEXT NOT NULL
);
CREATE TABLE tarn_lake_table (
    id INTEGER PRIMARY KEY,
    database TEXT NOT NULL,
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    definition TEXT NOT NULL,
    UNIQUE (database, name)
);
CREATE TABLE tarn_lake_table_version (
    table_id INTEGER NOT NULL,
    version INTEGER NOT NULL,
    archived TEXT NOT NULL,
    definition TEXT NOT NULL,
    PRIMARY KEY (table_id, version)
);
CREATE TABLE tarn_lake_partition (
    table_id INTEGER NOT NULL,
    spec TEXT NOT NULL,
    definition TEXT NOT NULL,
    PRIMARY KEY (table_id, spec)
);
INSERT INTO tarn_metadata VALUES ('lake_version', '0');
"#,
    // 4: access control: users, groups, roles, grants, as one JSON document.
    r#"
CREATE TABLE tarn_access (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL, state TEXT NOT NULL);
INSERT INTO tarn_access VALUES (1, 0, '{"users":{},"groups":{},"roles":{},"grants":[],"defaults":[]}');
"#,
    // 5: sort keys of managed tables (JSON, NULL for none).
    r#"
ALTER TABLE tarn_table ADD COLUMN sort_key TEXT;
"#,
    // 6: statistics of data files (JSON `FileStats`, NULL where not recorded), and those
    // ANALYZE recorded for files of external tables (JSON `LakeFileStats`).
    r#"
ALTER TABLE tarn_data_file ADD COLUMN column_stats TEXT;
CREATE TABLE tarn_lake_file_stats (
    table_id INTEGER NOT NULL,
    location TEXT NOT NULL,
    definition TEXT NOT NULL,
    PRIMARY KEY (table_id, location)
);
"#,
    // 7: the query history (Redshift's stl_query).
    r#"
CREATE TABLE tarn_query (
    query INTEGER PRIMARY KEY,
    userid TEXT NOT NULL,
    pid INTEGER NOT NULL,
    querytxt TEXT NOT NULL,
    starttime TEXT NOT NULL,
    endtime TEXT NOT NULL,
    rows INTEGER,
    status TEXT NOT NULL,
    error TEXT
);
"#,
    // 8: reads of managed tables (svv_table_info's reads and last_read).
    r#"
CREATE TABLE tarn_table_usage (table_id INTEGER PRIMARY KEY, reads INTEGER NOT NULL, last_read TEXT NOT NULL);
"#,
    // 9: lineage (tarn_lineage): one row per statement, one per source.
    r#"
CREATE TABLE tarn_lineage (
    lineage_id INTEGER PRIMARY KEY,
    snapshot_id INTEGER NOT NULL,
    time TEXT NOT NULL,
    userid TEXT NOT NULL,
    statement TEXT NOT NULL,
    target_kind TEXT NOT NULL,
    target TEXT NOT NULL,
    target_id INTEGER,
    querytxt TEXT NOT NULL
);
CREATE TABLE tarn_lineage_source (
    lineage_id INTEGER NOT NULL,
    position INTEGER NOT NULL,
    source_kind TEXT NOT NULL,
    source TEXT NOT NULL,
    source_id INTEGER,
    PRIMARY KEY (lineage_id, position)
);
"#,
];

/// Writes lineage records; `snapshot` replaces theirs (a commit's new snapshot).
fn insert_lineage(tx: &SqlTxn<'_>, records: &[LineageRecord], snapshot: Option<SnapshotId>) -> rusqlite::Result<()> {
    let mut insert = tx.prepare_cached(
        "INSERT INTO tarn_lineage (snapshot_id, time, userid, statement, target_kind, target, target_id, querytxt)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    let mut source = tx.prepare_cached("INSERT INTO tarn_lineage_source VALUES (?1, ?2, ?3, ?4, ?5)")?;
    for r in records {
        insert.execute(params![
            snapshot.unwrap_or(r.snapshot),
            r.time,
            r.userid,
            r.statement,
            r.target.kind.as_str(),
            r.target.name,
            r.target.id,
            r.querytxt
        ])?;
        let id = tx.last_insert_rowid();
        for (position, s) in r.sources.iter().enumerate() {
            source.execute(params![id, position as i64, s.kind.as_str(), s.name, s.id])?;
        }
    }
    Ok(())
}

fn lineage_object(kind: String, name: String, id: Option<ObjectId>) -> rusqlite::Result<LineageObject> {
    let kind = LineageKind::parse(&kind).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            format!("lineage kind {kind:?}").into(),
        )
    })?;
    Ok(LineageObject { kind, name, id })
}

const LIVE: &str = "begin_snapshot <= ?1 AND (end_snapshot IS NULL OR end_snapshot > ?1)";

/// A catalog kept in one SQLite database file.
pub struct SqliteCatalog {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl SqliteCatalog {
    /// Opens (creating and migrating if needed) the catalog database at `path`. A new
    /// catalog gets snapshot 0 with the `public` schema, owned by `owner`.
    pub fn open(path: impl AsRef<Path>, owner: &str) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let conn = Connection::open(&path).map_err(|e| db_err(&path, e))?;
        let catalog = SqliteCatalog { path, conn: Mutex::new(conn) };
        catalog.with_conn(|conn| {
            conn.busy_timeout(Duration::from_secs(30))?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn.pragma_update(None, "synchronous", "FULL")?;
            Ok(())
        })?;
        catalog.migrate(owner)?;
        Ok(catalog)
    }

    pub(crate) fn with_conn<T>(&self, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> Result<T> {
        let mut conn = self.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        f(&mut conn).map_err(|e| db_err(&self.path, e))
    }

    fn migrate(&self, owner: &str) -> Result<()> {
        let supported = MIGRATIONS.len() as i64;
        let mut conn = self.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(|e| db_err(&self.path, e))?;
        let version: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(|e| db_err(&self.path, e))?;
        if version > supported {
            return Err(Error::TooNew { path: self.path.display().to_string(), found: version, supported });
        }
        let fresh = version == 0;
        let run = || -> rusqlite::Result<()> {
            for migration in &MIGRATIONS[version as usize..] {
                tx.execute_batch(migration)?;
            }
            if fresh {
                let time = now();
                tx.execute(
                    "INSERT INTO tarn_snapshot VALUES (0, ?1, ?2, ?3)",
                    params![time, owner, format!("created_schema:\"{DEFAULT_SCHEMA}\"")],
                )?;
                let id = allocate(&tx, 1)?;
                tx.execute(
                    "INSERT INTO tarn_schema VALUES (?1, 0, NULL, ?2, ?3, NULL, ?4)",
                    params![id, DEFAULT_SCHEMA, owner, time],
                )?;
            }
            tx.pragma_update(None, "user_version", supported)?;
            Ok(())
        };
        run().map_err(|e| db_err(&self.path, e))?;
        tx.commit().map_err(|e| db_err(&self.path, e))
    }
}

pub(crate) fn db_err(path: &Path, source: rusqlite::Error) -> Error {
    Error::Database { path: path.display().to_string(), source }
}

fn allocate(tx: &SqlTxn<'_>, count: i64) -> rusqlite::Result<ObjectId> {
    let next: i64 = tx.query_row(
        "UPDATE tarn_metadata SET value = CAST(value AS INTEGER) + ?1 WHERE key = 'next_object_id'
         RETURNING CAST(value AS INTEGER)",
        [count],
        |r| r.get(0),
    )?;
    Ok(next - count)
}

fn load_state(conn: &Connection, snapshot: SnapshotId) -> Result<CatalogState> {
    let mut state = CatalogState { snapshot, ..Default::default() };
    let sql_err = |e| Error::Corrupt(format!("reading snapshot {snapshot}: {e}"));

    let mut stmt = conn
        .prepare(&format!("SELECT schema_id, schema_name, owner, comment, created_at FROM tarn_schema WHERE {LIVE}"))
        .map_err(sql_err)?;
    let schemas = stmt
        .query_map([snapshot], |r| {
            Ok(SchemaDef {
                id: r.get(0)?,
                name: r.get(1)?,
                owner: r.get(2)?,
                comment: r.get(3)?,
                created_at: r.get(4)?,
            })
        })
        .map_err(sql_err)?;
    for s in schemas {
        let s = s.map_err(sql_err)?;
        state.schemas.insert(s.id, s);
    }

    let mut stmt = conn
        .prepare(&format!(
            "SELECT table_id, schema_id, table_name, path, owner, comment, created_at, sort_key FROM tarn_table WHERE {LIVE}"
        ))
        .map_err(sql_err)?;
    let tables = stmt
        .query_map([snapshot], |r| {
            Ok(TableDef {
                id: r.get(0)?,
                schema_id: r.get(1)?,
                name: r.get(2)?,
                path: r.get(3)?,
                owner: r.get(4)?,
                comment: r.get(5)?,
                created_at: r.get(6)?,
                columns: Vec::new(),
                sort_key: r
                    .get::<_, Option<String>>(7)?
                    .map(|text| serde_json::from_str(&text))
                    .transpose()
                    .map_err(|e| rusqlite::Error::FromSqlConversionFailure(7, rusqlite::types::Type::Text, e.into()))?,
            })
        })
        .map_err(sql_err)?;
    for t in tables {
        let t = t.map_err(sql_err)?;
        state.tables.insert(t.id, t);
    }

    let mut stmt = conn
        .prepare(&format!(
            "SELECT table_id, column_name, column_type, default_value, nulls_allowed, is_primary_key, is_unique, comment
             FROM tarn_column WHERE {LIVE} ORDER BY table_id, column_order"
        ))
        .map_err(sql_err)?;
    let mut rows = stmt.query([snapshot]).map_err(sql_err)?;
    while let Some(r) = rows.next().map_err(sql_err)? {
        let table_id: ObjectId = r.get(0).map_err(sql_err)?;
        let type_text: String = r.get(2).map_err(sql_err)?;
        let column = ColumnDef {
            name: r.get(1).map_err(sql_err)?,
            sql_type: SqlType::parse(&type_text)
                .map_err(|e| Error::Corrupt(format!("column type of table {table_id}: {e}")))?,
            default: r.get(3).map_err(sql_err)?,
            nullable: r.get(4).map_err(sql_err)?,
            primary_key: r.get(5).map_err(sql_err)?,
            unique: r.get::<_, Option<u32>>(6).map_err(sql_err)?.filter(|n| *n != 0),
            comment: r.get(7).map_err(sql_err)?,
        };
        let table = state
            .tables
            .get_mut(&table_id)
            .ok_or_else(|| Error::Corrupt(format!("columns of missing table {table_id}")))?;
        table.columns.push(column);
    }

    let mut stmt = conn
        .prepare(&format!(
            "SELECT view_id, schema_id, view_name, sql, column_aliases, owner, comment, created_at FROM tarn_view WHERE {LIVE}"
        ))
        .map_err(sql_err)?;
    let views = stmt
        .query_map([snapshot], |r| {
            let aliases: String = r.get(4)?;
            Ok(ViewDef {
                id: r.get(0)?,
                schema_id: r.get(1)?,
                name: r.get(2)?,
                sql: r.get(3)?,
                column_aliases: serde_json::from_str(&aliases).unwrap_or_default(),
                owner: r.get(5)?,
                comment: r.get(6)?,
                created_at: r.get(7)?,
            })
        })
        .map_err(sql_err)?;
    for v in views {
        let v = v.map_err(sql_err)?;
        state.views.insert(v.id, v);
    }
    Ok(state)
}

fn latest(conn: &Connection) -> rusqlite::Result<SnapshotId> {
    conn.query_row("SELECT max(snapshot_id) FROM tarn_snapshot", [], |r| r.get(0))
}

/// Ends the live row(s) of an object in `table` at snapshot `s`.
fn end_rows(tx: &SqlTxn<'_>, table: &str, id_column: &str, id: ObjectId, s: SnapshotId) -> rusqlite::Result<()> {
    tx.execute(
        &format!("UPDATE {table} SET end_snapshot = ?1 WHERE {id_column} = ?2 AND end_snapshot IS NULL"),
        params![s, id],
    )?;
    Ok(())
}

fn insert_schema(tx: &SqlTxn<'_>, def: &SchemaDef, s: SnapshotId) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO tarn_schema VALUES (?1, ?2, NULL, ?3, ?4, ?5, ?6)",
        params![def.id, s, def.name, def.owner, def.comment, def.created_at],
    )?;
    Ok(())
}

fn insert_table(tx: &SqlTxn<'_>, def: &TableDef, s: SnapshotId) -> rusqlite::Result<()> {
    let sort_key = def
        .sort_key
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    tx.execute(
        "INSERT INTO tarn_table VALUES (?1, ?2, NULL, ?3, ?4, ?5, 1, ?6, ?7, ?8, ?9)",
        params![def.id, s, def.schema_id, def.name, def.path, def.owner, def.comment, def.created_at, sort_key],
    )?;
    let mut stmt =
        tx.prepare_cached("INSERT INTO tarn_column VALUES (?1, ?2, NULL, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)")?;
    for (order, c) in def.columns.iter().enumerate() {
        stmt.execute(params![
            def.id,
            s,
            order as i64,
            c.name,
            c.sql_type.to_string(),
            c.default,
            c.nullable,
            c.primary_key,
            c.unique.unwrap_or(0),
            c.comment
        ])?;
    }
    Ok(())
}

fn insert_view(tx: &SqlTxn<'_>, def: &ViewDef, s: SnapshotId) -> rusqlite::Result<()> {
    let aliases = serde_json::to_string(&def.column_aliases).expect("strings serialize");
    tx.execute(
        "INSERT INTO tarn_view VALUES (?1, ?2, NULL, ?3, ?4, 'redshift', ?5, ?6, ?7, ?8, ?9)",
        params![def.id, s, def.schema_id, def.name, def.sql, aliases, def.owner, def.comment, def.created_at],
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

impl CatalogStore for SqliteCatalog {
    fn latest_snapshot(&self) -> Result<SnapshotId> {
        self.with_conn(|conn| latest(conn))
    }

    fn load_state(&self, snapshot: SnapshotId) -> Result<CatalogState> {
        let mut conn = self.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // One read transaction, so all objects come from the same committed state.
        let tx = conn.transaction().map_err(|e| db_err(&self.path, e))?;
        let state = load_state(&tx, snapshot)?;
        tx.finish().map_err(|e| db_err(&self.path, e))?;
        Ok(state)
    }

    fn data_files(&self, table_id: ObjectId, snapshot: SnapshotId) -> Result<Vec<DataFile>> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT data_file_id, path, record_count, file_size_bytes, begin_snapshot, end_snapshot, column_stats
                 FROM tarn_data_file WHERE table_id = ?2 AND {LIVE} ORDER BY data_file_id"
            ))?;
            stmt.query_map(params![snapshot, table_id], |r| {
                Ok(DataFile {
                    id: r.get(0)?,
                    table_id,
                    path: r.get(1)?,
                    record_count: r.get::<_, i64>(2)? as u64,
                    file_size_bytes: r.get::<_, i64>(3)? as u64,
                    begin_snapshot: r.get(4)?,
                    end_snapshot: r.get(5)?,
                    stats: file_stats(r.get(6)?),
                })
            })?
            .collect()
        })
    }

    fn allocate_ids(&self, count: i64) -> Result<ObjectId> {
        self.with_conn(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let first = allocate(&tx, count)?;
            tx.commit()?;
            Ok(first)
        })
    }

    fn commit(&self, txn: &Transaction, author: &str) -> Result<SnapshotId> {
        if txn.is_empty() {
            let base = txn.base_snapshot();
            let records: Vec<LineageRecord> =
                txn.lineage().iter().map(|r| LineageRecord { snapshot: base, ..r.clone() }).collect();
            self.record_lineage(&records)?;
            return Ok(base);
        }
        let mut conn = self.conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let db = |e| db_err(&self.path, e);
        // IMMEDIATE takes SQLite's write lock now: commits are serialized across processes,
        // readers (WAL) go on reading the previous snapshot.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db)?;
        let head = latest(&tx).map_err(db)?;
        let base = txn.base_snapshot();
        let snapshot = head + 1;

        if head != base {
            // Someone committed since this transaction began: check it against their changes.
            let mut newest = load_state(&tx, head)?;
            for table_id in txn.rewritten_tables() {
                let changed: bool = tx
                    .query_row(
                        "SELECT EXISTS (SELECT 1 FROM tarn_data_file WHERE table_id = ?1 AND (begin_snapshot > ?2 OR end_snapshot > ?2))
                             OR EXISTS (SELECT 1 FROM tarn_table WHERE table_id = ?1 AND (begin_snapshot > ?2 OR end_snapshot > ?2))",
                        params![table_id, base],
                        |r| r.get(0),
                    )
                    .map_err(db)?;
                if changed {
                    let name = txn
                        .base()
                        .tables
                        .get(&table_id)
                        .map(|t| format!("{}.{}", txn.base().schema_name(t.schema_id), t.name));
                    return Err(Error::Conflict(format!(
                        "table \"{}\" was changed by a concurrent transaction",
                        name.unwrap_or_else(|| table_id.to_string())
                    )));
                }
            }
            for op in txn.ops() {
                newest
                    .apply(op)
                    .map_err(|e| Error::Conflict(format!("a concurrent transaction committed first: {e}")))?;
            }
            for table_id in txn.files().keys() {
                if !newest.tables.contains_key(table_id) {
                    return Err(Error::Conflict(format!("table {table_id} was dropped by a concurrent transaction")));
                }
            }
        }

        let write = || -> rusqlite::Result<()> {
            for op in txn.ops() {
                match op {
                    CatalogOp::CreateSchema(def) => insert_schema(&tx, def, snapshot)?,
                    CatalogOp::AlterSchema(def) => {
                        end_rows(&tx, "tarn_schema", "schema_id", def.id, snapshot)?;
                        insert_schema(&tx, def, snapshot)?;
                    }
                    CatalogOp::DropSchema(id) => end_rows(&tx, "tarn_schema", "schema_id", *id, snapshot)?,
                    CatalogOp::CreateTable(def) => insert_table(&tx, def, snapshot)?,
                    CatalogOp::AlterTable(def) => {
                        end_rows(&tx, "tarn_table", "table_id", def.id, snapshot)?;
                        end_rows(&tx, "tarn_column", "table_id", def.id, snapshot)?;
                        insert_table(&tx, def, snapshot)?;
                    }
                    CatalogOp::DropTable(id) => {
                        end_rows(&tx, "tarn_table", "table_id", *id, snapshot)?;
                        end_rows(&tx, "tarn_column", "table_id", *id, snapshot)?;
                        end_rows(&tx, "tarn_data_file", "table_id", *id, snapshot)?;
                    }
                    CatalogOp::CreateView(def) => insert_view(&tx, def, snapshot)?,
                    CatalogOp::AlterView(def) => {
                        end_rows(&tx, "tarn_view", "view_id", def.id, snapshot)?;
                        insert_view(&tx, def, snapshot)?;
                    }
                    CatalogOp::DropView(id) => end_rows(&tx, "tarn_view", "view_id", *id, snapshot)?,
                }
            }
            let mut end_file = tx.prepare_cached(
                "UPDATE tarn_data_file SET end_snapshot = ?1 WHERE data_file_id = ?2 AND table_id = ?3 AND end_snapshot IS NULL",
            )?;
            let mut add_file = tx.prepare_cached(
                "INSERT INTO tarn_data_file (table_id, begin_snapshot, path, file_format, record_count, file_size_bytes, footer_size, column_stats)
                 VALUES (?1, ?2, ?3, 'parquet', ?4, ?5, ?6, ?7)",
            )?;
            for (table_id, files) in txn.files() {
                for file_id in &files.removed {
                    if end_file.execute(params![snapshot, file_id, table_id])? != 1 {
                        return Err(rusqlite::Error::QueryReturnedNoRows);
                    }
                }
                for f in &files.added {
                    add_file.execute(params![
                        table_id,
                        snapshot,
                        f.path,
                        f.record_count as i64,
                        f.file_size_bytes as i64,
                        f.footer_size as i64,
                        f.stats.as_ref().and_then(|s| serde_json::to_string(s).ok())
                    ])?;
                }
            }
            tx.execute(
                "INSERT INTO tarn_snapshot VALUES (?1, ?2, ?3, ?4)",
                params![snapshot, now(), author, describe_changes(txn)],
            )?;
            insert_lineage(&tx, txn.lineage(), Some(snapshot))?;
            Ok(())
        };
        match write() {
            Ok(()) => {}
            // A removed file that is no longer live: another transaction removed it first.
            Err(rusqlite::Error::QueryReturnedNoRows) => {
                return Err(Error::Conflict("a data file was removed by a concurrent transaction".into()));
            }
            Err(e) => return Err(db(e)),
        }
        tx.commit().map_err(db)?;
        Ok(snapshot)
    }

    fn snapshot_at_time(&self, time: &str) -> Result<Option<SnapshotId>> {
        self.with_conn(|conn| {
            conn.query_row("SELECT max(snapshot_id) FROM tarn_snapshot WHERE snapshot_time <= ?1", [time], |r| r.get(0))
        })
    }

    fn snapshots(&self) -> Result<Vec<SnapshotInfo>> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare(
                "SELECT snapshot_id, snapshot_time, author, changes_made FROM tarn_snapshot ORDER BY snapshot_id",
            )?;
            stmt.query_map([], |r| {
                Ok(SnapshotInfo { id: r.get(0)?, time: r.get(1)?, author: r.get(2)?, changes: r.get(3)? })
            })?
            .collect()
        })
    }

    fn table_modified_at(&self, table_id: ObjectId, snapshot: SnapshotId) -> Result<Option<String>> {
        self.with_conn(|conn| {
            conn.query_row(
                "SELECT snapshot_time FROM tarn_snapshot WHERE snapshot_id = (
                   SELECT max(s) FROM (
                     SELECT begin_snapshot AS s FROM tarn_table WHERE table_id = ?1
                     UNION ALL SELECT begin_snapshot FROM tarn_data_file WHERE table_id = ?1
                     UNION ALL SELECT end_snapshot FROM tarn_data_file WHERE table_id = ?1)
                   WHERE s <= ?2)",
                params![table_id, snapshot],
                |r| r.get(0),
            )
            .optional()
        })
    }

    fn expire_snapshots(&self, cutoff: &str) -> Result<Vec<String>> {
        self.with_conn(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let oldest_kept: Option<SnapshotId> =
                tx.query_row("SELECT max(snapshot_id) FROM tarn_snapshot WHERE snapshot_time <= ?1", [cutoff], |r| {
                    r.get(0)
                })?;
            let Some(oldest_kept) = oldest_kept else { return Ok(Vec::new()) };
            let expired: Vec<String> = {
                let mut stmt = tx.prepare("SELECT path FROM tarn_data_file WHERE end_snapshot <= ?1")?;
                stmt.query_map([oldest_kept], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?
            };
            for table in ["tarn_data_file", "tarn_column", "tarn_table", "tarn_view", "tarn_schema"] {
                tx.execute(&format!("DELETE FROM {table} WHERE end_snapshot <= ?1"), [oldest_kept])?;
            }
            tx.execute("DELETE FROM tarn_snapshot WHERE snapshot_id < ?1", [oldest_kept])?;
            tx.commit()?;
            Ok(expired)
        })
    }

    fn next_query_id(&self) -> Result<i64> {
        self.with_conn(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let id: i64 = tx.query_row(
                "UPDATE tarn_metadata SET value = CAST(value AS INTEGER) + 1 WHERE key = 'next_query_id'
                 RETURNING CAST(value AS INTEGER) - 1",
                [],
                |r| r.get(0),
            )?;
            tx.commit()?;
            Ok(id)
        })
    }

    fn record_load(&self, errors: &[LoadError], files: &[LoadCommit]) -> Result<()> {
        self.with_conn(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut insert =
                    tx.prepare_cached("INSERT INTO tarn_load_error VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)")?;
                for e in errors {
                    insert.execute(params![
                        e.query,
                        e.userid,
                        e.tbl,
                        e.starttime,
                        e.session,
                        e.filename,
                        e.line_number,
                        e.colname,
                        e.col_type,
                        e.col_length,
                        e.position,
                        e.raw_line,
                        e.raw_field_value,
                        e.err_code,
                        e.err_reason
                    ])?;
                }
                let mut insert = tx.prepare_cached("INSERT INTO tarn_load_commit VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)")?;
                for f in files {
                    insert.execute(params![f.query, f.userid, f.tbl, f.filename, f.lines_scanned, f.curtime, f.status])?;
                }
            }
            tx.commit()
        })
    }

    fn record_queries(&self, queries: &[QueryRecord]) -> Result<()> {
        if queries.is_empty() {
            return Ok(());
        }
        self.with_conn(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let first: i64 = tx.query_row(
                "UPDATE tarn_metadata SET value = CAST(value AS INTEGER) + ?1 WHERE key = 'next_query_id'
                 RETURNING CAST(value AS INTEGER) - ?1",
                [queries.len() as i64],
                |r| r.get(0),
            )?;
            {
                let mut insert =
                    tx.prepare_cached("INSERT INTO tarn_query VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)")?;
                for (i, q) in queries.iter().enumerate() {
                    insert.execute(params![
                        first + i as i64,
                        q.userid,
                        q.pid,
                        q.querytxt,
                        q.starttime,
                        q.endtime,
                        q.rows,
                        q.status,
                        q.error
                    ])?;
                }
            }
            tx.commit()
        })
    }

    fn record_lineage(&self, records: &[LineageRecord]) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        self.with_conn(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            insert_lineage(&tx, records, None)?;
            tx.commit()
        })
    }

    fn lineage(&self) -> Result<Vec<LineageRecord>> {
        self.with_conn(|conn| {
            let mut sources: std::collections::HashMap<i64, Vec<LineageObject>> = Default::default();
            let mut stmt = conn.prepare(
                "SELECT lineage_id, source_kind, source, source_id FROM tarn_lineage_source ORDER BY lineage_id, position",
            )?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                sources.entry(row.get(0)?).or_default().push(lineage_object(row.get(1)?, row.get(2)?, row.get(3)?)?);
            }
            let mut stmt = conn.prepare(
                "SELECT lineage_id, snapshot_id, time, userid, statement, target_kind, target, target_id, querytxt
                 FROM tarn_lineage ORDER BY lineage_id",
            )?;
            stmt.query_map([], |r| {
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
            })?
            .collect()
        })
    }

    fn record_reads(&self, reads: &[(ObjectId, u64, String)]) -> Result<()> {
        if reads.is_empty() {
            return Ok(());
        }
        self.with_conn(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut upsert = tx.prepare_cached(
                    "INSERT INTO tarn_table_usage VALUES (?1, ?2, ?3) ON CONFLICT (table_id) DO UPDATE
                     SET reads = reads + excluded.reads, last_read = max(last_read, excluded.last_read)",
                )?;
                for (table, count, last) in reads {
                    upsert.execute(params![table, *count as i64, last])?;
                }
            }
            tx.commit()
        })
    }

    fn table_reads(&self) -> Result<std::collections::HashMap<ObjectId, (i64, String)>> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare("SELECT table_id, reads, last_read FROM tarn_table_usage")?;
            stmt.query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))?.collect()
        })
    }

    fn queries(&self) -> Result<Vec<QueryRecord>> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare("SELECT * FROM tarn_query ORDER BY query")?;
            stmt.query_map([], |r| {
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
            })?
            .collect()
        })
    }

    fn trim_queries(&self, keep: Option<u64>, before: Option<&str>) -> Result<u64> {
        self.with_conn(|conn| {
            let mut gone = 0;
            if let Some(keep) = keep {
                gone += conn.execute(
                    "DELETE FROM tarn_query WHERE query NOT IN (SELECT query FROM tarn_query ORDER BY query DESC LIMIT ?1)",
                    [keep as i64],
                )?;
            }
            if let Some(before) = before {
                gone += conn.execute("DELETE FROM tarn_query WHERE starttime < ?1", [before])?;
            }
            Ok(gone as u64)
        })
    }

    fn load_errors(&self) -> Result<Vec<LoadError>> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare("SELECT * FROM tarn_load_error ORDER BY rowid")?;
            stmt.query_map([], |r| {
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
            })?
            .collect()
        })
    }

    fn load_commits(&self) -> Result<Vec<LoadCommit>> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare("SELECT * FROM tarn_load_commit ORDER BY rowid")?;
            stmt.query_map([], |r| {
                Ok(LoadCommit {
                    query: r.get(0)?,
                    userid: r.get(1)?,
                    tbl: r.get(2)?,
                    filename: r.get(3)?,
                    lines_scanned: r.get(4)?,
                    curtime: r.get(5)?,
                    status: r.get(6)?,
                })
            })?
            .collect()
        })
    }

    fn all_data_files(&self) -> Result<Vec<DataFile>> {
        self.with_conn(|conn| {
            let mut stmt = conn.prepare(
                "SELECT data_file_id, table_id, path, record_count, file_size_bytes, begin_snapshot, end_snapshot, column_stats
                 FROM tarn_data_file ORDER BY data_file_id",
            )?;
            stmt.query_map([], |r| {
                Ok(DataFile {
                    id: r.get(0)?,
                    table_id: r.get(1)?,
                    path: r.get(2)?,
                    record_count: r.get::<_, i64>(3)? as u64,
                    file_size_bytes: r.get::<_, i64>(4)? as u64,
                    begin_snapshot: r.get(5)?,
                    end_snapshot: r.get(6)?,
                    stats: file_stats(r.get(7)?),
                })
            })?
            .collect()
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
        self.with_conn(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut update =
                    tx.prepare_cached("UPDATE tarn_data_file SET column_stats = ?2 WHERE data_file_id = ?1")?;
                for (id, json) in &rows {
                    update.execute(params![id, json])?;
                }
            }
            tx.commit()
        })
    }
}

/// Statistics recorded as JSON; unreadable ones (written by a newer tarn, say) are as good as
/// none: the planner then reads the file's footer.
fn file_stats(json: Option<String>) -> Option<FileStats> {
    json.and_then(|json| serde_json::from_str(&json).ok())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::model::NewDataFile;

    fn open() -> (tempfile::TempDir, SqliteCatalog) {
        let dir = tempfile::tempdir().unwrap();
        let cat = SqliteCatalog::open(dir.path().join("catalog.db"), "tester").unwrap();
        (dir, cat)
    }

    fn begin(cat: &SqliteCatalog) -> Transaction {
        let snapshot = cat.latest_snapshot().unwrap();
        Transaction::new(Arc::new(cat.load_state(snapshot).unwrap()))
    }

    fn table(cat: &SqliteCatalog, txn: &Transaction, name: &str) -> TableDef {
        let id = cat.allocate_ids(1).unwrap();
        TableDef {
            id,
            schema_id: txn.state().schema(DEFAULT_SCHEMA).unwrap().id,
            name: name.into(),
            columns: vec![ColumnDef::new("a", SqlType::Integer)],
            path: format!("data/public/{name}_{id}"),
            owner: "tester".into(),
            comment: None,
            created_at: now(),
            sort_key: None,
        }
    }

    fn file(path: &str, rows: u64) -> NewDataFile {
        NewDataFile { path: path.into(), record_count: rows, file_size_bytes: 100, footer_size: 10, stats: None }
    }

    #[test]
    fn new_catalog_has_public_schema_at_snapshot_zero() {
        let (_dir, cat) = open();
        assert_eq!(cat.latest_snapshot().unwrap(), 0);
        let state = cat.load_state(0).unwrap();
        assert_eq!(state.schema(DEFAULT_SCHEMA).unwrap().owner, "tester");
    }

    #[test]
    fn file_statistics_are_committed_with_the_file_and_recorded_later_for_old_ones() {
        let (_dir, cat) = open();
        let mut txn = begin(&cat);
        let t = table(&cat, &txn, "t");
        txn.apply(CatalogOp::CreateTable(t.clone())).unwrap();
        let stats = crate::FileStats {
            bytes: Some(crate::Stat { value: 24, exact: false }),
            columns: vec![crate::ColumnStats {
                name: "a".into(),
                nulls: Some(crate::Stat { value: 1, exact: true }),
                min: Some(crate::Stat { value: "-5".into(), exact: true }),
                max: Some(crate::Stat { value: "70".into(), exact: true }),
                ..Default::default()
            }],
        };
        let with_stats = NewDataFile { stats: Some(stats.clone()), ..file("a.parquet", 3) };
        txn.add_files(t.id, vec![with_stats, file("b.parquet", 2)]).unwrap();
        let snapshot = cat.commit(&txn, "tester").unwrap();

        let files = cat.data_files(t.id, snapshot).unwrap();
        assert_eq!(files[0].stats.as_ref(), Some(&stats));
        assert_eq!(files[1].stats, None);

        let mut analyzed = stats.clone();
        analyzed.columns[0].distinct = Some(crate::Stat { value: 2, exact: false });
        cat.record_file_stats(&[(files[1].id, analyzed.clone())]).unwrap();
        assert_eq!(cat.latest_snapshot().unwrap(), snapshot, "statistics make no snapshot");
        let files = cat.all_data_files().unwrap();
        assert_eq!(files[1].stats.as_ref(), Some(&analyzed));
        assert_eq!(files[0].stats.as_ref(), Some(&stats));
    }

    #[test]
    fn lineage_commits_with_its_transaction_and_takes_the_commit_s_snapshot() {
        let (_dir, cat) = open();
        let object = |kind, name: &str, id| LineageObject { kind, name: name.into(), id };
        let record = |target: LineageObject, sources: Vec<LineageObject>| LineageRecord {
            id: 0,
            snapshot: 0,
            time: now(),
            userid: "tester".into(),
            statement: "CREATE TABLE AS".into(),
            target,
            sources,
            querytxt: "CREATE TABLE t AS SELECT * FROM s".into(),
        };
        let mut txn = begin(&cat);
        let t = table(&cat, &txn, "t");
        txn.apply(CatalogOp::CreateTable(t.clone())).unwrap();
        let sources =
            vec![object(LineageKind::Table, "public.s", Some(7)), object(LineageKind::File, "/d/*.csv", None)];
        txn.record_lineage(record(object(LineageKind::Table, "public.t", Some(t.id)), sources.clone()));
        assert_eq!(cat.commit(&txn, "tester").unwrap(), 1);
        // Rolled back: never committed, never recorded.
        let mut txn = begin(&cat);
        txn.record_lineage(record(object(LineageKind::Table, "public.u", None), sources.clone()));
        drop(txn);
        // Nothing but lineage (an UNLOAD): recorded as of the base snapshot.
        let mut txn = begin(&cat);
        txn.record_lineage(record(object(LineageKind::File, "s3://b/out/", None), vec![sources[0].clone()]));
        assert_eq!(cat.commit(&txn, "tester").unwrap(), 1);

        let lineage = cat.lineage().unwrap();
        assert_eq!(lineage.len(), 2);
        assert_eq!(
            (lineage[0].snapshot, &lineage[0].target.name, &lineage[0].sources),
            (1, &"public.t".to_string(), &sources)
        );
        assert_eq!((lineage[1].snapshot, lineage[1].target.kind, lineage[1].sources.len()), (1, LineageKind::File, 1));
        assert!(lineage[0].id < lineage[1].id);
    }

    #[test]
    fn commits_create_snapshots_and_old_snapshots_stay_readable() {
        let (_dir, cat) = open();
        let mut txn = begin(&cat);
        let t = table(&cat, &txn, "t");
        txn.apply(CatalogOp::CreateTable(t.clone())).unwrap();
        txn.add_files(t.id, vec![file("a.parquet", 3)]).unwrap();
        assert_eq!(cat.commit(&txn, "tester").unwrap(), 1);

        let mut txn = begin(&cat);
        let files = cat.data_files(t.id, 1).unwrap();
        txn.remove_files(t.id, files.iter().map(|f| f.id), &Default::default()).unwrap();
        txn.add_files(t.id, vec![file("b.parquet", 2)]).unwrap();
        let mut renamed = t.clone();
        renamed.name = "u".into();
        txn.apply(CatalogOp::AlterTable(renamed)).unwrap();
        assert_eq!(cat.commit(&txn, "tester").unwrap(), 2);

        assert_eq!(cat.load_state(1).unwrap().tables[&t.id].name, "t");
        assert_eq!(cat.load_state(2).unwrap().tables[&t.id].name, "u");
        assert_eq!(cat.load_state(2).unwrap().tables[&t.id].columns.len(), 1);
        assert_eq!(cat.data_files(t.id, 1).unwrap()[0].path, "a.parquet");
        assert_eq!(cat.data_files(t.id, 2).unwrap()[0].path, "b.parquet");
        assert!(cat.load_state(0).unwrap().tables.is_empty());
        let snaps = cat.snapshots().unwrap();
        assert_eq!(snaps.len(), 3);
        assert!(snaps[1].changes.contains("created_table:\"public\".\"t\""), "{}", snaps[1].changes);
        assert_eq!(cat.all_data_files().unwrap().len(), 2);
    }

    #[test]
    fn expiring_keeps_the_state_at_the_cutoff_and_everything_after() {
        let (_dir, cat) = open();
        let mut txn = begin(&cat);
        let t = table(&cat, &txn, "t");
        txn.apply(CatalogOp::CreateTable(t.clone())).unwrap();
        txn.add_files(t.id, vec![file("a.parquet", 3)]).unwrap();
        cat.commit(&txn, "tester").unwrap(); // 1: a
        let mut txn = begin(&cat);
        let live = cat.data_files(t.id, 1).unwrap();
        txn.remove_files(t.id, live.iter().map(|f| f.id), &Default::default()).unwrap();
        txn.add_files(t.id, vec![file("b.parquet", 3)]).unwrap();
        cat.commit(&txn, "tester").unwrap(); // 2: b
        let cutoff = now();
        let mut txn = begin(&cat);
        let live = cat.data_files(t.id, 2).unwrap();
        txn.remove_files(t.id, live.iter().map(|f| f.id), &Default::default()).unwrap();
        txn.add_files(t.id, vec![file("c.parquet", 3)]).unwrap();
        cat.commit(&txn, "tester").unwrap(); // 3: c

        assert_eq!(cat.expire_snapshots(&cutoff).unwrap(), vec!["a.parquet".to_string()]);
        let ids: Vec<SnapshotId> = cat.snapshots().unwrap().iter().map(|s| s.id).collect();
        assert_eq!(ids, [2, 3]);
        assert_eq!(cat.data_files(t.id, 2).unwrap()[0].path, "b.parquet");
        assert_eq!(cat.data_files(t.id, 3).unwrap()[0].path, "c.parquet");
        // Expiring up to now keeps only the newest snapshot.
        assert_eq!(cat.expire_snapshots(&now()).unwrap(), vec!["b.parquet".to_string()]);
        assert_eq!(cat.load_state(3).unwrap().tables.len(), 1);
    }

    #[test]
    fn concurrent_rewrites_of_one_table_conflict_but_appends_merge() {
        let (_dir, cat) = open();
        let mut txn = begin(&cat);
        let t = table(&cat, &txn, "t");
        txn.apply(CatalogOp::CreateTable(t.clone())).unwrap();
        txn.add_files(t.id, vec![file("a.parquet", 3)]).unwrap();
        cat.commit(&txn, "tester").unwrap();

        let live = cat.data_files(t.id, 1).unwrap();
        let mut first = begin(&cat);
        let mut second = begin(&cat);
        let mut appender = begin(&cat);
        first.remove_files(t.id, [live[0].id], &Default::default()).unwrap();
        second.remove_files(t.id, [live[0].id], &Default::default()).unwrap();
        appender.add_files(t.id, vec![file("c.parquet", 1)]).unwrap();

        cat.commit(&first, "tester").unwrap();
        let err = cat.commit(&second, "tester").unwrap_err();
        assert!(matches!(err, Error::Conflict(_)), "{err}");
        cat.commit(&appender, "tester").unwrap();
        let files = cat.data_files(t.id, cat.latest_snapshot().unwrap()).unwrap();
        assert_eq!(files.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(), ["c.parquet"]);
    }

    #[test]
    fn concurrent_creates_of_one_name_conflict() {
        let (_dir, cat) = open();
        let mut a = begin(&cat);
        let mut b = begin(&cat);
        let ta = table(&cat, &a, "t");
        let tb = table(&cat, &b, "t");
        a.apply(CatalogOp::CreateTable(ta)).unwrap();
        b.apply(CatalogOp::CreateTable(tb)).unwrap();
        cat.commit(&a, "tester").unwrap();
        assert!(matches!(cat.commit(&b, "tester").unwrap_err(), Error::Conflict(_)));
    }

    #[test]
    fn drop_schema_with_tables_needs_cascade() {
        let (_dir, cat) = open();
        let mut txn = begin(&cat);
        let t = table(&cat, &txn, "t");
        txn.apply(CatalogOp::CreateTable(t)).unwrap();
        let public = txn.state().schema(DEFAULT_SCHEMA).unwrap().id;
        assert!(matches!(txn.apply(CatalogOp::DropSchema(public)), Err(Error::DependentObjects(_))));
    }

    #[test]
    fn reopening_keeps_everything_and_migrations_are_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("catalog.db");
        {
            let cat = SqliteCatalog::open(&path, "tester").unwrap();
            let mut txn = begin(&cat);
            let t = table(&cat, &txn, "kept");
            txn.apply(CatalogOp::CreateTable(t)).unwrap();
            let mut sorted = table(&cat, &txn, "sorted");
            sorted.sort_key = Some(crate::SortKey { columns: vec!["a".into()], interleaved: true });
            txn.apply(CatalogOp::CreateTable(sorted)).unwrap();
            cat.commit(&txn, "tester").unwrap();
        }
        let cat = SqliteCatalog::open(&path, "someone else").unwrap();
        let state = cat.load_state(cat.latest_snapshot().unwrap()).unwrap();
        assert_eq!(state.table_by_name(DEFAULT_SCHEMA, "kept").unwrap().sort_key, None);
        assert_eq!(
            state.table_by_name(DEFAULT_SCHEMA, "sorted").unwrap().sort_key,
            Some(crate::SortKey { columns: vec!["a".into()], interleaved: true })
        );
        assert_eq!(state.schema(DEFAULT_SCHEMA).unwrap().owner, "tester");
    }
}
