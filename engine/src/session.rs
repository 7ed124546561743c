//! [`Session`]: runs SQL against a warehouse, with its own transaction state.
//!
//! Outside `BEGIN ... COMMIT` every statement runs in an implicit transaction that commits when
//! the statement succeeds. Inside one, statements build up one [`Transaction`] delta that reads
//! see (read-your-writes) and `COMMIT` applies as a single snapshot.

use std::collections::BTreeSet;
use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::task::{Context, Poll};

use crate::locks::LockMode;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::execution::SessionState;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::cache::cache_manager::CacheManagerConfig;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{LogicalPlan, WriteOp};
use datafusion::physical_plan::SendableRecordBatchStream;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::Statement as SqlStatement;
use futures::{Stream, StreamExt};
use tarn_catalog::{CatalogOp, CatalogState, DEFAULT_SCHEMA, SnapshotId, TableDef, Transaction};

use crate::engine::EngineInner;
use crate::error::{Error, Result};
use crate::parser::{self, AsOf, Statement};
use crate::plan_cache::{KeptPlan, PlanCache, PlanKey};
use crate::provider::{CATALOG_NAME, TarnCatalogList};
use crate::{ddl, dml, functions, maintenance, write};

/// What a statement returns.
pub enum Output {
    /// A result set, streamed.
    Rows(RowStream),
    /// A command's completion tag (`CREATE TABLE`, `INSERT 0 5`, ...).
    Command(CommandTag),
}

impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Output::Rows(rows) => write!(f, "Rows({:?})", rows.schema()),
            Output::Command(tag) => write!(f, "Command({tag})"),
        }
    }
}

/// PostgreSQL-style completion tag of a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandTag {
    /// The command, upper case: `CREATE TABLE`, `INSERT`, `DROP SCHEMA`, ...
    pub command: String,
    /// Rows the command affected, for commands that count them.
    pub rows: Option<u64>,
    /// A notice for people, such as COPY's summary.
    pub message: Option<String>,
}

impl Output {
    pub(crate) fn command(command: impl Into<String>) -> Output {
        Output::Command(CommandTag { command: command.into(), rows: None, message: None })
    }

    pub(crate) fn command_with_rows(command: impl Into<String>, rows: u64) -> Output {
        Output::Command(CommandTag { command: command.into(), rows: Some(rows), message: None })
    }

    pub(crate) fn command_with_message(command: impl Into<String>, rows: u64, message: String) -> Output {
        Output::Command(CommandTag { command: command.into(), rows: Some(rows), message: Some(message) })
    }
}

impl fmt::Display for CommandTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.command.as_str(), self.rows) {
            ("INSERT", Some(n)) => write!(f, "INSERT 0 {n}"),
            (command, Some(n)) => write!(f, "{command} {n}"),
            (command, None) => f.write_str(command),
        }
    }
}

/// A stream of record batches with a known schema.
pub struct RowStream {
    schema: SchemaRef,
    inner: SendableRecordBatchStream,
    /// The session whose open transaction an error while reading aborts.
    session: Option<Weak<SessionShared>>,
    /// The statement's entry of the query history, recorded once the rows have been read.
    history: Option<Recording>,
}

/// A query history entry waiting for its result to be read.
struct Recording {
    engine: Arc<EngineInner>,
    record: tarn_catalog::QueryRecord,
    rows: i64,
    finished: bool,
    failed: Option<String>,
}

impl Drop for Recording {
    fn drop(&mut self) {
        let record = std::mem::replace(&mut self.record, empty_record());
        let (status, error) = match (self.failed.take(), self.finished) {
            (Some(error), _) => ("error", Some(error)),
            (None, true) => ("success", None),
            (None, false) => ("cancelled", None),
        };
        self.engine.history.record(finished(record, Some(self.rows), status, error));
    }
}

/// `record` of a statement that ended now, with its rows and outcome.
fn finished(
    record: tarn_catalog::QueryRecord,
    rows: Option<i64>,
    status: &str,
    error: Option<String>,
) -> tarn_catalog::QueryRecord {
    tarn_catalog::QueryRecord { endtime: tarn_catalog::now(), rows, status: status.into(), error, ..record }
}

fn empty_record() -> tarn_catalog::QueryRecord {
    tarn_catalog::QueryRecord {
        query: 0,
        userid: String::new(),
        pid: 0,
        querytxt: String::new(),
        starttime: String::new(),
        endtime: String::new(),
        rows: None,
        status: String::new(),
        error: None,
    }
}

impl RowStream {
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// A result whose repeated column names (`SELECT a, a`) lose the marks that kept them
    /// apart inside the engine.
    fn with_output_names(
        schema: SchemaRef,
        inner: SendableRecordBatchStream,
        session: &Arc<SessionShared>,
    ) -> RowStream {
        use crate::sql::names::{is_repeated, output_name};
        let session = Some(Arc::downgrade(session));
        if !schema.fields().iter().any(|f| is_repeated(f.name())) {
            return RowStream { schema, inner, session, history: None };
        }
        let renamed: SchemaRef = Arc::new(datafusion::arrow::datatypes::Schema::new_with_metadata(
            schema.fields().iter().map(|f| f.as_ref().clone().with_name(output_name(f.name()))).collect::<Vec<_>>(),
            schema.metadata().clone(),
        ));
        let target = renamed.clone();
        let stream = inner.map(move |batch| {
            let batch = batch?;
            let options = datafusion::arrow::array::RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
            Ok(RecordBatch::try_new_with_options(target.clone(), batch.columns().to_vec(), &options)?)
        });
        let inner = Box::pin(datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(renamed.clone(), stream));
        RowStream { schema: renamed, inner, session, history: None }
    }

    /// Reads the whole result.
    pub async fn collect(mut self) -> Result<Vec<RecordBatch>> {
        let mut batches = Vec::new();
        while let Some(batch) = self.next().await {
            batches.push(batch?);
        }
        Ok(batches)
    }
}

impl RowStream {
    /// A result of text columns holding `rows`.
    pub(crate) fn table(columns: &[&str], rows: Vec<Vec<String>>) -> Result<RowStream> {
        use datafusion::arrow::array::{ArrayRef, StringArray};
        use datafusion::arrow::datatypes::{DataType, Field, Schema};
        let schema: SchemaRef =
            Arc::new(Schema::new(columns.iter().map(|c| Field::new(*c, DataType::Utf8, true)).collect::<Vec<_>>()));
        let arrays: Vec<ArrayRef> = (0..columns.len())
            .map(|i| Arc::new(rows.iter().map(|r| r.get(i).cloned()).collect::<StringArray>()) as ArrayRef)
            .collect();
        let batch = RecordBatch::try_new(schema.clone(), arrays)
            .map_err(|e| Error::Invalid(format!("building a result: {e}")))?;
        Ok(RowStream::from_batches(schema, vec![batch]))
    }

    /// A result already in memory.
    pub fn from_batches(schema: SchemaRef, batches: Vec<RecordBatch>) -> RowStream {
        let inner = Box::pin(datafusion::physical_plan::stream::RecordBatchStreamAdapter::new(
            schema.clone(),
            futures::stream::iter(batches.into_iter().map(Ok)),
        ));
        RowStream { schema, inner, session: None, history: None }
    }
}

