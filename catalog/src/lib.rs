//! tarn's catalog: schemas, tables, views, snapshots and data files of a warehouse.
//!
//! The model mirrors DuckLake's catalog tables (`snapshot`, `schema`, `table`, `column`,
//! `data_file`, `view`, each row live for a `[begin_snapshot, end_snapshot)` range) so that
//! every committed state of the warehouse stays addressable and DuckDB interoperability can be
//! added later. Storage sits behind [`CatalogStore`]; [`SqlCatalog`] keeps it in SQLite (embedded, the default) or PostgreSQL
//! (shared by processes on several machines).
//! This crate knows nothing of DataFusion.

pub mod access;
mod access_store;
mod db;
mod engines;
mod lake;
mod lake_store;
mod lineage;
mod load;
mod model;
mod postgres;
mod sqlite;
mod store;
#[cfg(test)]
mod store_tests;
mod txn;
pub mod types;

pub use access::{
    AccessCatalog, AccessOp, AccessState, DefaultGrant, Grant, Grantee, GroupDef, Privilege, RoleDef, Securable,
    UserDef,
};
pub use lake::{
    ExternalSchema, ExternalTable, LakeCatalog, LakeColumn, LakeDatabase, LakeFileStats, LakeFormat, LakePartition,
    LakeState, TableVersion, arrow_to_lake_type, lake_type_to_arrow,
};
pub use lineage::{LineageKind, LineageObject, LineageRecord};
pub use load::{LoadCommit, LoadError, QueryRecord};
pub use model::{
    CatalogOp, CatalogState, ColumnDef, ColumnStats, DEFAULT_SCHEMA, DataFile, FileStats, NewDataFile, ObjectId,
    Relation, RelationDef, SchemaDef, SnapshotId, SnapshotInfo, SortKey, Stat, TableDef, TableKey, ViewDef,
};
pub use store::{Backend, CopyReport, SqlCatalog};
pub use txn::{TableFiles, Transaction};
pub use types::{SQL_TYPE_METADATA, SqlType};

/// Errors of the catalog.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("{0}")]
    DependentObjects(String),
    #[error("invalid type: {0}")]
    InvalidType(String),
    #[error("not supported yet: {0}")]
    Unsupported(String),
    /// Another transaction committed a conflicting change first.
    #[error("could not serialize access: {0}; retry the transaction")]
    Conflict(String),
    #[error("catalog database {location}: {source}")]
    Database { location: String, source: Box<dyn std::error::Error + Send + Sync> },
    #[error(
        "catalog database {location} has schema version {found}, newer than this tarn supports ({supported}); upgrade tarn"
    )]
    TooNew { location: String, found: i64, supported: i64 },
    #[error("corrupt catalog: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How the catalog writes times: RFC 3339, UTC, microseconds. Times in this form compare
