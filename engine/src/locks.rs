//! Table write locks, as Redshift takes them: a statement that writes a table waits for the
//! transactions writing it now instead of failing at COMMIT with a serialization error.
//!
//! Appends (INSERT, COPY) share a table with each other; rewrites (UPDATE, DELETE, MERGE,
//! TRUNCATE, ALTER, DROP) have it alone. A lock is held until its transaction ends, and waiters
//! are served in arrival order, so a rewrite is not starved by a stream of appends. A statement
//! of its own (outside `BEGIN ... COMMIT`) takes its locks before it reads its snapshot, so it
//! never conflicts with another tarn session of the same engine; an explicit transaction whose
//! wait would close a cycle gets `deadlock detected` (40P01) instead of waiting forever.
//!
//! Other processes on the same warehouse are not covered: their commits are checked against
//! ours by the catalog, as before.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::error::{Error, Result};

/// The lock name of table `schema.table`.
pub(crate) fn key(schema: &str, table: &str) -> String {
    format!("{schema}.{table}")
}

/// How a statement writes a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum LockMode {
    /// Adds files only (INSERT, COPY): appends run side by side.
    Append,
    /// Replaces or removes files, or changes the table's definition: alone.
    Rewrite,
}

impl LockMode {
    fn conflicts(self, other: LockMode) -> bool {
        self == LockMode::Rewrite || other == LockMode::Rewrite
    }
}

/// Every table lock of one engine.
#[derive(Default)]
pub(crate) struct TableLocks {
    state: Mutex<LockState>,
    /// Signalled whenever a lock is released or a waiter leaves.
    changed: Notify,
    next_owner: AtomicU64,
}

#[derive(Default)]
struct LockState {
    tables: HashMap<String, TableLock>,
}

#[derive(Default)]
struct TableLock {
    holders: HashMap<u64, LockMode>,
    /// Owners waiting for this table, in arrival order.
    queue: Vec<(u64, LockMode)>,
}

impl TableLock {
    fn is_free(&self) -> bool {
        self.holders.is_empty() && self.queue.is_empty()
    }

    /// The owners `owner` waits for: holders its request conflicts with and, unless it already
    /// holds the table (an upgrade goes first), conflicting requests that arrived before it.
    fn blockers(&self, owner: u64, mode: LockMode) -> Vec<u64> {
        let mut blockers: Vec<u64> =
            self.holders.iter().filter(|(o, m)| **o != owner && mode.conflicts(**m)).map(|(o, _)| *o).collect();
        if !self.holders.contains_key(&owner) {
            for (waiter, wanted) in self.queue.iter().take_while(|(o, _)| *o != owner) {
                if mode.conflicts(*wanted) {
                    blockers.push(*waiter);
                }
            }
        }
        blockers
    }
}

impl LockState {
    /// Whether `owner`, waiting, waits (through other waiters) for itself.
    fn deadlocked(&self, owner: u64) -> bool {
        let waits_for = |who: u64| -> Vec<u64> {
            self.tables
                .values()
                .find_map(|lock| lock.queue.iter().find(|(o, _)| *o == who).map(|(_, mode)| lock.blockers(who, *mode)))
                .unwrap_or_default()
        };
        let mut seen = HashSet::new();
        let mut pending = waits_for(owner);
        while let Some(next) = pending.pop() {
            if next == owner {
                return true;
            }
            if seen.insert(next) {
                pending.extend(waits_for(next));
            }
        }
        false
    }

    fn dequeue(&mut self, table: &str, owner: u64) {
        if let Some(lock) = self.tables.get_mut(table) {
            lock.queue.retain(|(o, _)| *o != owner);
            if lock.is_free() {
                self.tables.remove(table);
            }
        }
    }
}

impl TableLocks {
    /// A new owner (one transaction) of locks, released when it is dropped.
    pub fn owner(self: &Arc<Self>) -> LockSet {
        LockSet { locks: Arc::clone(self), id: self.next_owner.fetch_add(1, Ordering::Relaxed) }
    }