impl Stream for RowStream {
    type Item = Result<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let item = self.inner.poll_next_unpin(cx).map(|item| item.map(|r| r.map_err(Error::from)));
        if let Poll::Ready(Some(Err(e))) = &item {
            if let Some(recording) = self.history.as_mut() {
                recording.failed = Some(e.to_string());
            }
            if let Some(session) = self.session.as_ref().and_then(Weak::upgrade) {
                // A query that fails while its rows are read aborts the transaction too.
                session.abort_explicit();
            }
        }
        if let Some(recording) = self.history.as_mut() {
            match &item {
                Poll::Ready(Some(Ok(batch))) => recording.rows += batch.num_rows() as i64,
                Poll::Ready(None) => recording.finished = true,
                _ => {}
            }
        }
        item
    }
}

/// The statements of one [`Session::execute`] call, run one at a time by [`Results::next`].
pub struct Results<'s> {
    session: &'s mut Session,
    statements: std::vec::IntoIter<(Statement, String)>,
}

impl Results<'_> {
    /// Runs the next statement; `None` when all have run.
    #[allow(clippy::should_implement_trait)]
    pub async fn next(&mut self) -> Option<Result<Output>> {
        let (statement, text) = self.statements.next()?;
        Some(self.session.run_text(statement, &text).await)
    }
}

/// A data file as a session sees it.
#[derive(Debug, Clone)]
pub(crate) struct VisibleFile {
    /// The committed file's id; `None` for a file this transaction wrote.
    pub id: Option<i64>,
    /// Relative to the warehouse.
    pub path: String,
    pub record_count: u64,
    pub file_size_bytes: u64,
    /// Recorded statistics (see [`crate::stats`]).
    pub stats: Option<tarn_catalog::FileStats>,
}

/// A transaction in progress.
pub(crate) struct ActiveTxn {
    pub txn: Transaction,
    /// Opened by `BEGIN` (else: one statement's implicit transaction).
    pub explicit: bool,
    /// A statement failed: only ROLLBACK (or COMMIT, which rolls back) is accepted.
    pub aborted: bool,
    /// A statement is running. Still set when the next one starts: it was cancelled.
    pub running: bool,
    /// Time travel (`BEGIN AS OF ...`): reads a past snapshot, writes nothing.
    pub read_only: bool,
    /// Every data file this transaction wrote, committed to it or not.
    pub written: Vec<String>,
    /// Access-control changes, applied when the transaction commits.
    pub access: Vec<tarn_catalog::AccessOp>,
    /// `SAVEPOINT`s, oldest first: the transaction as it was at each.
    pub savepoints: Vec<Savepoint>,
    /// The table locks it holds, released when it ends.
    pub locks: crate::locks::LockSet,
}

impl ActiveTxn {
    fn new(txn: Transaction, explicit: bool, read_only: bool, locks: crate::locks::LockSet) -> ActiveTxn {
        ActiveTxn {
            txn,
            explicit,
            aborted: false,
            running: !explicit,
            read_only,
            written: Vec::new(),
            access: Vec::new(),
            savepoints: Vec::new(),
            locks,
        }
    }
}

/// A transaction as it was at `SAVEPOINT name`.
pub(crate) struct Savepoint {
    name: String,
    txn: Transaction,
    access: usize,
}

/// Numbers sessions for `pg_backend_pid()`.
static NEXT_SESSION_ID: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(1);

/// Session state the DataFusion catalog providers read.
pub(crate) struct SessionShared {
    pub engine: Arc<EngineInner>,
    pub txn: Mutex<Option<ActiveTxn>>,
    pub state: OnceLock<Weak<parking_lot::RwLock<SessionState>>>,
    /// How many views are being planned right now (nested).
    pub view_depth: AtomicUsize,
    /// How far the running statement has got.
    pub progress: Arc<Progress>,
    /// The statement being planned names `"$path"` or `"$size"`: external tables show them.
    pub pseudo_columns: AtomicBool,
    /// When the current transaction began (SYSDATE, CURRENT_DATE).
    pub clock: Arc<functions::TransactionClock>,
    /// The user the session logged in as.
    pub login: String,
    /// The embedded session: its login is the warehouse's superuser, whoever the catalog lists.
    pub embedded: bool,
    /// The user the session runs as now (`SET SESSION AUTHORIZATION` changes it).
    pub user: parking_lot::RwLock<String>,
    /// The session's number (`pg_backend_pid()`), unique in the process.
    pub id: i64,
    /// Client settings (`SET search_path ...`, `SHOW DateStyle`).
    pub settings: parking_lot::RwLock<crate::settings::Settings>,
    /// Files the running statement reads in place, and earlier statements' scans of them.
    pub files: parking_lot::Mutex<crate::lake::files::FilesInPlace>,
    /// What the running statement read, for its lineage (see [`crate::system::lineage`]).
    pub lineage: parking_lot::Mutex<crate::system::lineage::Sources>,
    /// The text of the running statement, secrets masked, when the caller gave it
    /// (`Session::run_text`).
    pub statement_text: parking_lot::Mutex<Option<String>>,
    /// Plans of the session's recent queries (see [`crate::plan_cache`]).
    pub plans: PlanCache,
}

/// How far a running statement has got, for progress bars: bytes of input read (of a total,
/// when known) and rows loaded. COPY reports all three.
#[derive(Debug, Default)]
pub struct Progress {
    bytes_done: AtomicU64,
    bytes_total: AtomicU64,
    rows: AtomicU64,
    /// Bytes read from storage by the engine (all sessions), and their count when the
    /// statement started.
    storage_read: Arc<AtomicU64>,
    storage_start: AtomicU64,
}

/// A reading of [`Progress`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProgressReading {
    pub bytes_done: u64,
    /// Zero when unknown.
    pub bytes_total: u64,
    pub rows: u64,
    /// Bytes read from storage since the statement started (scans of tables and lake files).
    pub scanned: u64,
}

impl Progress {
    pub fn read(&self) -> ProgressReading {
        ProgressReading {
            bytes_done: self.bytes_done.load(Ordering::Relaxed),
            bytes_total: self.bytes_total.load(Ordering::Relaxed),
            rows: self.rows.load(Ordering::Relaxed),
            scanned: self
                .storage_read
                .load(Ordering::Relaxed)
                .saturating_sub(self.storage_start.load(Ordering::Relaxed)),
        }
    }

    pub(crate) fn reset(&self) {
        for counter in [&self.bytes_done, &self.bytes_total, &self.rows] {
            counter.store(0, Ordering::Relaxed);
        }
        self.storage_start.store(self.storage_read.load(Ordering::Relaxed), Ordering::Relaxed);
    }

    pub(crate) fn add_total(&self, bytes: u64) {
        self.bytes_total.fetch_add(bytes, Ordering::Relaxed);
    }

    pub(crate) fn add_bytes(&self, bytes: u64) {
        self.bytes_done.fetch_add(bytes, Ordering::Relaxed);
    }

    pub(crate) fn add_rows(&self, rows: u64) {
        self.rows.fetch_add(rows, Ordering::Relaxed);
    }
}

/// Where a query's time went (`\bench`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryTiming {
    /// Parsing, logical and physical planning.
    pub planning: std::time::Duration,
    /// Running the plan and draining its rows.
    pub execution: std::time::Duration,
    pub rows: u64,
}

impl fmt::Debug for SessionShared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionShared").field("warehouse", &self.engine.root).finish()
    }
}