/// correctly as text (snapshot times, retention cutoffs).
pub fn format_time(time: chrono::DateTime<chrono::Utc>) -> String {
    time.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// The current time, as [`format_time`] writes it.
pub fn now() -> String {
    format_time(chrono::Utc::now())
}

/// Where the catalog is kept. Implementations must make [`commit`](Self::commit) atomic and
/// serializable across processes, and never block readers on writers.
pub trait CatalogStore: LakeCatalog + AccessCatalog + Send + Sync {
    /// The newest committed snapshot.
    fn latest_snapshot(&self) -> Result<SnapshotId>;

    /// Schemas, tables and views as of `snapshot`.
    fn load_state(&self, snapshot: SnapshotId) -> Result<CatalogState>;

    /// The live data files of a table as of `snapshot`, in commit order.
    fn data_files(&self, table_id: ObjectId, snapshot: SnapshotId) -> Result<Vec<DataFile>>;

    /// Reserves `count` consecutive object ids and returns the first.
    fn allocate_ids(&self, count: i64) -> Result<ObjectId>;

    /// Commits `txn` as one new snapshot, after checking it against every snapshot committed
    /// since its base; returns the new snapshot's id. Its lineage records take that snapshot.
    /// An empty transaction commits nothing and returns its base (its lineage, if any, is
    /// recorded as of the base).
    fn commit(&self, txn: &Transaction, author: &str) -> Result<SnapshotId>;

    /// The newest snapshot committed at or before `time` (RFC 3339, UTC).
    fn snapshot_at_time(&self, time: &str) -> Result<Option<SnapshotId>>;

    /// Every snapshot, oldest first.
    fn snapshots(&self) -> Result<Vec<SnapshotInfo>>;

    /// Time of the newest snapshot at or before `snapshot` that changed the table.
    fn table_modified_at(&self, table_id: ObjectId, snapshot: SnapshotId) -> Result<Option<String>>;

    /// Expires the snapshots that no longer matter once only states from `cutoff` (RFC 3339)
    /// on are kept: the newest snapshot at or before `cutoff` stays (it is the state as of
    /// `cutoff`), older ones go, and so does every catalog row and data file no remaining
    /// snapshot sees. Returns the paths of the expired data files, for the caller to delete.
    fn expire_snapshots(&self, cutoff: &str) -> Result<Vec<String>>;

    /// A new id for a load (Redshift's query id in `stl_load_errors`).
    fn next_query_id(&self) -> Result<i64>;

    /// Records the rows a load rejected and the files it read. Kept whatever becomes of the
    /// load's transaction: a failed load is exactly when users look at them.
    fn record_load(&self, errors: &[LoadError], files: &[LoadCommit]) -> Result<()>;

    /// Appends statements to the query history, numbering them from the query id sequence.
    fn record_queries(&self, queries: &[QueryRecord]) -> Result<()>;

    /// Adds reads of tables: (table id, reads, RFC 3339 time of the last).
    fn record_reads(&self, reads: &[(ObjectId, u64, String)]) -> Result<()>;

    /// Records lineage outside a transaction's commit (statements that change no table, such as
    /// UNLOAD); each record keeps its own snapshot.
    fn record_lineage(&self, records: &[LineageRecord]) -> Result<()>;

    /// Every lineage record, oldest first.
    fn lineage(&self) -> Result<Vec<LineageRecord>>;

    /// Every table's reads and the time of the last one.
    fn table_reads(&self) -> Result<std::collections::HashMap<ObjectId, (i64, String)>>;

    /// The query history, oldest first.
    fn queries(&self) -> Result<Vec<QueryRecord>>;

    /// Drops history beyond the newest `keep` statements and, with `before` (RFC 3339),
    /// statements that started earlier. Returns how many went.
    fn trim_queries(&self, keep: Option<u64>, before: Option<&str>) -> Result<u64>;

    /// Every recorded load error, oldest first.
    fn load_errors(&self) -> Result<Vec<LoadError>>;

    /// Every recorded loaded file, oldest first.
    fn load_commits(&self) -> Result<Vec<LoadCommit>>;

    /// Every data file any snapshot references, live or not, in commit order.
    fn all_data_files(&self) -> Result<Vec<DataFile>>;

    /// Records the statistics of committed data files (by id), replacing what was recorded.
    /// Files never change, so this is a fact about them rather than a change to the warehouse:
    /// no snapshot is made and every snapshot that sees the file sees its statistics.
    fn record_file_stats(&self, stats: &[(i64, FileStats)]) -> Result<()>;

    /// Marks engine `id` (one process; its data files' names start with the id) as running for
    /// as long as this catalog stays open, on whatever machine it runs.
    fn register_engine(&self, id: &str) -> Result<()>;

    /// The ids of the engines that run now (this one's among them, once registered): files
    /// they wrote that no snapshot references may still be committed, so they must stay.
    fn live_engines(&self) -> Result<std::collections::HashSet<String>>;

    /// Changes whenever other processes may have taken this engine for gone since it
    /// registered (its catalog session was lost and made again): files it wrote before may have
    /// been removed as orphans, so a transaction that wrote files under one epoch must not
    /// commit them under another.
    fn liveness_epoch(&self) -> u64;

    /// Where the warehouse keeps its managed data: `None` in its own directory, or the
    /// location recorded when it was created. `wanted` (a location such as `s3://b/prefix`)
    /// is recorded by a warehouse that has no data files yet; another location than the
    /// recorded one is an error.
    fn data_location(&self, wanted: Option<&str>) -> Result<Option<String>>;
}