    /// Waits until `owner` holds `table` in `mode` (or stronger).
    async fn acquire(&self, owner: u64, table: &str, mode: LockMode) -> Result<()> {
        // Leaves the queue if the wait is abandoned (the statement was cancelled).
        struct Waiting<'a> {
            locks: &'a TableLocks,
            table: &'a str,
            owner: u64,
            armed: bool,
        }
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                if self.armed {
                    self.locks.state.lock().dequeue(self.table, self.owner);
                    self.locks.changed.notify_waiters();
                }
            }
        }
        let mut waiting = Waiting { locks: self, table, owner, armed: false };
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            {
                let mut state = self.state.lock();
                let lock = state.tables.entry(table.to_string()).or_default();
                let held = lock.holders.get(&owner).copied();
                if held.is_some_and(|held| held >= mode) {
                    return Ok(());
                }
                if !waiting.armed {
                    lock.queue.push((owner, mode));
                    waiting.armed = true;
                }
                if lock.blockers(owner, mode).is_empty() {
                    lock.queue.retain(|(o, _)| *o != owner);
                    lock.holders.insert(owner, mode.max(held.unwrap_or(mode)));
                    waiting.armed = false;
                    // Our place in the queue is free: later arrivals may go now.
                    self.changed.notify_waiters();
                    return Ok(());
                }
                if state.deadlocked(owner) {
                    return Err(Error::Deadlock(format!(
                        "deadlock detected: waiting for a lock on table {table} held by a transaction that waits for this one"
                    )));
                }
            }
            changed.await;
        }
    }

    fn release_all(&self, owner: u64) {
        let mut state = self.state.lock();
        state.tables.retain(|_, lock| {
            lock.holders.remove(&owner);
            !lock.is_free()
        });
        drop(state);
        self.changed.notify_waiters();
    }

    /// Tables and how they are held (tests).
    #[cfg(test)]
    fn held(&self) -> Vec<(String, u64, LockMode)> {
        let state = self.state.lock();
        let mut held: Vec<_> = state
            .tables
            .iter()
            .flat_map(|(t, lock)| lock.holders.iter().map(move |(o, m)| (t.clone(), *o, *m)))
            .collect();
        held.sort();
        held
    }
}

/// The locks of one transaction, released when it ends (the set is dropped).
pub(crate) struct LockSet {
    locks: Arc<TableLocks>,
    id: u64,
}

impl LockSet {
    /// Takes every lock of `wanted` (table, mode); see [`LockHandle::acquire`].
    pub async fn acquire(&self, wanted: &[(String, LockMode)]) -> Result<()> {
        self.handle().acquire(wanted).await
    }

    /// A handle on the same locks, for waiting without borrowing the transaction.
    pub fn handle(&self) -> LockHandle {
        LockHandle { locks: Arc::clone(&self.locks), id: self.id }
    }
}

impl Drop for LockSet {
    fn drop(&mut self) {
        self.locks.release_all(self.id);
    }
}

/// Takes locks for a [`LockSet`] (which still releases them).
pub(crate) struct LockHandle {
    locks: Arc<TableLocks>,
    id: u64,
}