impl SessionShared {
    /// Any error inside `BEGIN ... COMMIT` aborts the transaction, as in PostgreSQL.
    fn abort_explicit(&self) {
        if let Some(active) = self.lock().as_mut()
            && active.explicit
        {
            active.aborted = true;
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<ActiveTxn>> {
        self.txn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The schema unqualified names resolve to: the first schema of `search_path` that exists.
    pub fn default_schema(&self) -> String {
        self.state
            .get()
            .and_then(Weak::upgrade)
            .map(|state| state.read().config_options().catalog.default_schema.clone())
            .unwrap_or_else(|| DEFAULT_SCHEMA.to_string())
    }

    /// The schemas of `search_path`, `"$user"` being the user's own.
    pub(crate) fn search_path_schemas(&self) -> Vec<String> {
        let path = self.settings.read().get("search_path").unwrap_or_default();
        let user = self.user.read().clone();
        crate::settings::split_path(&path).into_iter().map(|s| if s == "$user" { user.clone() } else { s }).collect()
    }

    /// True inside `BEGIN ... COMMIT`.
    pub(crate) fn in_explicit_transaction(&self) -> bool {
        self.lock().as_ref().is_some_and(|t| t.explicit)
    }

    /// Whether the session's user is a superuser (the embedded session's login always is).
    pub(crate) fn is_superuser(&self, state: &tarn_catalog::AccessState) -> bool {
        let user = self.user.read();
        (self.embedded && *user == self.login) || state.is_superuser(&user)
    }

    /// The value of a client setting (`DateStyle`, `search_path`, `is_superuser`, ...).
    pub(crate) fn setting(&self, name: &str) -> Option<String> {
        match name.to_ascii_lowercase().as_str() {
            "is_superuser" => {
                let superuser = self.is_superuser(&*self.engine.access_state().ok()?);
                Some(if superuser { "on" } else { "off" }.to_string())
            }
            "session_authorization" => Some(self.login.clone()),
            crate::cache::CACHE_SIZE_SETTING => Some(crate::cache::format_size(self.engine.decoded.capacity())),
            _ => self.settings.read().get(name),
        }
    }

    /// Every setting SHOW ALL and `pg_settings` list: the session's client settings, then the
    /// engine's own (`tarn.cache_size`). (name, value, description)
    pub(crate) fn all_settings(&self) -> Vec<(&'static str, String, &'static str)> {
        let mut all = self.settings.read().all();
        all.push((
            crate::cache::CACHE_SIZE_SETTING,
            self.setting(crate::cache::CACHE_SIZE_SETTING).unwrap_or_default(),
            "Bound of the decoded-data cache every session shares (0: off).",
        ));
        all
    }

    /// The first schema of `search_path` that exists (`"$user"` is the user's own), else `public`:
    /// a schema of the warehouse, or an external schema named there (`SET search_path TO
    /// spectrum`, `tarn bench run --schema tpch_lake`).
    fn search_path_schema(&self) -> String {
        let schemas = self.search_path_schemas();
        let lake = self.lake_state().ok();
        self.with_state(|state| {
            schemas
                .iter()
                .find(|s| state.schema_by_name(s).is_some() || lake.as_ref().is_some_and(|l| l.schema(s).is_some()))
                .cloned()
        })
        .ok()
        .flatten()
        .unwrap_or_else(|| DEFAULT_SCHEMA.to_string())
    }

    /// Qualifies the tables and views a statement names without a schema with the first schema
    /// of `search_path` that has them (see [`crate::sql::search_path`]). With one schema on the
    /// path, DataFusion's default schema does it alone.
    pub(crate) fn qualify_by_search_path(&self, statement: &mut Statement) {
        let Statement::Sql(sql) = statement else { return };
        let path = self.search_path_schemas();
        let _ = self.with_state(|state| {
            let schemas: Vec<&String> = path.iter().filter(|s| state.schema_by_name(s).is_some()).collect();
            if schemas.len() > 1 {
                let find = |name: &str| {
                    schemas.iter().find(|s| state.relation_by_name(s, name).is_some()).map(|s| s.to_string())
                };
                crate::sql::search_path::qualify(sql, &find);
            }
        });
    }

    /// Points DataFusion's default schema at `search_path`'s (schemas come and go).
    pub(crate) fn apply_search_path(&self) {
        let schema = self.search_path_schema();
        if let Some(state) = self.state.get().and_then(Weak::upgrade)
            && state.read().config_options().catalog.default_schema != schema
        {
            state.write().config_mut().options_mut().catalog.default_schema = schema;
        }
    }

    /// Runs `f` on the catalog as this session sees it now.
    pub fn with_state<T>(&self, f: impl FnOnce(&CatalogState) -> T) -> Result<T> {
        if let Some(active) = self.lock().as_ref() {
            return Ok(f(active.txn.state()));
        }
        Ok(f(self.engine.latest_state()?.as_ref()))
    }

    /// The lake catalog (external schemas and tables) as it is now.
    pub fn lake_state(&self) -> Result<Arc<tarn_catalog::LakeState>> {
        self.engine.lake.state(self.engine.store.as_ref())
    }

    /// The snapshot this session reads: its transaction's base, or the newest.
    pub fn snapshot(&self) -> Result<SnapshotId> {
        match self.lock().as_ref() {
            Some(active) => Ok(active.txn.base_snapshot()),
            None => Ok(self.engine.store.latest_snapshot()?),
        }
    }

    /// The data files of `table` this session sees: committed ones of its snapshot, less
    /// those its transaction removed, plus those it added.
    pub fn visible_files(&self, table: &TableDef) -> Result<Vec<VisibleFile>> {
        let guard = self.lock();
        let (snapshot, overlay, committed_before) = match guard.as_ref() {
            Some(active) => (
                active.txn.base_snapshot(),
                active.txn.table_files(table.id).cloned(),
                active.txn.base().tables.contains_key(&table.id),
            ),
            None => (self.engine.store.latest_snapshot()?, None, true),
        };
        drop(guard);
        let committed = if committed_before { self.engine.store.data_files(table.id, snapshot)? } else { Vec::new() };
        let visible = |files: Vec<tarn_catalog::DataFile>| {
            files.into_iter().map(|f| VisibleFile {
                id: Some(f.id),
                path: f.path,
                record_count: f.record_count,
                file_size_bytes: f.file_size_bytes,
                stats: f.stats,
            })
        };
        Ok(match &overlay {
            Some(changes) => {
                let (kept, added) = changes.overlay(committed);
                visible(kept)
                    .chain(added.iter().map(|f| VisibleFile {
                        id: None,
                        path: f.path.clone(),
                        record_count: f.record_count,
                        file_size_bytes: f.file_size_bytes,
                        stats: f.stats.clone(),
                    }))
                    .collect()
            }
            None => visible(committed).collect(),
        })
    }

    /// This session's DataFusion state (to plan view queries and default expressions).
    pub fn session_state(&self) -> Result<SessionState> {
        self.with_state_of_context(SessionState::clone)
    }

    /// This session's DataFusion runtime (object stores, caches, memory pool).
    pub fn runtime_env(&self) -> Result<Arc<RuntimeEnv>> {
        self.with_state_of_context(|state| state.runtime_env().clone())
    }

    fn with_state_of_context<T>(&self, f: impl FnOnce(&SessionState) -> T) -> Result<T> {
        let state =
            self.state.get().and_then(Weak::upgrade).ok_or_else(|| Error::Invalid("the session is closed".into()))?;
        Ok(f(&state.read()))
    }

    /// Notes a data file the current transaction is about to write (so a rollback removes it).
    pub fn note_written(&self, path: &str) -> Result<()> {
        match self.lock().as_mut() {
            Some(active) if active.read_only => Err(read_only_error(&active.txn)),
            Some(active) => {
                if active.txn.written_epoch().is_none() {
                    active.txn.note_written_epoch(self.engine.store.liveness_epoch());
                }
                active.written.push(path.to_string());
                Ok(())
            }
            None => Err(Error::Invalid("writing outside a transaction".into())),
        }
    }
}

impl Drop for Session {
    /// A session closed inside a transaction rolls it back: its files go now, not at the next open.
    fn drop(&mut self) {
        if let Some(active) = self.shared.lock().take() {
            self.discard(active);
        }
    }
}

fn read_only_error(txn: &Transaction) -> Error {
    Error::Invalid(format!(
        "cannot write in a read-only transaction (AS OF snapshot {}); ROLLBACK to return to the present",
        txn.base_snapshot()
    ))
}

/// `2024-01-31 12:00:00[.fff][+hh:mm]` or RFC 3339 → RFC 3339 in UTC, as snapshot times are kept.
fn parse_timestamp(text: &str) -> Result<String> {
    let utc = chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&chrono::Utc))
        .or_else(|_| {
            chrono::DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%:z").map(|t| t.with_timezone(&chrono::Utc))
        })
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f").map(|t| t.and_utc()))
        .or_else(|_| {
            chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight").and_utc())
        })
        .map_err(|_| {
            Error::Invalid(format!("invalid timestamp '{text}' (expected YYYY-MM-DD[ HH:MI:SS[.ffffff]][+hh:mm])"))
        })?;
    Ok(tarn_catalog::format_time(utc))
}

/// Statements that run inside a transaction.
enum Work {
    Sql(Box<DFStatement>),
    MergeRemoveDuplicates(Box<dml::MergeRemoveDuplicates>),
    Access(Box<crate::access::AccessStatement>),
    Copy(Box<crate::copy::CopyFrom>),
    Unload(Box<crate::unload::Unload>),
}

impl Work {
    /// The lineage this work records if it succeeds.
    fn lineage(&self) -> Option<crate::system::lineage::Pending> {
        use crate::system::lineage::Pending;
        match self {
            Work::Sql(statement) => Pending::of_sql(statement),
            Work::MergeRemoveDuplicates(merge) => Pending::merge(&merge.target),
            Work::Copy(copy) if !copy.options.no_load => Some(Pending::copy(&copy.table)),
            Work::Unload(unload) => Some(Pending::unload(&unload.to)),
            Work::Copy(_) | Work::Access(_) => None,
        }
    }
}

/// A connection to a warehouse: runs SQL, keeps its transaction and settings.
pub struct Session {
    pub(crate) shared: Arc<SessionShared>,
    pub(crate) ctx: SessionContext,
    /// The physical optimizer rules each run of a kept plan applies again.
    deferred_rules: Vec<Arc<dyn datafusion::physical_optimizer::PhysicalOptimizerRule + Send + Sync>>,
}

impl Session {
    pub(crate) fn new(engine: Arc<EngineInner>, user: Option<String>) -> Result<Session> {
        let mut config = SessionConfig::new()
            .with_default_catalog_and_schema(CATALOG_NAME, DEFAULT_SCHEMA)
            .with_create_default_catalog_and_schema(false)
            .with_information_schema(false)
            .with_target_partitions(engine.config.target_partitions);
        config.options_mut().sql_parser.dialect = datafusion::config::Dialect::Redshift;
        // `1.5` is a DECIMAL in Redshift, not a DOUBLE.
        config.options_mut().sql_parser.parse_float_as_decimal = true;
        // A hash join whose build side has up to this many distinct keys (per partition) hands
        // its probe side's scan `key IN (...)` rather than a probe of its hash table
        // (DataFusion's default: 150); the decoded-data cache applies IN lists to the rows it
        // serves, as bitmaps (measured in benches/README.md: TPC-H q19 236 -> 44 ms, q17 150 ->
        // 80 ms). 1024 left SF 10 q17's ~1,030 parts per partition a probe (1.36 s; 0.55 s with
        // 4096); larger lists cost SF 1 q2 and q20 while every file's row-group pruning rebuilt
        // the list's predicate, which the cached scan no longer does.
        config.options_mut().optimizer.hash_join_inlist_pushdown_max_distinct_values = 4096;
        // ... and up to this many bytes of key arrays (DataFusion's default: 128 KB). The arrays
        // are counted with their capacity, a batch's worth of rows per key column: with two key
        // columns (`struct(k1, k2) IN (...)`) 128 KB let no list through. TPC-H q20, whose
        // subquery joins on (part, supplier): 76-80 -> 29-32 ms (benches/README.md).
        config.options_mut().optimizer.hash_join_inlist_pushdown_max_size = 1 << 20;
        // The engine's footer and statistics caches; listings stay per session.
        let caches = CacheManagerConfig::default()
            .with_file_statistics_cache(engine.caches.get_file_statistic_cache())
            .with_file_metadata_cache(Some(engine.caches.get_file_metadata_cache()));
        let mut runtime =
            RuntimeEnvBuilder::new().with_object_store_registry(engine.stores.clone()).with_cache_manager(caches);
        if let Some(limit) = engine.config.memory_limit {
            runtime = runtime.with_memory_limit(limit, 1.0);
        }
        let storage_read = engine.stores.read.clone();
        let engine_user = engine.config.user.clone();
        let shared = Arc::new(SessionShared {
            engine,
            txn: Mutex::new(None),
            state: OnceLock::new(),
            view_depth: AtomicUsize::new(0),
            progress: Arc::new(Progress { storage_read, ..Progress::default() }),
            pseudo_columns: AtomicBool::new(false),
            clock: Arc::new(functions::TransactionClock::default()),
            embedded: user.is_none(),
            user: parking_lot::RwLock::new(user.clone().unwrap_or_else(|| engine_user.clone())),
            login: user.unwrap_or_else(|| engine_user.clone()),
            id: NEXT_SESSION_ID.fetch_add(1, Ordering::Relaxed),
            settings: Default::default(),
            files: Default::default(),
            lineage: Default::default(),
            statement_text: Default::default(),
            plans: Default::default(),
        });
        let mut rules = crate::join_order::with_default_rules();
        rules.push(Arc::new(crate::filter_order::OrderFilterConjuncts));
        rules.push(Arc::new(crate::decimal_math::UncheckedDecimalArithmetic));
        rules.push(Arc::new(crate::cache::scan::FiltersBelowAggregates));
        let (rules, deferred_rules) = crate::plan_cache::split_rules(rules);
        let mut builder = SessionStateBuilder::new()
            .with_config(config)
            .with_runtime_env(runtime.build_arc()?)
            .with_default_features()
            .with_analyzer_rule(Arc::new(crate::sql::timestamp_text::RedshiftTimestampText))
            .with_physical_optimizer_rules(rules)
            .with_catalog_list(Arc::new(TarnCatalogList { shared: shared.clone() }));
        // Redshift's typed arithmetic comes before DataFusion's planners.
        if let Some(planners) = builder.expr_planners() {
            planners.insert(0, Arc::new(crate::sql::TarnExprPlanner));
        }
        let ctx = SessionContext::new_with_state(builder.build());
        functions::register(&ctx, shared.clock.clone());
        crate::system::functions::register(&ctx, Arc::downgrade(&shared));
        crate::system::catalog_functions::register(&ctx, Arc::downgrade(&shared));
        let _ = shared.state.set(ctx.state_weak_ref());
        Ok(Session { shared, ctx, deferred_rules })
    }

