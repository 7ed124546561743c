//! [`Engine`]: one open warehouse directory.
//!
//! Layout of a warehouse:
//! ```text
//! DIR/catalog.db                         the catalog (SQLite, WAL), unless it is on PostgreSQL
//! DIR/data/<schema>/<table>_<id>/*.parquet  managed table data, immutable files (unless the
//!                                        data is at an s3:// location: the same paths there)
//! DIR/engines/<engine-id>.lock           held (flock) by each process that has an SQLite
//!                                        catalog open
//! DIR/empty/                             always empty: what tables without files scan
//! ```
//! Data files are named `<engine-id>-<uuid>.parquet`. A file no snapshot references is either
//! being written by a running engine (the catalog knows which run, see
//! [`CatalogStore::live_engines`]) or left by a write that failed or crashed; only the latter are
//! removed, by `VACUUM` (and on open, for data in the warehouse directory).

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tarn_catalog::{CatalogState, CatalogStore, SqlCatalog};

use crate::data_root::DataRoot;
use crate::error::{Error, Result};
use crate::session::Session;

const CATALOG_FILE: &str = "catalog.db";
pub(crate) const DATA_DIR: &str = "data";
/// Always empty: the scan location of tables that have no data files.
pub(crate) const EMPTY_DIR: &str = "empty";

/// Opens the shared catalog at `address`: PostgreSQL's, the only kind there is.
fn shared_catalog(address: &str, owner: &str) -> Result<SqlCatalog> {
    let scheme = address.split_once("://").map(|(scheme, _)| scheme.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("postgresql" | "postgres") => Ok(SqlCatalog::postgres(address, owner)?),
        _ => Err(Error::Invalid(format!(
            "catalog address {address:?}: a shared catalog is a postgresql://user@host:port/database address \
             (without --catalog, the warehouse keeps its catalog in its own catalog.db)"
        ))),
    }
}

/// Copies the SQLite catalog of the warehouse at `warehouse` into the new PostgreSQL catalog at
/// `address` (`tarn catalog migrate`); the warehouse's data stays where it is. Returns what was
/// copied. Other processes should not write to the warehouse meanwhile: what they commit after
/// the copy began stays in the SQLite catalog only.
pub fn migrate_catalog(warehouse: &Path, address: &str, user: &str) -> Result<tarn_catalog::CopyReport> {
    let file = warehouse.join(CATALOG_FILE);
    if !file.is_file() {
        return Err(Error::Invalid(format!("{} has no catalog ({} is missing)", warehouse.display(), file.display())));
    }
    let source = SqlCatalog::sqlite(&file, user)?;
    let target = shared_catalog(address, user)?;
    Ok(target.copy_from(&source)?)
}

/// Settings for opening a warehouse.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// The user recorded as owner of new objects and author of snapshots.
    pub user: String,
    /// Parallelism of query execution and writes (DataFusion's `target_partitions`).
    pub target_partitions: usize,
    /// Upper bound for query memory, in bytes (`None`: unbounded).
    pub memory_limit: Option<usize>,
    /// Bound of the decoded-data cache in bytes (`None`: a quarter of the machine's memory;
    /// 0 turns it off). `SET tarn.cache_size` changes it while the engine runs.
    pub cache_size: Option<usize>,
    /// Where the catalog is: `None` for the warehouse's own SQLite file (`catalog.db`), or a
    /// `postgresql://` address for a catalog that processes on several machines share.
    pub catalog: Option<String>,
    /// Where a new warehouse keeps its managed data (`s3://bucket/prefix`); `None`: where the
    /// catalog says (the warehouse directory unless recorded otherwise at creation).
    pub data: Option<String>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            user: std::env::var("TARN_USER")
                .or_else(|_| std::env::var("USER"))
                .ok()
                .filter(|u| !u.is_empty())
                .unwrap_or_else(|| "tarn".to_string()),
            target_partitions: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2),
            memory_limit: None,
            cache_size: None,
            catalog: None,
            data: None,
        }
    }
}