impl LockHandle {
    /// Takes every lock of `wanted` (table, mode), in name order so that statements of their
    /// own never wait for each other in a cycle.
    pub async fn acquire(&self, wanted: &[(String, LockMode)]) -> Result<()> {
        let mut wanted = wanted.to_vec();
        wanted.sort();
        for (table, mode) in wanted {
            self.locks.acquire(self.id, &table, mode).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn t(name: &str, mode: LockMode) -> Vec<(String, LockMode)> {
        vec![(name.to_string(), mode)]
    }

    /// Whether `future` is still waiting after a moment.
    async fn waits<F: std::future::Future>(future: F) -> bool {
        tokio::time::timeout(Duration::from_millis(50), future).await.is_err()
    }

    #[tokio::test]
    async fn appends_share_and_rewrites_wait_for_them() {
        let locks = Arc::new(TableLocks::default());
        let (a, b, c) = (locks.owner(), locks.owner(), locks.owner());
        a.acquire(&t("s.t", LockMode::Append)).await.unwrap();
        b.acquire(&t("s.t", LockMode::Append)).await.unwrap();
        let rewrite = c.handle();
        let waiting = tokio::spawn(async move { rewrite.acquire(&t("s.t", LockMode::Rewrite)).await });
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(!waiting.is_finished(), "a rewrite waits for the appends");
        drop(a);
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(!waiting.is_finished(), "and for every one of them");
        drop(b);
        waiting.await.unwrap().unwrap();
        assert_eq!(locks.held(), vec![("s.t".to_string(), c.id, LockMode::Rewrite)]);
        drop(c);
        assert!(locks.held().is_empty());
        assert!(locks.state.lock().tables.is_empty(), "nothing left behind");
    }

    #[tokio::test]
    async fn a_waiting_rewrite_goes_before_later_appends() {
        let locks = Arc::new(TableLocks::default());
        let (a, b, c) = (locks.owner(), locks.owner(), locks.owner());
        a.acquire(&t("s.t", LockMode::Append)).await.unwrap();
        let rewrite = b.handle();
        let rewriting = tokio::spawn(async move { rewrite.acquire(&t("s.t", LockMode::Rewrite)).await });
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(waits(c.acquire(&t("s.t", LockMode::Append))).await, "a later append queues behind the rewrite");
        drop(a);
        rewriting.await.unwrap().unwrap();
        assert!(waits(c.acquire(&t("s.t", LockMode::Append))).await);
        drop(b);
        c.acquire(&t("s.t", LockMode::Append)).await.unwrap();
    }

    #[tokio::test]
    async fn other_tables_do_not_wait_and_holding_again_is_free() {
        let locks = Arc::new(TableLocks::default());
        let (a, b) = (locks.owner(), locks.owner());
        a.acquire(&t("s.t", LockMode::Rewrite)).await.unwrap();
        a.acquire(&t("s.t", LockMode::Append)).await.unwrap();
        a.acquire(&t("s.t", LockMode::Rewrite)).await.unwrap();
        b.acquire(&t("s.u", LockMode::Rewrite)).await.unwrap();
        assert_eq!(locks.held().len(), 2);
    }

    #[tokio::test]
    async fn a_cycle_is_a_deadlock_for_the_one_that_closes_it() {
        let locks = Arc::new(TableLocks::default());
        let (a, b) = (locks.owner(), locks.owner());
        a.acquire(&t("s.t", LockMode::Append)).await.unwrap();
        b.acquire(&t("s.u", LockMode::Append)).await.unwrap();
        let a_wants_u = a.handle();
        let waiting = tokio::spawn(async move { a_wants_u.acquire(&t("s.u", LockMode::Rewrite)).await });
        tokio::time::sleep(Duration::from_millis(30)).await;
        let err = b.acquire(&t("s.t", LockMode::Rewrite)).await.unwrap_err();
        assert!(err.to_string().contains("deadlock detected"), "{err}");
        assert_eq!(err.sqlstate(), "40P01");
        // The victim's transaction ends (ROLLBACK): the other goes on.
        drop(b);
        waiting.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn two_appenders_upgrading_deadlock_instead_of_hanging() {
        let locks = Arc::new(TableLocks::default());
        let (a, b) = (locks.owner(), locks.owner());
        a.acquire(&t("s.t", LockMode::Append)).await.unwrap();
        b.acquire(&t("s.t", LockMode::Append)).await.unwrap();
        let upgrade = a.handle();
        let waiting = tokio::spawn(async move { upgrade.acquire(&t("s.t", LockMode::Rewrite)).await });
        tokio::time::sleep(Duration::from_millis(30)).await;
        let err = b.acquire(&t("s.t", LockMode::Rewrite)).await.unwrap_err();
        assert_eq!(err.sqlstate(), "40P01");
        drop(b);
        waiting.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn an_abandoned_wait_leaves_the_queue() {
        let locks = Arc::new(TableLocks::default());
        let (a, b, c) = (locks.owner(), locks.owner(), locks.owner());
        a.acquire(&t("s.t", LockMode::Append)).await.unwrap();
        // b's rewrite is cancelled while it waits; c's append must not queue behind it.
        assert!(waits(b.acquire(&t("s.t", LockMode::Rewrite))).await);
        c.acquire(&t("s.t", LockMode::Append)).await.unwrap();
        drop((a, c));
        assert!(locks.state.lock().tables.is_empty());
    }

    #[tokio::test]
    async fn an_update_waits_for_an_open_insert_and_then_updates_its_row() {
        let dir = tempfile::tempdir().unwrap();
        let engine = crate::Engine::open(dir.path().join("w")).unwrap();
        let mut a = engine.session().unwrap();
        let mut b = engine.session().unwrap();
        a.query("CREATE TABLE t (id int, v int); INSERT INTO t VALUES (1, 0)").await.unwrap();
        a.query("BEGIN; INSERT INTO t VALUES (2, 0)").await.unwrap();
        let update = tokio::spawn(async move {
            let result = b.query("UPDATE t SET v = v + 1").await.map(|_| ());
            (b, result)
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!update.is_finished(), "the UPDATE waits for the open transaction");
        a.query("COMMIT").await.unwrap();
        let (_, result) = update.await.unwrap();
        result.expect("no serialization failure: it waited");
        let rows = a.query("SELECT count(*) FROM t WHERE v = 1").await.unwrap();
        let shown = crate::display::rows_as_strings(&rows, &crate::display::format_options()).unwrap();
        assert_eq!(shown, vec![vec!["2".to_string()]], "both rows updated, the committed insert's too");
    }

    #[tokio::test]
    async fn crossed_transactions_end_in_a_deadlock_error_not_a_hang() {
        let dir = tempfile::tempdir().unwrap();
        let engine = crate::Engine::open(dir.path().join("w")).unwrap();
        let mut a = engine.session().unwrap();
        let mut b = engine.session().unwrap();
        a.query("CREATE TABLE t1 (id int); CREATE TABLE t2 (id int)").await.unwrap();
        a.query("BEGIN; INSERT INTO t1 VALUES (1)").await.unwrap();
        b.query("BEGIN; INSERT INTO t2 VALUES (1)").await.unwrap();
        let a_deletes = tokio::spawn(async move {
            let result = a.query("DELETE FROM t2").await.map(|_| ());
            (a, result)
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        let err = b.query("DELETE FROM t1").await.unwrap_err();
        assert_eq!(err.sqlstate(), "40P01", "{err}");
        b.query("ROLLBACK").await.unwrap();
        let (mut a, result) = a_deletes.await.unwrap();
        result.unwrap();
        a.query("COMMIT").await.unwrap();
    }
}
