//! The embedded catalog: one SQLite database (bundled, WAL) per warehouse.

use std::path::Path;
use std::time::Duration;

use rusqlite::types::ValueRef;
use rusqlite::{ToSql, types::ToSqlOutput};

use crate::db::{Connection, Row, TxMode, Value};
use crate::store::{Backend, SqlCatalog, migrate};
use crate::{Error, Result};

/// Schema migrations, applied in order; `PRAGMA user_version` records how many ran.
/// Table layouts mirror DuckLake's (`ducklake_snapshot`, `ducklake_table`, ...). A migration
/// added here is added to [`crate::postgres`]'s too.
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

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Int(v) => ToSqlOutput::Borrowed(ValueRef::Integer(*v)),
            Value::Bool(v) => ToSqlOutput::Borrowed(ValueRef::Integer((*v).into())),
            Value::Text(v) => ToSqlOutput::Borrowed(ValueRef::Text(v.as_bytes())),
        })
    }
}

fn value(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Int(i),
        ValueRef::Real(f) if f.fract() == 0.0 => Value::Int(f as i64),
        ValueRef::Real(f) => Value::Text(f.to_string()),
        ValueRef::Text(t) | ValueRef::Blob(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
    }
}

/// A connection to a catalog's SQLite database.
struct SqliteConnection {
    path: String,
    conn: rusqlite::Connection,
}

impl SqliteConnection {
    fn err(&self, source: rusqlite::Error) -> Error {
        Error::Database { location: self.path.clone(), source: Box::new(source) }
    }
}

impl Connection for SqliteConnection {
    fn batch(&mut self, sql: &str) -> Result<()> {
        self.conn.execute_batch(sql).map_err(|e| self.err(e))
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64> {
        let run = || -> rusqlite::Result<usize> {
            self.conn.prepare_cached(sql)?.execute(rusqlite::params_from_iter(params))
        };
        run().map(|n| n as u64).map_err(|e| self.err(e))
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>> {
        let run = || -> rusqlite::Result<Vec<Row>> {
            let mut statement = self.conn.prepare_cached(sql)?;
            let columns = statement.column_count();
            let mut rows = statement.query(rusqlite::params_from_iter(params))?;
            let mut out = Vec::new();
            while let Some(row) = rows.next()? {
                out.push(Row((0..columns).map(|i| row.get_ref(i).map(value)).collect::<rusqlite::Result<_>>()?));
            }
            Ok(out)
        };
        run().map_err(|e| self.err(e))
    }

    fn begin(&mut self, mode: TxMode) -> Result<()> {
        if !self.conn.is_autocommit() {
            // One its caller never ended (a panic between begin and commit): it is abandoned.
            self.batch("ROLLBACK")?;
        }
        // IMMEDIATE takes SQLite's write lock at once: writers are serialized across processes,
        // readers (WAL) go on reading the previous state.
        self.batch(match mode {
            TxMode::Read => "BEGIN DEFERRED",
            TxMode::Write | TxMode::Schema => "BEGIN IMMEDIATE",
        })
    }

    fn schema_version(&mut self) -> Result<i64> {
        (self as &mut dyn Connection).query_value("PRAGMA user_version", &[])
    }

    fn set_schema_version(&mut self, version: i64) -> Result<()> {
        self.batch(&format!("PRAGMA user_version = {version}"))
    }

    fn commit(&mut self) -> Result<()> {
        self.batch("COMMIT")
    }

    fn rollback(&mut self) -> Result<()> {
        self.batch("ROLLBACK")
    }
}

/// The folder of engines' lock files, beside the catalog file.
const ENGINES_DIR: &str = "engines";

impl SqlCatalog {
    /// Opens (creating and migrating if needed) the SQLite catalog database at `path`. A new
    /// catalog gets snapshot 0 with the `public` schema, owned by `owner`.
    pub fn sqlite(path: impl AsRef<Path>, owner: &str) -> Result<SqlCatalog> {
        let path = path.as_ref();
        let location = path.display().to_string();
        let db_err = |source| Error::Database { location: location.clone(), source: Box::new(source) };
        let conn = rusqlite::Connection::open(path).map_err(db_err)?;
        conn.busy_timeout(Duration::from_secs(30)).map_err(db_err)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(db_err)?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(db_err)?;
        let mut conn = SqliteConnection { path: location.clone(), conn };
        migrate(&mut conn, MIGRATIONS, &location, owner)?;
        // Engines of a warehouse run on the machine that has its catalog file: lock files beside
        // it tell which run.
        let engines = path.parent().unwrap_or(Path::new(".")).join(ENGINES_DIR);
        Ok(SqlCatalog::new(location, Backend::Sqlite, Box::new(conn), crate::engines::Liveness::lock_files(engines)))
    }
}