/// An open warehouse. Cheap to clone; every [`Session`] shares it.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<EngineInner>,
}

pub(crate) struct EngineInner {
    pub root: PathBuf,
    /// Where managed tables' files are (the warehouse directory or an S3 prefix).
    pub data: DataRoot,
    pub store: Arc<dyn CatalogStore>,
    pub config: EngineConfig,
    /// Unique per open; prefixes every data file this engine writes.
    pub engine_id: String,
    /// Object stores for lake locations (local and S3), shared by every session.
    pub stores: Arc<crate::storage::Stores>,
    /// The lake catalog as last loaded.
    pub lake: crate::lake::LakeCache,
    /// Table write locks of every session (see [`crate::locks`]).
    pub locks: Arc<crate::locks::TableLocks>,
    /// Parquet footers and file statistics, read once for every session (the server's
    /// connections share them); files are immutable, lake files are checked by size and time.
    pub caches: Arc<datafusion::execution::cache::cache_manager::CacheManager>,
    /// Decoded Parquet column chunks, shared by every session (see [`crate::cache`]).
    pub decoded: Arc<crate::cache::DecodedCache>,
    /// Catalog statistics of data files as the planner takes them (see [`crate::stats`]).
    pub file_statistics: crate::stats::PlannerStatistics,
    /// Finished statements on their way to the query history (see [`crate::system::history`]).
    pub history: crate::system::history::History,
    /// The newest catalog state loaded, reused while no one commits.
    latest: Mutex<Option<Arc<CatalogState>>>,
    /// Access control as last loaded.
    access: Mutex<Option<Arc<tarn_catalog::AccessState>>>,
}

impl Engine {
    /// Local paths or `s3://` keys that start with `prefix` (one folder level), for completion.
    pub async fn complete_location(&self, prefix: &str) -> Result<Vec<String>> {
        self.inner.stores.complete(prefix).await
    }

    /// Opens the warehouse at `path`, creating it if needed.
    pub fn open(path: impl AsRef<Path>) -> Result<Engine> {
        Self::open_with(path, EngineConfig::default())
    }

    pub fn open_with(path: impl AsRef<Path>, config: EngineConfig) -> Result<Engine> {
        let root = path.as_ref().to_path_buf();
        let io = |what: &str, p: &Path| {
            let context = format!("{what} {}", p.display());
            move |source| Error::Io { context, source }
        };
        fs::create_dir_all(&root).map_err(io("cannot create warehouse directory", &root))?;
        let root = root.canonicalize().map_err(io("cannot open warehouse directory", &root))?;
        for dir in [DATA_DIR, EMPTY_DIR] {
            fs::create_dir_all(root.join(dir)).map_err(io("cannot create", &root.join(dir)))?;
        }

        let engine_id = uuid::Uuid::now_v7().simple().to_string();
        let store: Arc<dyn CatalogStore> = match &config.catalog {
            None => Arc::new(SqlCatalog::sqlite(root.join(CATALOG_FILE), &config.user)?),
            Some(address) => Arc::new(shared_catalog(address, &config.user)?),
        };
        // From now on other processes see this engine run, and leave the files it writes alone.
        store.register_engine(&engine_id)?;
        let wanted = config.data.as_deref().map(DataRoot::normalize).transpose()?;
        let stores = Arc::new(crate::storage::Stores::new());
        let data = DataRoot::open(store.data_location(wanted.as_deref())?.as_deref(), &root, &stores)?;
        let cache_size = config.cache_size.unwrap_or_else(crate::cache::DecodedCache::default_capacity);
        let inner = Arc::new(EngineInner {
            root,
            data,
            history: crate::system::history::History::new(store.clone()),
            store,
            config,
            engine_id,
            stores,
            lake: Default::default(),
            latest: Mutex::new(None),
            locks: Arc::default(),
            caches: datafusion::execution::cache::cache_manager::CacheManager::try_new(&Default::default())?,
            access: Mutex::new(None),
            decoded: Arc::new(crate::cache::DecodedCache::new(cache_size)),
            file_statistics: Default::default(),
        });
        let engine = Engine { inner };
        // What failed writes left in the warehouse directory goes at once; a shared data
        // location is listed only by VACUUM (its listing may be long, and other processes'
        // files are in it).
        if engine.inner.data.is_local() {
            futures::executor::block_on(engine.inner.remove_abandoned_files())?;
        }
        engine.seed_access()?;
        Ok(engine)
    }

