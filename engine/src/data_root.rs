//! Where a warehouse keeps its managed tables' files: in its own directory (`DIR/data/...`),
//! or under an object-store prefix (`s3://bucket/prefix/data/...`) that processes on several
//! machines share with a PostgreSQL catalog. The catalog records files by their path relative
//! to this root (`data/<schema>/<table>_<id>/<engine>-<uuid>.parquet`), so the same catalog rows
//! mean the same files wherever the root is; the root itself is recorded in the catalog when the
//! warehouse is created.

use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};

use futures::StreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt};

use crate::error::{Error, Result};
use crate::storage::{Location, S3Overrides, Stores};

/// The root of a warehouse's managed data.
pub(crate) enum DataRoot {
    /// The warehouse directory.
    Local(PathBuf),
    /// A prefix in an S3 bucket (no trailing slash; empty for the bucket's root).
    S3 { bucket: String, prefix: String, remover: Remover },
}

impl std::fmt::Debug for DataRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self}")
    }
}

impl std::fmt::Display for DataRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DataRoot::Local(dir) => write!(f, "{}", dir.display()),
            DataRoot::S3 { bucket, prefix, .. } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            DataRoot::S3 { bucket, prefix, .. } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

impl DataRoot {
    /// The normal form of a data location given by a user (`--data`): `s3://bucket[/prefix]`
    /// without a trailing slash.
    pub fn normalize(location: &str) -> Result<String> {
        match Location::parse(location)? {
            Location::S3 { bucket, key } => {
                let key = key.trim_matches('/');
                Ok(if key.is_empty() { format!("s3://{bucket}") } else { format!("s3://{bucket}/{key}") })
            }
            Location::Local(_) => Err(Error::Invalid(format!(
                "data location {location:?}: managed data lives in the warehouse directory or at an s3://bucket/prefix \
                 location"
            ))),
        }
    }

    /// The root a catalog recorded (`None`: the warehouse directory `warehouse`).
    pub fn open(recorded: Option<&str>, warehouse: &Path, stores: &Stores) -> Result<DataRoot> {
        let Some(recorded) = recorded else { return Ok(DataRoot::Local(warehouse.to_path_buf())) };
        match Location::parse(recorded)? {
            Location::S3 { bucket, key } => {
                // Removals run from threads without the engine's runtime: their own client.
                let remover = Remover::start(stores.s3_detached(&bucket)?, recorded.to_string());
                Ok(DataRoot::S3 { bucket, prefix: key.trim_matches('/').to_string(), remover })
            }
            Location::Local(_) => Err(Error::Invalid(format!("the catalog records data location {recorded:?}"))),
        }
    }

    pub fn is_local(&self) -> bool {
        matches!(self, DataRoot::Local(_))
    }

    /// The location of a root-relative path.
    pub fn location(&self, relative: &str) -> Location {
        match self {
            DataRoot::Local(dir) => Location::Local(dir.join(relative)),
            DataRoot::S3 { bucket, prefix, .. } => Location::S3 { bucket: bucket.clone(), key: key(prefix, relative) },
        }
    }

    /// The URL a scan reads a root-relative path at.
    pub fn url(&self, relative: &str) -> String {
        self.location(relative).to_string()
    }

    /// The store and object path of a root-relative path.
    pub fn resolve(&self, stores: &Stores, relative: &str) -> Result<(Arc<dyn ObjectStore>, ObjectPath)> {
        stores.resolve(&self.location(relative), &S3Overrides::default())
    }

    /// Deletes files that no snapshot will ever reference (best effort: what is left, VACUUM
    /// removes later). Waits until they are gone.
    pub fn discard(&self, relative: &[String]) {
        if relative.is_empty() {
            return;
        }
        match self {
            DataRoot::Local(dir) => {
                for path in relative {
                    let path = dir.join(path);
                    if let Err(e) = std::fs::remove_file(&path)
                        && e.kind() != std::io::ErrorKind::NotFound
                    {
                        log::warn!("could not remove abandoned file {}: {e}", path.display());
                    }
                }
            }
            DataRoot::S3 { prefix, remover, .. } => {
                remover.remove(relative.iter().map(|p| ObjectPath::from(key(prefix, p))).collect());
            }
        }
    }