    /// Parses `sql` (any number of `;`-separated statements); [`Results::next`] runs them in
    /// order. A syntax error anywhere fails before anything runs.
    pub fn execute(&mut self, sql: &str) -> Result<Results<'_>> {
        let statements = parser::parse_with_text(sql).inspect_err(|_| self.abort_explicit())?;
        Ok(Results { session: self, statements: statements.into_iter() })
    }

    fn abort_explicit(&self) {
        self.shared.abort_explicit();
    }

    /// Runs every statement of `sql` and collects the rows of the last one (empty if it was a
    /// command). Stops at the first error.
    pub async fn query(&mut self, sql: &str) -> Result<Vec<RecordBatch>> {
        let mut results = self.execute(sql)?;
        let mut last = Vec::new();
        while let Some(output) = results.next().await {
            last = match output? {
                Output::Rows(rows) => rows.collect().await?,
                Output::Command(_) => Vec::new(),
            };
        }
        Ok(last)
    }

    /// The progress of the statement this session is running (shared: read it from another
    /// task while the statement runs).
    pub fn progress(&self) -> Arc<Progress> {
        self.shared.progress.clone()
    }

    /// Plans and runs one query, draining its rows, and reports planning and execution time
    /// separately (for benchmarks).
    pub async fn time_query(&mut self, sql: &str) -> Result<QueryTiming> {
        let started = std::time::Instant::now();
        let mut statements = parser::parse(sql)?;
        let statement = match (statements.pop(), statements.is_empty()) {
            (Some(Statement::Sql(statement)), true) if matches!(statement.as_ref(), DFStatement::Statement(s) if matches!(s.as_ref(), SqlStatement::Query(_))) => {
                statement
            }
            _ => return Err(Error::Invalid("only one query (SELECT or WITH) can be timed".into())),
        };
        self.start_statement(parser::uses_pseudo_columns(&statement));
        let key = self.plan_key(&statement);
        let physical = match key.as_ref().and_then(|key| self.shared.plans.get(key)) {
            Some(kept) => self.run_kept(&kept)?,
            None => {
                let plan = crate::sql::plan(&self.ctx.state(), *statement).await?;
                self.query_physical_plan(plan, key).await?
            }
        };
        let planning = started.elapsed();
        let started = std::time::Instant::now();
        let mut stream = datafusion::physical_plan::execute_stream(physical, self.ctx.task_ctx())?;
        let mut rows = 0;
        while let Some(batch) = stream.next().await {
            rows += batch?.num_rows() as u64;
        }
        Ok(QueryTiming { planning, execution: started.elapsed(), rows })
    }