    /// A new session: its own transaction state and settings over this warehouse, as the
    /// warehouse's superuser (the embedded user).
    pub fn session(&self) -> Result<Session> {
        Session::new(self.inner.clone(), None)
    }

    /// A new session as `user`, whose privileges every statement is checked against.
    pub fn session_as(&self, user: &str) -> Result<Session> {
        if !self.inner.access_state()?.users.contains_key(user) {
            return Err(Error::Invalid(format!("user \"{user}\" does not exist")));
        }
        Session::new(self.inner.clone(), Some(user.to_string()))
    }

    /// Users, groups, roles and grants as committed.
    pub fn access_state(&self) -> Result<Arc<tarn_catalog::AccessState>> {
        self.inner.access_state()
    }

    /// Applies access-control changes at once (outside any session), such as the first
    /// superuser of a server.
    pub fn apply_access(&self, ops: &[tarn_catalog::AccessOp]) -> Result<()> {
        Ok(self.inner.store.apply_access(ops)?)
    }

    /// Creates a superuser with a password (kept only as a SCRAM verifier and an md5 hash):
    /// a new server's first user, made without the password passing through SQL text.
    pub fn create_superuser(&self, name: &str, password: &str) -> Result<()> {
        if name.is_empty() || password.is_empty() {
            return Err(Error::Invalid("a user needs a name and a password".into()));
        }
        let user = crate::access::new_user(name, true, password);
        self.apply_access(&[tarn_catalog::AccessOp::CreateUser(user)])
    }

    /// The user the embedded session runs as.
    pub fn embedded_user(&self) -> &str {
        &self.inner.config.user
    }

    /// A new warehouse's schema `public` may be used and created in by everyone (PUBLIC), as
    /// in Redshift; done once (`REVOKE ... FROM PUBLIC` then sticks).
    fn seed_access(&self) -> Result<()> {
        let state = self.inner.access_state()?;
        if state.version != 0 {
            return Ok(());
        }
        let public = self.inner.latest_state()?.schema_by_name(tarn_catalog::DEFAULT_SCHEMA).map(|s| s.id);
        let ops: Vec<tarn_catalog::AccessOp> = public
            .into_iter()
            .flat_map(|id| {
                [tarn_catalog::Privilege::Usage, tarn_catalog::Privilege::Create].map(|privilege| {
                    tarn_catalog::AccessOp::Grant(tarn_catalog::Grant {
                        object: tarn_catalog::Securable::Schema(id),
                        privilege,
                        grantee: tarn_catalog::Grantee::Public,
                    })
                })
            })
            .collect();
        self.inner.store.apply_access(&ops)?;
        Ok(())
    }

    /// The warehouse directory.
    pub fn path(&self) -> &Path {
        &self.inner.root
    }

    /// Removes data files that no snapshot references and no live engine is writing.
    /// Returns how many were removed.
    pub async fn remove_abandoned_files(&self) -> Result<usize> {
        self.inner.remove_abandoned_files().await
    }

    /// Where the warehouse keeps its managed data: its directory, or an `s3://` location.
    pub fn data_location(&self) -> String {
        self.inner.data.to_string()
    }
}