    /// Every data file under the root's `data/`, root-relative.
    pub async fn list_files(&self, stores: &Stores) -> Result<Vec<String>> {
        let data_dir = crate::engine::DATA_DIR;
        match self {
            DataRoot::Local(dir) => Ok(local_files(dir)),
            DataRoot::S3 { prefix, .. } => {
                let data = key(prefix, data_dir);
                let (store, folder) = self.resolve(stores, data_dir)?;
                let mut listing = store.list(Some(&folder));
                let mut files = Vec::new();
                while let Some(object) = listing.next().await {
                    let object = object.map_err(|e| crate::storage::storage_error("list", &self.url(data_dir), e))?;
                    if let Some(rest) = object.location.as_ref().strip_prefix(&data) {
                        files.push(format!("{data_dir}{rest}"));
                    }
                }
                Ok(files)
            }
        }
    }

    /// Deletes root-relative files now; returns how many went (failures are logged).
    pub async fn delete(&self, stores: &Stores, relative: &[String]) -> usize {
        let mut removed = 0;
        for path in relative {
            let deleted = match self {
                DataRoot::Local(dir) => std::fs::remove_file(dir.join(path)).map_err(|e| e.to_string()),
                DataRoot::S3 { .. } => match self.resolve(stores, path) {
                    Ok((store, object)) => store.delete(&object).await.map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                },
            };
            match deleted {
                Ok(()) => removed += 1,
                Err(e) => log::warn!("could not remove abandoned file {path}: {e}"),
            }
        }
        removed
    }
}

/// The object key of a root-relative path under `prefix`.
fn key(prefix: &str, relative: &str) -> String {
    match prefix.is_empty() {
        true => relative.to_string(),
        false => format!("{prefix}/{relative}"),
    }
}

/// The files under `DIR/data`, relative to `DIR`.
fn local_files(root: &Path) -> Vec<String> {
    let mut files = Vec::new();
    let mut stack = vec![root.join(crate::engine::DATA_DIR)];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(path);
            } else if let Ok(relative) = path.strip_prefix(root) {
                files.push(relative.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    files
}

/// Deletes objects on a thread of its own, with its own runtime and client: callers may be
/// synchronous code (a rollback, a session's drop) on any runtime, or on none.
pub(crate) struct Remover {
    jobs: std::sync::Mutex<mpsc::Sender<(Vec<ObjectPath>, mpsc::SyncSender<()>)>>,
}

impl Remover {
    fn start(store: Arc<dyn ObjectStore>, name: String) -> Remover {
        let (jobs, queue) = mpsc::channel::<(Vec<ObjectPath>, mpsc::SyncSender<()>)>();
        let spawned = std::thread::Builder::new().name("tarn-data-remover".into()).spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(runtime) => runtime,
                Err(e) => return log::warn!("cannot remove files at {name}: {e}"),
            };
            for (paths, done) in queue {
                runtime.block_on(async {
                    for path in paths {
                        match store.delete(&path).await {
                            Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                            Err(e) => log::warn!("could not remove abandoned file {path} at {name}: {e}"),
                        }
                    }
                });
                let _ = done.send(());
            }
        });
        if let Err(e) = spawned {
            log::warn!("cannot start removing files: {e}");
        }
        Remover { jobs: std::sync::Mutex::new(jobs) }
    }

    /// Deletes `paths` and waits until that is done.
    fn remove(&self, paths: Vec<ObjectPath>) {
        let (done, finished) = mpsc::sync_channel(1);
        let sent = self.jobs.lock().unwrap_or_else(|p| p.into_inner()).send((paths, done));
        if sent.is_ok() {
            let _ = finished.recv();
        }
    }
}