    /// Readies the session for its next statement: a cancelled one is cleaned up, progress
    /// starts over, and external tables show `"$path"`/`"$size"` if the statement names them.
    fn start_statement(&mut self, pseudo_columns: bool) {
        self.recover_from_cancelled_statement();
        self.shared.progress.reset();
        self.shared.pseudo_columns.store(pseudo_columns, Ordering::Relaxed);
        self.shared.apply_search_path();
    }

    /// `[dev.][schema.]name` → (schema, name); unqualified names take the session's default schema.
    pub(crate) fn resolve_name(&self, name: &datafusion::sql::sqlparser::ast::ObjectName) -> Result<(String, String)> {
        ddl::resolve_name_in(&self.shared.default_schema(), name)
    }

    /// True inside `BEGIN ... COMMIT`.
    pub fn in_transaction(&self) -> bool {
        self.shared.lock().as_ref().is_some_and(|t| t.explicit)
    }

    /// True when a statement failed inside `BEGIN ... COMMIT`: only ROLLBACK (or COMMIT,
    /// which rolls back) is accepted until the transaction ends.
    pub fn is_transaction_aborted(&self) -> bool {
        self.shared.lock().as_ref().is_some_and(|t| t.explicit && t.aborted)
    }

    /// Marks the open `BEGIN ... COMMIT` transaction as failed, as a statement error would (a
    /// server does so when a client cancels a statement while its rows are being sent).
    pub fn abort_transaction(&self) {
        self.abort_explicit();
    }

    /// Runs one parsed statement and records it, as `text`, in the query history (`stl_query`):
    /// a command when it ends, a query once its rows have been read.
    pub async fn run_text(&mut self, statement: Statement, text: &str) -> Result<Output> {
        let masked = crate::system::history::mask_secrets(text.trim());
        let record = tarn_catalog::QueryRecord {
            userid: self.user(),
            pid: self.shared.id,
            querytxt: masked.clone(),
            starttime: tarn_catalog::now(),
            ..empty_record()
        };
        *self.shared.statement_text.lock() = Some(masked);
        let result = self.run(statement).await;
        *self.shared.statement_text.lock() = None;
        let history = &self.shared.engine.history;
        match result {
            Ok(Output::Command(tag)) => {
                history.record(finished(record, tag.rows.map(|r| r as i64), "success", None));
                Ok(Output::Command(tag))
            }
            Ok(Output::Rows(mut rows)) => {
                rows.history = Some(Recording {
                    engine: self.shared.engine.clone(),
                    record,
                    rows: 0,
                    finished: false,
                    failed: None,
                });
                Ok(Output::Rows(rows))
            }
            Err(e) => {
                history.record(finished(record, None, "error", Some(e.to_string())));
                Err(e)
            }
        }
    }

    /// Runs one parsed statement (not recorded in the query history: see [`Session::run_text`]).
    pub async fn run(&mut self, statement: Statement) -> Result<Output> {
        let ends_transaction = matches!(statement, Statement::Commit | Statement::Rollback | Statement::RollbackTo(_));
        let result = self.run_statement(statement).await;
        if result.is_err() && !ends_transaction {
            self.abort_explicit();
        }
        result
    }

