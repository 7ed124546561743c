//! Which engines (processes) have a warehouse open. A data file no snapshot references is
//! either being written by a running engine (it commits it later) or left behind by a write
//! that failed or crashed: only the latter may be removed. Each engine names the files it writes
//! after its id, and the catalog tells which ids still run:
//!
//! - an SQLite catalog (one machine): each engine holds a lock (`flock`) on a file of its own,
//!   `engines/<id>.lock` beside the catalog, for as long as it runs;
//! - a PostgreSQL catalog (processes on several machines): each engine's catalog session carries
//!   its id as its application name, and the server's list of sessions says who runs. A session
//!   the server ended is started again (with the same name) at the engine's next catalog call.

use std::collections::HashSet;
use std::fs::{self, File, TryLockError};
use std::path::PathBuf;
use std::sync::Mutex;

use crate::db::{Connection, params};
use crate::{Error, Result};

/// The application name of an engine's catalog session: a prefix and the engine's id.
const SESSION_PREFIX: &str = "tarn engine ";

/// How a catalog knows which engines run.
pub(crate) enum Liveness {
    /// Lock files in `dir`; `held` is this process's own, once registered.
    LockFiles { dir: PathBuf, held: Mutex<Option<File>> },
    /// Named sessions of the catalog's database server.
    Sessions,
}

impl Liveness {
    pub(crate) fn lock_files(dir: PathBuf) -> Liveness {
        Liveness::LockFiles { dir, held: Mutex::new(None) }
    }

    /// Marks engine `id` as running for as long as this catalog stays open.
    pub(crate) fn register(&self, id: &str, conn: &mut dyn Connection) -> Result<()> {
        check_id(id)?;
        match self {
            Liveness::LockFiles { dir, held } => {
                let io = |what: &str, path: &PathBuf| {
                    let context = format!("{what} {}", path.display());
                    move |source: std::io::Error| Error::Io { context, source }
                };
                fs::create_dir_all(dir).map_err(io("cannot create", dir))?;
                // Locked under a temporary name first, so that no other process ever sees the
                // lock file unlocked (and takes this engine for dead).
                let pending = dir.join(format!("{id}.pending"));
                let lock_path = dir.join(format!("{id}.lock"));
                let lock = File::create(&pending).map_err(io("cannot create", &pending))?;
                lock.lock().map_err(io("cannot lock", &pending))?;
                fs::rename(&pending, &lock_path).map_err(io("cannot create", &lock_path))?;
                *held.lock().unwrap_or_else(|p| p.into_inner()) = Some(lock);
                Ok(())
            }
            Liveness::Sessions => conn.set_session_name(&format!("{SESSION_PREFIX}{id}")),
        }
    }

    /// The ids of the engines that run now (this process's among them, once registered).
    pub(crate) fn live(&self, conn: &mut dyn Connection) -> Result<HashSet<String>> {
        match self {
            Liveness::LockFiles { dir, .. } => live_lock_holders(dir),
            Liveness::Sessions => {
                let rows = conn.query(
                    "SELECT CAST(application_name AS TEXT) FROM pg_stat_activity WHERE application_name LIKE ?1",
                    params![format!("{SESSION_PREFIX}%")],
                )?;
                rows.into_iter()
                    .map(|row| {
                        let name: String = row.get(0)?;
                        Ok(name[SESSION_PREFIX.len()..].to_string())
                    })
                    .collect()
            }
        }
    }
}

/// Engine ids are what data file names start with: letters and digits only.
fn check_id(id: &str) -> Result<()> {
    match !id.is_empty() && id.len() <= 40 && id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        true => Ok(()),
        false => Err(Error::Invalid(format!("engine id {id:?}: letters and digits only, at most 40"))),
    }
}

/// Ids whose lock file in `dir` someone holds; lock files of engines gone are removed.
fn live_lock_holders(dir: &PathBuf) -> Result<HashSet<String>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashSet::new()),
        Err(source) => return Err(Error::Io { context: format!("cannot list {}", dir.display()), source }),
    };
    let mut live = HashSet::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) != Some("lock") {
            continue;
        }
        let Some(id) = path.file_stem().and_then(|s| s.to_str()).map(str::to_string) else {
            continue;
        };
        let Ok(file) = File::open(&path) else {
            continue;
        };
        // Locks belong to open files: this process's own lock is held through another one,
        // so it shows as held here too.
        match file.try_lock() {
            Ok(()) => {
                // Nobody holds it: that engine is gone.
                let _ = fs::remove_file(&path);
            }
            Err(TryLockError::WouldBlock) => {
                live.insert(id);
            }
            Err(TryLockError::Error(e)) => {
                log::warn!("cannot check engine lock {}: {e}", path.display());
                live.insert(id);
            }
        }
    }
    Ok(live)
}
