//! Cancel requests: a client opens a second connection naming a connection's process id and
//! secret key, and that connection's running statement stops (SQLSTATE 57014).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use bytes::Bytes;
use tokio_util::sync::CancellationToken;

/// The statement a connection is running, if any.
#[derive(Debug, Default)]
pub(crate) struct StatementSlot {
    /// (statement number, its token).
    current: Mutex<Option<(u64, CancellationToken)>>,
    started: std::sync::atomic::AtomicU64,
}

impl StatementSlot {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(u64, CancellationToken)>> {
        self.current.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn cancel(&self) -> bool {
        match self.lock().as_ref() {
            Some((_, token)) => {
                token.cancel();
                true
            }
            None => false,
        }
    }
}

/// Every connection's statement slot, by (process id, secret key).
#[derive(Debug, Default)]
pub(crate) struct Cancels {
    connections: Mutex<HashMap<i32, (Bytes, Weak<StatementSlot>)>>,
    running: Arc<AtomicUsize>,
}

impl Cancels {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i32, (Bytes, Weak<StatementSlot>)>> {
        self.connections.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a connection; it is forgotten when its slot is dropped.
    pub fn register(&self, pid: i32, secret: Bytes) -> Arc<StatementSlot> {
        let slot = Arc::new(StatementSlot::default());
        let mut connections = self.lock();
        connections.retain(|_, (_, slot)| slot.strong_count() > 0);
        connections.insert(pid, (secret, Arc::downgrade(&slot)));
        slot
    }

    /// A statement starts on `slot`: the token a cancel request fires, and a guard that ends
    /// the statement when dropped.
    pub fn start(&self, slot: &Arc<StatementSlot>) -> (CancellationToken, Running) {
        let token = CancellationToken::new();
        let number = slot.started.fetch_add(1, Ordering::SeqCst);
        *slot.lock() = Some((number, token.clone()));
        self.running.fetch_add(1, Ordering::SeqCst);
        (token, Running { slot: slot.clone(), number, running: self.running.clone() })
    }

    /// Cancels the running statement of the connection `pid` if `secret` is its key.
    pub fn cancel(&self, pid: i32, secret: &Bytes) -> bool {
        let slot = self.lock().get(&pid).filter(|(key, _)| key == secret).and_then(|(_, slot)| slot.upgrade());
        slot.is_some_and(|slot| slot.cancel())
    }

    /// Cancels every running statement (shutdown); returns how many there were.
    pub fn cancel_all(&self) -> usize {
        let slots: Vec<Arc<StatementSlot>> = self.lock().values().filter_map(|(_, slot)| slot.upgrade()).collect();
        slots.iter().filter(|slot| slot.cancel()).count()
    }

    /// How many statements are running.
    pub fn running(&self) -> usize {
        self.running.load(Ordering::SeqCst)
    }
}

/// A running statement; dropping it ends the statement.
#[derive(Debug)]
pub(crate) struct Running {
    slot: Arc<StatementSlot>,
    number: u64,
    running: Arc<AtomicUsize>,
}

impl Drop for Running {
    fn drop(&mut self) {
        let mut current = self.slot.lock();
        if current.as_ref().is_some_and(|(number, _)| *number == self.number) {
            *current = None;
        }
        drop(current);
        self.running.fetch_sub(1, Ordering::SeqCst);
    }
}