    async fn run_statement(&mut self, mut statement: Statement) -> Result<Output> {
        self.start_statement(matches!(&statement, Statement::Sql(s) if parser::uses_pseudo_columns(s)));
        if let Statement::Sql(sql) = &mut statement {
            crate::lake::files::bind(self, sql).await?;
        }
        self.shared.qualify_by_search_path(&mut statement);
        if let Statement::Sql(sql) = &statement
            && let Some(setting) = crate::settings::setting_statement(sql)?
        {
            return self.run_setting(setting);
        }
        let locks = crate::access::admit(self, &statement).await?;
        match statement {
            Statement::Begin => self.begin(),
            Statement::BeginAsOf(as_of) => self.begin_as_of(as_of),
            Statement::Commit => {
                let active = self.shared.lock().take();
                match active {
                    None => Ok(Output::command("COMMIT")),
                    Some(active) if active.aborted => {
                        self.discard(active);
                        Ok(Output::command("ROLLBACK"))
                    }
                    Some(active) => self.commit(active).map(|_| Output::command("COMMIT")),
                }
            }
            Statement::Rollback => {
                if let Some(active) = self.shared.lock().take() {
                    self.discard(active);
                }
                Ok(Output::command("ROLLBACK"))
            }
            Statement::Savepoint(name) => self.savepoint(name),
            Statement::RollbackTo(name) => self.rollback_to(&name),
            Statement::Release(name) => self.release(&name),
            Statement::Vacuum(vacuum) => {
                if self.shared.lock().is_some() {
                    return Err(Error::Invalid("VACUUM cannot run inside a transaction block".into()));
                }
                maintenance::vacuum(self, vacuum).await
            }
            Statement::Analyze(analyze) => crate::analyze::analyze(self, analyze).await,
            Statement::CheckTable(check) => crate::check::check_table(self, check).await,
            Statement::Lake(statement) => crate::lake::execute(self, *statement).await,
            Statement::Sql(statement) => {
                if let DFStatement::Statement(inner) = statement.as_ref()
                    && let SqlStatement::Drop { object_type, if_exists, names, .. } = inner.as_ref()
                    && let Some(output) = crate::lake::drop_lake_objects(self, *object_type, *if_exists, names)?
                {
                    return Ok(output);
                }
                self.transactional(Work::Sql(statement), locks).await
            }
            Statement::CopyFrom(copy) => self.transactional(Work::Copy(copy), locks).await,
            Statement::MergeRemoveDuplicates(merge) => {
                self.transactional(Work::MergeRemoveDuplicates(merge), locks).await
            }
            Statement::Access(access) if matches!(*access, crate::access::AccessStatement::SetAuthorization(_)) => {
                crate::access::execute(self, *access)
            }
            Statement::Access(access) => self.transactional(Work::Access(access), locks).await,
            Statement::Unload(unload) => self.transactional(Work::Unload(unload), locks).await,
        }
    }

    /// Runs a statement that reads or writes tables: in the open transaction, or in one of its own,
    /// once it holds the table `locks` it needs.
    async fn transactional(&mut self, work: Work, locks: Vec<(String, LockMode)>) -> Result<Output> {
        let open = {
            let mut guard = self.shared.lock();
            match guard.as_mut() {
                Some(active) if active.aborted => return Err(Error::TransactionAborted),
                Some(active) => {
                    active.running = true;
                    Some(active.locks.handle())
                }
                None => None,
            }
        };
        let implicit = open.is_none();
        let result = match open {
            Some(held) => match held.acquire(&locks).await {
                Ok(()) => self.run_guarded(work, &locks).await,
                Err(e) => Err(e),
            },
            None => {
                // Locks first, then the snapshot: nobody in this engine changes these tables
                // between the two.
                let held = self.shared.engine.locks.owner();
                held.acquire(&locks).await?;
                self.start_implicit(held)?;
                self.run_guarded(work, &locks).await
            }
        };
        if implicit {
            return self.finish_implicit(result);
        }
        if let Some(active) = self.shared.lock().as_mut() {
            active.running = false;
            active.aborted |= result.is_err();
        }
        result
    }

    /// Runs `work`, refusing it when it adds duplicates of an enforced key (see
    /// [`crate::check::KeyGuard`]).
    async fn run_guarded(&mut self, work: Work, locks: &[(String, LockMode)]) -> Result<Output> {
        // COPY rejects the rows repeating a key itself (into stl_load_errors): no second check.
        let guard = match work {
            Work::Copy(_) => None,
            _ => crate::check::KeyGuard::before(self, locks).await?,
        };
        let lineage = work.lineage();
        crate::system::lineage::start(&self.shared, lineage.is_some());
        let output = self.run_work(work).await?;
        if let Some(lineage) = lineage {
            crate::system::lineage::record(self, lineage)?;
        }
        if let Some(guard) = guard {
            guard.verify(self).await?;
        }
        Ok(output)
    }

    async fn run_work(&mut self, work: Work) -> Result<Output> {
        match work {
            Work::Sql(statement) => self.run_sql(*statement).await,
            Work::MergeRemoveDuplicates(merge) => dml::merge_remove_duplicates(self, &merge).await,
            Work::Access(access) => crate::access::execute(self, *access),
            Work::Copy(copy) => crate::copy::copy_from(self, *copy).await,
            Work::Unload(unload) => crate::unload::unload(self, *unload).await,
        }
    }

    /// Starts the transaction of one statement (outside `BEGIN ... COMMIT`) holding `locks`,
    /// taken before its snapshot is read.
    pub(crate) fn start_implicit(&self, locks: crate::locks::LockSet) -> Result<()> {
        let txn = Transaction::new(self.shared.engine.latest_state()?);
        self.shared.clock.start_now();
        *self.shared.lock() = Some(ActiveTxn::new(txn, false, false, locks));
        Ok(())
    }

    /// Ends the transaction [`start_implicit`](Self::start_implicit) began: commits it when
    /// `result` is a success, discards it otherwise.
    pub(crate) fn finish_implicit<T>(&self, result: Result<T>) -> Result<T> {
        let active = self.shared.lock().take();
        match (active, result) {
            (Some(active), Ok(value)) => self.commit(active).map(|_| value),
            (Some(active), Err(e)) => {
                self.discard(active);
                Err(e)
            }
            (None, result) => result,
        }
    }

    fn begin(&mut self) -> Result<Output> {
        let mut guard = self.shared.lock();
        match guard.as_ref() {
            Some(active) if active.aborted => Err(Error::TransactionAborted),
            // PostgreSQL warns and goes on; so does tarn.
            Some(_) => Ok(Output::command("BEGIN")),
            None => {
                self.shared.clock.start_now();
                let txn = Transaction::new(self.shared.engine.latest_state()?);
                *guard = Some(ActiveTxn::new(txn, true, false, self.shared.engine.locks.owner()));
                Ok(Output::command("BEGIN"))
            }
        }
    }

    /// `SAVEPOINT name`: remembers the transaction as it is now.
    fn savepoint(&mut self, name: String) -> Result<Output> {
        let mut guard = self.shared.lock();
        match guard.as_mut().filter(|a| a.explicit) {
            None => Err(Error::Invalid("SAVEPOINT can only be used in transaction blocks".into())),
            Some(active) if active.aborted => Err(Error::TransactionAborted),
            Some(active) => {
                let saved = Savepoint { name, txn: active.txn.clone(), access: active.access.len() };
                active.savepoints.push(saved);
                Ok(Output::command("SAVEPOINT"))
            }
        }
    }

    /// `ROLLBACK TO SAVEPOINT name`: the transaction as it was then, no longer failed; the
    /// savepoint stays, later ones go.
    fn rollback_to(&mut self, name: &str) -> Result<Output> {
        let mut guard = self.shared.lock();
        let Some(active) = guard.as_mut().filter(|a| a.explicit) else {
            return Err(Error::Invalid("ROLLBACK TO SAVEPOINT can only be used in transaction blocks".into()));
        };
        let Some(at) = active.savepoints.iter().rposition(|s| s.name == name) else {
            return Err(Error::Invalid(format!("savepoint \"{name}\" does not exist")));
        };
        active.savepoints.truncate(at + 1);
        let saved = &active.savepoints[at];
        active.txn = saved.txn.clone();
        active.access.truncate(saved.access);
        active.aborted = false;
        Ok(Output::command("ROLLBACK"))
    }