impl EngineInner {
    /// Access control as committed (cached until someone changes it).
    pub fn access_state(&self) -> Result<Arc<tarn_catalog::AccessState>> {
        let version = self.store.access_version()?;
        let mut cached = self.access.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(state) = cached.as_ref().filter(|s| s.version == version) {
            return Ok(state.clone());
        }
        let state = Arc::new(self.store.access_state()?);
        *cached = Some(state.clone());
        Ok(state)
    }

    /// The catalog at the newest snapshot (cached until someone commits).
    pub fn latest_state(&self) -> Result<Arc<CatalogState>> {
        let head = self.store.latest_snapshot()?;
        let mut cached = self.latest.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(state) = cached.as_ref().filter(|s| s.snapshot == head) {
            return Ok(state.clone());
        }
        let state = Arc::new(self.store.load_state(head)?);
        *cached = Some(state.clone());
        Ok(state)
    }

    /// Absolute path of a warehouse-relative path.
    pub fn absolute(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    /// Deletes files this engine wrote for a transaction that will never commit them.
    pub fn discard_files(&self, relative: &[String]) {
        self.data.discard(relative);
    }

    /// Removes the data files no snapshot references, but for those of engines that run (on
    /// any machine: the catalog tells). Returns how many went.
    pub(crate) async fn remove_abandoned_files(&self) -> Result<usize> {
        // Listed first, then who runs and what is referenced: a file in the listing was written
        // by an engine registered before it, so that engine is in `live` if it still runs, and
        // a file committed meanwhile is in `referenced`.
        let files = self.data.list_files(&self.stores).await?;
        let live = self.store.live_engines()?;
        let referenced: HashSet<String> = self.store.all_data_files()?.into_iter().map(|f| f.path).collect();
        let abandoned: Vec<String> = files
            .into_iter()
            .filter(|relative| {
                let writer = relative.rsplit('/').next().and_then(|name| name.split('-').next()).unwrap_or_default();
                !referenced.contains(relative) && writer != self.engine_id && !live.contains(writer)
            })
            .collect();
        Ok(self.data.delete(&self.stores, &abandoned).await)
    }
}

#[cfg(test)]
mod tests {
    /// Forgets the recorded statistics of `table`'s files (or every file), as for files an
    /// older tarn wrote.
    fn forget_statistics(warehouse: &std::path::Path, table: Option<&str>) {
        let filter = match table {
            Some(t) => format!("WHERE table_id = (SELECT table_id FROM tarn_table WHERE table_name = '{t}')"),
            None => String::new(),
        };
        rusqlite::Connection::open(warehouse.join(super::CATALOG_FILE))
            .unwrap()
            .execute(&format!("UPDATE tarn_data_file SET column_stats = NULL {filter}"), [])
            .unwrap();
    }

    fn footers(s: &crate::Session) -> std::sync::Arc<datafusion::execution::cache::cache_manager::FileMetadataCache> {
        s.shared.runtime_env().unwrap().cache_manager.get_file_metadata_cache()
    }