    /// `RELEASE SAVEPOINT name`: forgets it and the savepoints after it, keeping the changes.
    fn release(&mut self, name: &str) -> Result<Output> {
        let mut guard = self.shared.lock();
        let Some(active) = guard.as_mut().filter(|a| a.explicit) else {
            return Err(Error::Invalid("RELEASE SAVEPOINT can only be used in transaction blocks".into()));
        };
        if active.aborted {
            return Err(Error::TransactionAborted);
        }
        let Some(at) = active.savepoints.iter().rposition(|s| s.name == name) else {
            return Err(Error::Invalid(format!("savepoint \"{name}\" does not exist")));
        };
        active.savepoints.truncate(at);
        Ok(Output::command("RELEASE"))
    }

    fn begin_as_of(&mut self, as_of: AsOf) -> Result<Output> {
        if self.shared.lock().is_some() {
            return Err(Error::Invalid(
                "BEGIN ... AS OF must start a new transaction (COMMIT or ROLLBACK first)".into(),
            ));
        }
        let store = &self.shared.engine.store;
        let snapshot = match as_of {
            AsOf::Snapshot(id) => {
                if !store.snapshots()?.iter().any(|s| s.id == id) {
                    return Err(Error::Invalid(format!(
                        "snapshot {id} does not exist or has expired (see tarn_snapshots)"
                    )));
                }
                id
            }
            AsOf::Timestamp(text) => {
                let time = parse_timestamp(&text)?;
                store.snapshot_at_time(&time)?.ok_or_else(|| {
                    Error::Invalid(format!("no snapshot was committed at or before {text} (see tarn_snapshots)"))
                })?
            }
        };
        let state = Arc::new(store.load_state(snapshot)?);
        self.shared.clock.start_now();
        let locks = self.shared.engine.locks.owner();
        *self.shared.lock() = Some(ActiveTxn::new(Transaction::new(state), true, true, locks));
        Ok(Output::command("BEGIN"))
    }

    /// A statement whose future was dropped (Ctrl-C) left `running` set: an implicit
    /// transaction is discarded, an explicit one is aborted.
    fn recover_from_cancelled_statement(&mut self) {
        let mut guard = self.shared.lock();
        let Some(active) = guard.as_mut().filter(|a| a.running) else {
            return;
        };
        if active.explicit {
            active.running = false;
            active.aborted = true;
        } else if let Some(active) = guard.take() {
            drop(guard);
            self.discard(active);
        }
    }

    fn commit(&self, active: ActiveTxn) -> Result<SnapshotId> {
        if active.explicit {
            self.shared.settings.write().end_transaction();
        }
        match self.shared.engine.store.commit(&active.txn, &self.user()) {
            Ok(snapshot) => {
                if !active.access.is_empty() {
                    self.shared.engine.store.apply_access(&active.access)?;
                }
                // Files written and then replaced inside the transaction are referenced by no
                // snapshot: remove them now.
                let kept: BTreeSet<&String> =
                    active.txn.files().values().flat_map(|f| f.added.iter().map(|a| &a.path)).collect();
                let superseded: Vec<String> = active.written.iter().filter(|p| !kept.contains(p)).cloned().collect();
                self.shared.engine.discard_files(&superseded);
                Ok(snapshot)
            }
            Err(e) => {
                self.shared.engine.discard_files(&active.written);
                Err(e.into())
            }
        }
    }

    fn discard(&self, active: ActiveTxn) {
        if active.explicit {
            self.shared.settings.write().end_transaction();
        }
        self.shared.engine.discard_files(&active.written);
    }

    /// Applies a catalog change to the current transaction.
    pub(crate) fn apply(&self, op: CatalogOp) -> Result<()> {
        self.with_txn(|txn| Ok(txn.apply(op)?))
    }

    /// Runs `f` on the current transaction, which must be writable.
    pub(crate) fn with_txn<T>(&self, f: impl FnOnce(&mut Transaction) -> Result<T>) -> Result<T> {
        match self.shared.lock().as_mut() {
            Some(active) if active.read_only => Err(read_only_error(&active.txn)),
            Some(active) => f(&mut active.txn),
            None => Err(Error::Invalid("no transaction".into())),
        }
    }

    /// The user the session runs as.
    pub fn user(&self) -> String {
        self.shared.user.read().clone()
    }

    /// `SET SESSION AUTHORIZATION user` (`DEFAULT`: back to the login user): a superuser's
    /// session may act as another user, with that user's privileges.
    pub(crate) fn set_authorization(&self, user: Option<String>) -> Result<Output> {
        let state = self.shared.engine.access_state()?;
        if !(self.shared.embedded || state.is_superuser(&self.shared.login)) {
            return Err(Error::PermissionDenied("to set session authorization (only superusers may)".into()));
        }
        let user = user.unwrap_or_else(|| self.shared.login.clone());
        if user != self.shared.login && !state.users.contains_key(&user) {
            return Err(Error::Invalid(format!("user \"{user}\" does not exist")));
        }
        *self.shared.user.write() = user;
        Ok(Output::command("SET"))
    }

    /// Access control as this session sees it: committed, plus its transaction's changes.
    pub(crate) fn access_state(&self) -> Result<Arc<tarn_catalog::AccessState>> {
        let committed = self.shared.engine.access_state()?;
        let guard = self.shared.lock();
        match guard.as_ref().filter(|a| !a.access.is_empty()) {
            None => Ok(committed),
            Some(active) => {
                let mut state = committed.as_ref().clone();
                for op in &active.access {
                    state.apply(op)?;
                }
                Ok(Arc::new(state))
            }
        }
    }

    /// Whether the session's user is a superuser (the embedded session always is).
    pub(crate) fn is_superuser(&self, state: &tarn_catalog::AccessState) -> bool {
        self.shared.is_superuser(state)
    }

    /// Adds access-control changes to the current transaction (applied when it commits).
    pub(crate) fn queue_access(&self, ops: Vec<tarn_catalog::AccessOp>) -> Result<()> {
        match self.shared.lock().as_mut() {
            Some(active) if active.read_only => Err(read_only_error(&active.txn)),
            Some(active) => {
                active.access.extend(ops);
                Ok(())
            }
            None => Err(Error::Invalid("no transaction".into())),
        }
    }

    async fn run_sql(&mut self, statement: DFStatement) -> Result<Output> {
        match statement {
            DFStatement::Statement(statement) => match *statement {
                SqlStatement::CreateSchema { schema_name, if_not_exists, .. } => {
                    ddl::create_schema(self, &schema_name, if_not_exists)
                }
                SqlStatement::Drop { object_type, if_exists, names, cascade, .. } => {
                    ddl::drop(self, object_type, if_exists, &names, cascade)
                }
                SqlStatement::CreateTable(create) => ddl::create_table(self, create).await,
                SqlStatement::AlterTable(alter) => ddl::alter_table(self, alter).await,
                SqlStatement::CreateView(create) => ddl::create_view(self, create).await,
                SqlStatement::Comment { object_type, object_name, comment, if_exists } => {
                    ddl::comment(self, object_type, &object_name, comment, if_exists)
                }
                SqlStatement::Truncate(truncate) => dml::truncate(self, &truncate),
                SqlStatement::Merge(merge) => dml::merge(self, &merge).await,
                SqlStatement::Update(update) if update.from.is_some() => dml::update_from(self, &update).await,
                SqlStatement::Delete(delete) if delete.using.is_some() => dml::delete_using(self, &delete).await,
                other => self.run_plan(DFStatement::Statement(Box::new(other))).await,
            },
            DFStatement::CreateExternalTable(_) => Err(Error::Unsupported("CREATE EXTERNAL TABLE".into())),
            other => self.run_plan(other).await,
        }
    }

    /// Plans a statement with DataFusion and runs it; writes go through tarn's write path.
    async fn run_plan(&mut self, statement: DFStatement) -> Result<Output> {
        let key = self.plan_key(&statement);
        // A kept plan's query records no lineage (see `plan_key`).
        if let Some(kept) = key.as_ref().and_then(|key| self.shared.plans.get(key)) {
            let schema: SchemaRef = Arc::new(kept.logical.schema().as_arrow().clone());
            let inner = datafusion::physical_plan::execute_stream(self.run_kept(&kept)?, self.ctx.task_ctx())?;
            return Ok(Output::Rows(RowStream::with_output_names(schema, inner, &self.shared)));
        }
        let plan = self.plan(statement).await?;
        match plan {
            LogicalPlan::Dml(dml) if dml.op == WriteOp::Insert(InsertOp::Append) => write::insert(self, dml).await,
            LogicalPlan::Dml(dml) if dml.op == WriteOp::Delete => dml::delete(self, dml).await,
            LogicalPlan::Dml(dml) if dml.op == WriteOp::Update => dml::update(self, dml).await,
            LogicalPlan::Dml(dml) => Err(Error::Unsupported(format!("{} statements", dml.op))),
            LogicalPlan::Ddl(ddl) => Err(Error::Unsupported(ddl.name().to_string())),
            plan @ (LogicalPlan::Statement(_) | LogicalPlan::DescribeTable(_)) => {
                let frame = self.ctx.execute_logical_plan(plan).await?;
                let schema: SchemaRef = Arc::new(frame.schema().as_arrow().clone());
                let inner = frame.execute_stream().await?;
                Ok(Output::Rows(RowStream::with_output_names(schema, inner, &self.shared)))
            }
            plan => {
                let schema: SchemaRef = Arc::new(plan.schema().as_arrow().clone());
                let physical = self.query_physical_plan(plan, key).await?;
                let inner = datafusion::physical_plan::execute_stream(physical, self.ctx.task_ctx())?;
                Ok(Output::Rows(RowStream::with_output_names(schema, inner, &self.shared)))
            }
        }
    }

    /// The physical plan of `plan`, its file scans naming their files in errors.
    pub(crate) async fn physical_plan(
        &self,
        plan: &LogicalPlan,
    ) -> Result<Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
        let physical = self.ctx.state().create_physical_plan(plan).await?;
        self.count_reads(plan);
        Ok(crate::file_errors::name_files_in_errors(physical)?)
    }

    /// What the plan of query `statement` depends on (see [`crate::plan_cache`]), or `None`
    /// when its plan is not kept: it is not a query, or it runs inside `BEGIN ... COMMIT`
    /// (whose writes change what it reads) or records lineage. A key that cannot be read (the
    /// catalog's snapshot, the lake catalog's version) only means planning afresh: planning
    /// reports what it needs itself, and a query of managed tables does not need the lake's.
    fn plan_key(&self, statement: &DFStatement) -> Option<PlanKey> {
        let DFStatement::Statement(inner) = statement else { return None };
        if !matches!(inner.as_ref(), SqlStatement::Query(_))
            || self.shared.in_explicit_transaction()
            || crate::system::lineage::active(&self.shared)
        {
            return None;
        }
        let snapshot = self.shared.snapshot().ok()?;
        let lake_version = self.shared.lake_state().ok()?.version;
        let mut settings = String::new();
        {
            use std::fmt::Write;
            let state = self.ctx.state_ref();
            let state = state.read();
            for entry in state.config_options().entries() {
                let _ = writeln!(settings, "{}={:?}", entry.key, entry.value);
            }
            let _ = write!(settings, "{:?}", self.shared.settings.read());
        }
        Some(PlanKey { text: inner.to_string(), snapshot, lake_version, user: self.user(), settings })
    }

    /// The physical plan of query `plan`. With a `key`, the plan is kept for the next run of
    /// the same query when it can be (see [`crate::plan_cache`]).
    async fn query_physical_plan(
        &self,
        plan: LogicalPlan,
        key: Option<PlanKey>,
    ) -> Result<Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
        let default_schema = self.shared.default_schema();
        let key = match key {
            Some(key) if self.shared.with_state(|s| crate::plan_cache::cacheable(&plan, s, &default_schema))? => key,
            _ => return self.physical_plan(&plan).await,
        };
        let physical = crate::plan_cache::plan_to_keep(self.ctx.state().create_physical_plan(&plan)).await?;
        let kept = Arc::new(KeptPlan::new(plan, physical));
        if kept.reusable() {
            self.shared.plans.insert(key, kept.clone());
        }
        self.run_kept(&kept)
    }

    /// A plan to run of a kept query plan (fresh state, the deferred rules applied).
    fn run_kept(&self, kept: &KeptPlan) -> Result<Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
        self.count_reads(&kept.logical);
        let physical = {
            let state = self.ctx.state_ref();
            let state = state.read();
            kept.instantiate(&self.deferred_rules, state.config_options())?
        };
        Ok(crate::file_errors::name_files_in_errors(physical)?)
    }

    /// Counts a read of every managed table `plan` scans (for `svv_table_info.reads`).
    fn count_reads(&self, plan: &LogicalPlan) {
        use datafusion::common::tree_node::TreeNodeRecursion;
        // EXPLAIN plans a query without reading it (EXPLAIN ANALYZE runs it).
        if let LogicalPlan::Explain(_) = plan {
            return;
        }
        // Views are planned inline, so a view's tables are scans of the plan like any other.
        let mut scanned = Vec::new();
        let _ = plan.apply_with_subqueries(|node| {
            if let LogicalPlan::TableScan(scan) = node {
                scanned.push(scan.table_name.clone());
            }
            Ok(TreeNodeRecursion::Continue)
        });
        let default_schema = self.shared.default_schema();
        let ids: Vec<i64> = self
            .shared
            .with_state(|s| {
                scanned
                    .iter()
                    .filter_map(|name| {
                        s.table_by_name(name.schema().unwrap_or(&default_schema), name.table()).map(|t| t.id)
                    })
                    .collect()
            })
            .unwrap_or_default();
        self.shared.engine.history.record_reads(ids);
    }

    /// Plans a statement as Redshift means it (see [`crate::sql::plan`]); what it reads counts
    /// towards the running statement's lineage.
    pub(crate) async fn plan(&self, statement: DFStatement) -> Result<LogicalPlan> {
        let plan = crate::sql::plan(&self.ctx.state(), statement).await?;
        crate::system::lineage::note_plan(&self.shared, &plan);
        Ok(plan)
    }

    /// [`Session::plan`] of one query given as text (the queries MERGE and joined DML generate).
    pub(crate) async fn plan_sql(&self, sql: &str) -> Result<LogicalPlan> {
        let plan = crate::sql::plan_query(&self.ctx.state(), sql).await?;
        crate::system::lineage::note_plan(&self.shared, &plan);
        Ok(plan)
    }
}