    /// Planning takes a table's statistics from the catalog: a new process opens no footer to
    /// plan. A file written before tarn recorded statistics has its footer read (once), until
    /// ANALYZE records them.
    #[tokio::test]
    async fn planning_takes_statistics_from_the_catalog() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w");
        {
            let engine = crate::Engine::open(&path).unwrap();
            let mut session = engine.session().unwrap();
            let setup = "CREATE TABLE t (id int); INSERT INTO t VALUES (1), (2); CREATE TABLE old (id int); INSERT INTO old VALUES (3), (4)";
            session.query(setup).await.unwrap();
        }
        // `old`'s file as an older tarn wrote it: no statistics in the catalog.
        forget_statistics(&path, Some("old"));
        let engine = crate::Engine::open(&path).unwrap();
        let mut session = engine.session().unwrap();
        let rows = |batches: Vec<crate::arrow::array::RecordBatch>| {
            crate::display::rows_as_strings(&batches, &crate::display::format_options()).unwrap()
        };
        session.query("EXPLAIN SELECT count(*) FROM t WHERE id > 1").await.unwrap();
        assert_eq!(footers(&session).len(), 0, "planning opened a footer");
        session.query("EXPLAIN SELECT count(*) FROM old WHERE id > 1").await.unwrap();
        assert_eq!(footers(&session).len(), 1, "the old file's footer is read");
        let stats = "SELECT analyzed_files, null_count, min_value, max_value, distinct_count FROM tarn_column_stats WHERE \"table\" = 'old'";
        assert_eq!(rows(session.query(stats).await.unwrap()), vec![vec!["0", "NULL", "NULL", "NULL", "NULL"]]);
        session.query("ANALYZE old").await.unwrap();
        assert_eq!(rows(session.query(stats).await.unwrap()), vec![vec!["1", "0", "3", "4", "2"]]);
        // Now the plan answers count(*) from the recorded row count.
        let plan = rows(session.query("EXPLAIN SELECT count(*) FROM old").await.unwrap());
        assert!(plan.iter().any(|row| row[1].contains("2 as count")), "{plan:?}");
    }

    #[tokio::test]
    async fn sessions_share_footer_and_statistics_caches() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w");
        let engine = crate::Engine::open(&path).unwrap();
        let mut first = engine.session().unwrap();
        let second = engine.session().unwrap();
        first.query("CREATE TABLE t (id int); INSERT INTO t VALUES (1), (2)").await.unwrap();
        // A file without statistics in the catalog (written by an older tarn): its footer is read.
        forget_statistics(&path, None);
        let statistics =
            |s: &crate::Session| s.shared.runtime_env().unwrap().cache_manager.get_file_statistic_cache().unwrap();
        assert_eq!(statistics(&second).len(), 0);
        first.query("SELECT count(*) FROM t WHERE id > 1").await.unwrap();
        // What the first session read, the second finds without opening the file again.
        assert!(std::sync::Arc::ptr_eq(&statistics(&first), &statistics(&second)));
        assert_eq!(statistics(&second).len(), 1);
        assert!(std::sync::Arc::ptr_eq(&footers(&first), &footers(&second)));
    }

    /// Two engines on one warehouse are two processes: each has its own decoded-data cache, and
    /// what one commits the other reads, never its cached copy of the older files.
    #[tokio::test]
    async fn decoded_cache_never_hides_another_process_commit() {
        let dir = tempfile::tempdir().unwrap();
        let reader = crate::Engine::open(dir.path().join("w")).unwrap();
        let writer = crate::Engine::open(dir.path().join("w")).unwrap();
        let mut reading = reader.session().unwrap();
        let mut writing = writer.session().unwrap();
        writing
            .query("CREATE TABLE t (id int, name varchar(8)); INSERT INTO t VALUES (1, 'a'), (2, 'b')")
            .await
            .unwrap();
        let sum = |batches: Vec<crate::arrow::array::RecordBatch>| {
            crate::display::rows_as_strings(&batches, &crate::display::format_options()).unwrap()
        };
        let query = "SELECT sum(id), max(name) FROM t";
        // Read three times: the second read fills the cache, the third is served from it.
        for _ in 0..3 {
            assert_eq!(sum(reading.query(query).await.unwrap()), vec![vec!["3".to_string(), "b".to_string()]]);
        }
        assert!(reader.inner.decoded.stats().hits > 0, "the third read came from the cache");

        writing.query("UPDATE t SET name = 'z' WHERE id = 2; INSERT INTO t VALUES (3, 'c')").await.unwrap();
        assert_eq!(sum(reading.query(query).await.unwrap()), vec![vec!["6".to_string(), "z".to_string()]]);
        assert!(!std::sync::Arc::ptr_eq(&reader.inner.decoded, &writer.inner.decoded), "caches are per process");
    }
}
