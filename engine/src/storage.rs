//! Where lake data lives: local paths and `s3://bucket/key` locations.
//!
//! S3 is reached through `object_store` with the standard AWS settings, in AWS's order of
//! precedence: explicit keys from a statement (`COPY ... ACCESS_KEY_ID/CREDENTIALS`), then the
//! environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
//! `AWS_REGION`/`AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`), then the profile
//! (`AWS_PROFILE`, default `default`) of `~/.aws/credentials` and `~/.aws/config`, then
//! `object_store`'s own chain (web identity, ECS, instance metadata). An `IAM_ROLE` clause is
//! accepted and resolved through that same chain: tarn does not call STS itself. Requests
//! use path-style addressing, which S3-compatible servers expect.
//!
//! Secrets stay in memory: they never reach the catalog, EXPLAIN output or error messages.

use std::collections::HashMap;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use datafusion::execution::object_store::ObjectStoreRegistry;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ClientConfigKey, ObjectStore, ObjectStoreExt};
use parking_lot::Mutex;
use url::Url;

use crate::error::{Error, Result};
use crate::scanned::CountingStore;

/// A place data is read from or written to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Location {
    Local(PathBuf),
    S3 { bucket: String, key: String },
}

impl Location {
    /// Parses `s3://bucket/key` (also `s3a://`), `file:///path` or a plain local path.
    pub fn parse(text: &str) -> Result<Location> {
        let text = text.trim();
        if let Some(rest) = text.strip_prefix("s3://").or_else(|| text.strip_prefix("s3a://")) {
            let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(Error::Invalid(format!("location {text} names no bucket")));
            }
            return Ok(Location::S3 { bucket: bucket.to_string(), key: key.to_string() });
        }
        if let Some((scheme, _)) = text.split_once("://")
            && scheme != "file"
        {
            return Err(Error::Unsupported(format!("{scheme}:// locations (use s3:// or a local path)")));
        }
        let path = text.strip_prefix("file://").unwrap_or(text);
        if path.is_empty() {
            return Err(Error::Invalid("an empty location".into()));
        }
        Ok(Location::Local(PathBuf::from(path)))
    }

    /// The same location with `name` appended as a path segment.
    pub fn join(&self, name: &str) -> Location {
        match self {
            Location::Local(path) => Location::Local(path.join(name)),
            Location::S3 { bucket, key } => {
                let key =
                    if key.is_empty() || key.ends_with('/') { format!("{key}{name}") } else { format!("{key}/{name}") };
                Location::S3 { bucket: bucket.clone(), key }
            }
        }
    }

    /// The last path segment.
    pub fn file_name(&self) -> &str {
        match self {
            Location::Local(path) => path.file_name().and_then(|n| n.to_str()).unwrap_or_default(),
            Location::S3 { key, .. } => key.trim_end_matches('/').rsplit('/').next().unwrap_or_default(),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Local(path) => write!(f, "{}", path.display()),
            Location::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
        }
    }
}

/// Settings a statement gives for one S3 access, over the environment's.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct S3Overrides {
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    pub region: Option<String>,
}

impl fmt::Debug for S3Overrides {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print secrets.
        let set = |v: &Option<String>| if v.is_some() { "<set>" } else { "<unset>" };
        f.debug_struct("S3Overrides")
            .field("access_key_id", &set(&self.access_key_id))
            .field("secret_access_key", &set(&self.secret_access_key))
            .field("session_token", &set(&self.session_token))
            .field("region", &self.region)
            .finish()
    }
}

/// An object found under a location.
#[derive(Debug, Clone)]
pub(crate) struct ObjectInfo {
    pub location: Location,
    pub size: u64,
    pub last_modified: Option<chrono::DateTime<chrono::Utc>>,
    pub e_tag: Option<String>,
}

/// The object stores of one engine: the local file system and one S3 client per bucket
/// (created on first use), shared by DataFusion scans and tarn's own reads and writes.
pub(crate) struct Stores {
    local: Arc<dyn ObjectStore>,
    /// Bytes read through these stores so far (for progress lines).
    pub read: Arc<std::sync::atomic::AtomicU64>,
    /// Keyed by bucket and the statement's overrides (empty for the environment's settings).
    s3: Mutex<HashMap<(String, S3Overrides), Arc<dyn ObjectStore>>>,
}

impl fmt::Debug for Stores {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stores").field("buckets", &self.s3.lock().keys().map(|k| &k.0).collect::<Vec<_>>()).finish()
    }
}

impl Stores {
    pub fn new() -> Stores {
        let read = Arc::new(std::sync::atomic::AtomicU64::new(0));
        Stores {
            local: CountingStore::wrap(Arc::new(LocalFileSystem::new()), read.clone()),
            read,
            s3: Mutex::new(HashMap::new()),
        }
    }

    /// The client for `bucket` with the given overrides (cached).
    pub fn s3(&self, bucket: &str, overrides: &S3Overrides) -> Result<Arc<dyn ObjectStore>> {
        let key = (bucket.to_string(), overrides.clone());
        if let Some(store) = self.s3.lock().get(&key) {
            return Ok(store.clone());
        }
        let store: Arc<dyn ObjectStore> = CountingStore::wrap(
            Arc::new(
                s3_builder(bucket, overrides)
                    .build()
                    .map_err(|e| Error::Storage(format!("cannot set up S3 access to bucket \"{bucket}\": {e}")))?,
            ),
            self.read.clone(),
        );
        self.s3.lock().insert(key, store.clone());
        Ok(store)
    }

    /// A new client for `bucket` with the environment's settings, not shared: for use from
    /// another runtime than the engine's (a client's connections belong to the runtime that
    /// opened them).
    pub fn s3_detached(&self, bucket: &str) -> Result<Arc<dyn ObjectStore>> {
        let store = s3_builder(bucket, &S3Overrides::default())
            .build()
            .map_err(|e| Error::Storage(format!("cannot set up S3 access to bucket \"{bucket}\": {e}")))?;
        Ok(Arc::new(store))
    }

    /// The store holding `location` and the object path inside it.
    pub fn resolve(&self, location: &Location, overrides: &S3Overrides) -> Result<(Arc<dyn ObjectStore>, ObjectPath)> {
        match location {
            Location::S3 { bucket, key } => Ok((self.s3(bucket, overrides)?, ObjectPath::from(key.as_str()))),
            Location::Local(path) => {
                let absolute = absolute_path(path)
                    .map_err(|e| Error::Io { context: format!("resolving {}", path.display()), source: e })?;
                let object = ObjectPath::from_absolute_path(&absolute)
                    .map_err(|e| Error::Invalid(format!("{} is not a usable local path: {e}", path.display())))?;
                Ok((self.local.clone(), object))
            }
        }
    }

    /// Every object whose key starts with `prefix` (Redshift's and S3's prefix semantics: a
    /// prefix may end in the middle of a name), sorted by key; dot files (`.name`) are left
    /// out. COPY loads all of them; lake tables read [`Stores::list_lake_files`].
    pub async fn list_prefix(&self, prefix: &Location, overrides: &S3Overrides) -> Result<Vec<ObjectInfo>> {
        match prefix {
            Location::Local(path) => list_local(path),
            Location::S3 { bucket, key } => {
                let store = self.s3(bucket, overrides)?;
                let folder = match key.rfind('/') {
                    Some(end) => &key[..end],
                    None => "",
                };
                let folder = (!folder.is_empty()).then(|| ObjectPath::from(folder));
                let objects: Vec<_> = store
                    .list(folder.as_ref())
                    .try_collect()
                    .await
                    .map_err(|e| storage_error("list", &prefix.to_string(), e))?;
                let mut found: Vec<ObjectInfo> = objects
                    .into_iter()
                    .filter(|o| o.location.as_ref().starts_with(key.as_str()))
                    .filter(|o| !o.location.filename().unwrap_or_default().starts_with('.'))
                    .map(|o| ObjectInfo {
                        location: Location::S3 { bucket: bucket.clone(), key: o.location.to_string() },
                        size: o.size,
                        last_modified: Some(o.last_modified),
                        e_tag: o.e_tag.clone(),
                    })
                    .collect();
                found.sort_by_key(|a| a.location.to_string());
                Ok(found)
            }
        }
    }

    /// The data files of a lake table or partition under `folder`: [`Stores::list_prefix`]
    /// without the names Hive and Spark skip (`_SUCCESS`, `_temporary`, ...).
    pub async fn list_lake_files(&self, folder: &Location, overrides: &S3Overrides) -> Result<Vec<ObjectInfo>> {
        let mut files = self.list_prefix(folder, overrides).await?;
        files.retain(|f| !lake_hidden(f.location.file_name()));
        Ok(files)
    }

    /// One level of a lake folder, in one listing: its visible sub-folders (names, sorted),
    /// and whether files lie directly in it.
    pub async fn list_level(&self, folder: &Location, overrides: &S3Overrides) -> Result<Level> {
        let (mut folders, has_files) = match folder {
            Location::Local(path) => {
                let entries = match std::fs::read_dir(path) {
                    Ok(entries) => entries,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Level::default()),
                    Err(e) => return Err(Error::Io { context: format!("cannot list {}", path.display()), source: e }),
                };
                let (mut folders, mut has_files) = (Vec::new(), false);
                for entry in entries.flatten() {
                    let Some(name) = entry.file_name().to_str().map(str::to_string) else { continue };
                    match entry.path().is_dir() {
                        true => folders.push(name),
                        false => has_files |= !lake_hidden(&name),
                    }
                }
                (folders, has_files)
            }
            Location::S3 { bucket, key } => {
                let store = self.s3(bucket, overrides)?;
                let prefix = ObjectPath::from(key.trim_end_matches('/'));
                let listing = store
                    .list_with_delimiter(Some(&prefix))
                    .await
                    .map_err(|e| storage_error("list", &folder.to_string(), e))?;
                let folders = listing.common_prefixes.iter().filter_map(|p| p.filename().map(str::to_string)).collect();
                let has_files = listing.objects.iter().any(|o| !lake_hidden(o.location.filename().unwrap_or_default()));
                (folders, has_files)
            }
        };
        folders.retain(|name| !lake_hidden(name));
        folders.sort();
        Ok(Level { folders, has_files })
    }

    /// The entries directly under the folder of `prefix` whose names start with its last part,
    /// as full locations (folders end in `/`), sorted: completion of paths and S3 keys.
    pub async fn complete(&self, prefix: &str) -> Result<Vec<String>> {
        let (folder, partial) = prefix.rsplit_once('/').map_or(("", prefix), |(f, p)| (f, p));
        let mut names: Vec<(String, bool)> = Vec::new();
        match Location::parse(if folder.is_empty() { "." } else { folder })? {
            Location::Local(dir) => {
                let dir = if prefix.starts_with('/') && folder.is_empty() { PathBuf::from("/") } else { dir };
                if let Ok(entries) = std::fs::read_dir(&dir) {
                    for entry in entries.flatten() {
                        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
                        names.push((entry.file_name().to_string_lossy().into_owned(), is_dir));
                    }
                }
            }
            Location::S3 { bucket, key } => {
                let store = self.s3(&bucket, &S3Overrides::default())?;
                let path = ObjectPath::from(key.trim_end_matches('/'));
                let listing = store
                    .list_with_delimiter(if key.is_empty() { None } else { Some(&path) })
                    .await
                    .map_err(|e| storage_error("list", folder, e))?;
                for p in listing.common_prefixes {
                    names.push((p.filename().unwrap_or_default().to_string(), true));
                }
                for o in listing.objects {
                    names.push((o.location.filename().unwrap_or_default().to_string(), false));
                }
            }
        }
        let base = if folder.is_empty() && !prefix.starts_with('/') { String::new() } else { format!("{folder}/") };
        let mut out: Vec<String> = names
            .into_iter()
            .filter(|(name, _)| name.starts_with(partial) && (partial.starts_with('.') || !name.starts_with('.')))
            .map(|(name, is_dir)| format!("{base}{name}{}", if is_dir { "/" } else { "" }))
            .collect();
        out.sort();
        Ok(out)
    }

    /// Opens an object for sequential reading from a blocking thread; chunks are fetched as
    /// they are read, so memory stays bounded whatever the object's size.
    pub fn open_blocking(&self, location: &Location, overrides: &S3Overrides) -> Result<Box<dyn Read + Send>> {
        if let Location::Local(path) = location {
            let file = std::fs::File::open(path)
                .map_err(|e| Error::Io { context: format!("cannot open {}", path.display()), source: e })?;
            return Ok(Box::new(file));
        }
        let (store, path) = self.resolve(location, overrides)?;
        let handle = tokio::runtime::Handle::current();
        let result = handle.block_on(store.get(&path)).map_err(|e| storage_error("read", &location.to_string(), e))?;
        Ok(Box::new(ObjectReader {
            handle,
            stream: result.into_stream(),
            chunk: Bytes::new(),
            name: location.to_string(),
        }))
    }

    /// Whether an object (or local file) exists.
    pub async fn exists(&self, location: &Location, overrides: &S3Overrides) -> Result<bool> {
        if let Location::Local(path) = location {
            return Ok(path.is_file());
        }
        let (store, path) = self.resolve(location, overrides)?;
        match store.head(&path).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(storage_error("read", &location.to_string(), e)),
        }
    }

    /// The whole object as text (small files: manifests, JSONPaths).
    pub async fn read_to_string(&self, location: &Location, overrides: &S3Overrides) -> Result<String> {
        let bytes = self.read_bytes(location, overrides).await?;
        String::from_utf8(bytes.to_vec()).map_err(|_| Error::Invalid(format!("{location} is not UTF-8 text")))
    }

    /// The whole object.
    pub async fn read_bytes(&self, location: &Location, overrides: &S3Overrides) -> Result<Bytes> {
        let (store, path) = self.resolve(location, overrides)?;
        let failed = |e| storage_error("read", &location.to_string(), e);
        store.get(&path).await.map_err(failed)?.bytes().await.map_err(failed)
    }
}

impl ObjectStoreRegistry for Stores {
    fn register_store(&self, url: &Url, store: Arc<dyn ObjectStore>) -> Option<Arc<dyn ObjectStore>> {
        match (url.scheme(), url.host_str()) {
            ("s3" | "s3a", Some(bucket)) => self.s3.lock().insert((bucket.to_string(), S3Overrides::default()), store),
            _ => None,
        }
    }

    fn get_store(&self, url: &Url) -> datafusion::error::Result<Arc<dyn ObjectStore>> {
        match (url.scheme(), url.host_str()) {
            ("file", _) => Ok(self.local.clone()),
            ("s3" | "s3a", Some(bucket)) => Ok(self.s3(bucket, &S3Overrides::default())?),
            (scheme, _) => Err(Error::Unsupported(format!("{scheme}:// locations (use s3:// or a local path)")).into()),
        }
    }
}

/// Reads an object's byte stream from a blocking thread.
struct ObjectReader {
    handle: tokio::runtime::Handle,
    stream: BoxStream<'static, object_store::Result<Bytes>>,
    chunk: Bytes,
    name: String,
}

impl Read for ObjectReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.chunk.is_empty() {
            match self.handle.block_on(self.stream.next()) {
                Some(Ok(chunk)) => self.chunk = chunk,
                Some(Err(e)) => return Err(std::io::Error::other(storage_error("read", &self.name, e))),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk.split_to(n));
        Ok(n)
    }
}

/// One level of a folder (see [`Stores::list_level`]).
#[derive(Debug, Default)]
pub(crate) struct Level {
    pub folders: Vec<String>,
    pub has_files: bool,
}

/// `path` from the root, with `.` and `..` resolved by name (`a/../b` is `b`), as object
/// stores take local paths.
pub(crate) fn absolute_path(path: &Path) -> std::io::Result<PathBuf> {
    let mut resolved = PathBuf::new();
    for component in std::path::absolute(path)?.components() {
        match component {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                resolved.pop();
            }
            other => resolved.push(other),
        }
    }
    Ok(resolved)
}

/// Names the lake ignores, as Hive and Spark do: `.hidden`, `_SUCCESS`, `_temporary`.
fn lake_hidden(name: &str) -> bool {
    name.starts_with('.') || name.starts_with('_')
}

/// Local files under a file, directory or name prefix. Only regular files are read: a device,
/// FIFO or socket among them is an error that names it (reading one could block for ever), and
/// so is a loop of symbolic links between folders.
fn list_local(prefix: &Path) -> Result<Vec<ObjectInfo>> {
    let info = |path: PathBuf| {
        let metadata = std::fs::metadata(&path).ok();
        let size = metadata.as_ref().map(|m| m.len()).unwrap_or(0);
        let last_modified = metadata.and_then(|m| m.modified().ok()).map(chrono::DateTime::<chrono::Utc>::from);
        ObjectInfo { location: Location::Local(path), size, last_modified, e_tag: None }
    };
    let mut files = Vec::new();
    let mut visited = Vec::new();
    match std::fs::metadata(prefix) {
        Ok(m) if m.is_file() => return Ok(vec![info(prefix.to_path_buf())]),
        Ok(m) if m.is_dir() => collect_files(prefix, "", &mut visited, &mut files)?,
        Ok(m) => return Err(not_a_regular_file(prefix, &m.file_type())),
        Err(_) => {
            // A name prefix: the files of its folder whose paths start with it.
            let dir = prefix.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
            if dir.is_dir() {
                collect_files(dir, &prefix.to_string_lossy(), &mut visited, &mut files)?;
            }
        }
    }
    files.sort();
    Ok(files.into_iter().map(info).collect())
}

/// The regular files under `dir` whose paths start with `prefix` (walking only the folders
/// that can hold such paths), in `out`; `visited` holds the folders on the way, to catch loops.
fn collect_files(
    dir: &Path,
    prefix: &str,
    visited: &mut Vec<(u64, u64, PathBuf)>,
    out: &mut Vec<PathBuf>,
) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let metadata = std::fs::metadata(dir)
        .map_err(|e| Error::Io { context: format!("cannot list {}", dir.display()), source: e })?;
    let id = (metadata.dev(), metadata.ino());
    if let Some((_, _, earlier)) = visited.iter().find(|(dev, ino, _)| (*dev, *ino) == id) {
        return Err(Error::Invalid(format!(
            "{} leads back to {}: a loop of symbolic links (each folder is read once)",
            dir.display(),
            earlier.display()
        )));
    }
    visited.push((id.0, id.1, dir.to_path_buf()));
    let entries = std::fs::read_dir(dir)
        .map_err(|e| Error::Io { context: format!("cannot list {}", dir.display()), source: e })?;
    for entry in entries.flatten() {
        let path = entry.path();
        if entry.file_name().to_str().is_some_and(|n| n.starts_with('.')) {
            continue;
        }
        let text = path.to_string_lossy();
        let folder_text = format!("{text}/");
        let wanted = text.starts_with(prefix);
        // Symbolic links count as what they point to.
        let Ok(metadata) = std::fs::metadata(&path) else { continue };
        if metadata.is_dir() {
            if wanted || prefix.starts_with(folder_text.as_str()) {
                collect_files(&path, prefix, visited, out)?;
            }
        } else if wanted {
            if !metadata.is_file() {
                return Err(not_a_regular_file(&path, &metadata.file_type()));
            }
            out.push(path);
        }
    }
    visited.pop();
    Ok(())
}

fn not_a_regular_file(path: &Path, kind: &std::fs::FileType) -> Error {
    use std::os::unix::fs::FileTypeExt;
    let kind = if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_fifo() {
        "a FIFO (named pipe)"
    } else if kind.is_socket() {
        "a socket"
    } else {
        "not a file or folder"
    };
    Error::Invalid(format!("{} is {kind}, not a regular file: only files and folders of them are read", path.display()))
}

/// An S3 client for `bucket`: overrides, then environment, then profile files.
fn s3_builder(bucket: &str, overrides: &S3Overrides) -> AmazonS3Builder {
    let mut builder = AmazonS3Builder::new().with_bucket_name(bucket);
    let profile = aws_profile();
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let pick = |over: &Option<String>, vars: &[&str], key: &str| {
        over.clone().or_else(|| vars.iter().find_map(|v| env(v))).or_else(|| profile.get(key).cloned())
    };
    let explicit_keys = overrides.access_key_id.is_some();
    let access = pick(&overrides.access_key_id, &["AWS_ACCESS_KEY_ID"], "aws_access_key_id");
    let secret = pick(&overrides.secret_access_key, &["AWS_SECRET_ACCESS_KEY"], "aws_secret_access_key");
    // A session token belongs to its keys: explicit keys never borrow the environment's token.
    let token = if explicit_keys {
        overrides.session_token.clone()
    } else {
        pick(&None, &["AWS_SESSION_TOKEN"], "aws_session_token")
    };
    let region = pick(&overrides.region, &["AWS_REGION", "AWS_DEFAULT_REGION"], "region");
    let endpoint = pick(&None, &["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"], "endpoint_url");
    if let (Some(access), Some(secret)) = (access, secret) {
        builder = builder.with_access_key_id(access).with_secret_access_key(secret);
        if let Some(token) = token {
            builder = builder.with_token(token);
        }
    }
    builder = builder.with_region(region.unwrap_or_else(|| "us-east-1".to_string()));
    if let Some(endpoint) = endpoint {
        builder = builder.with_endpoint(endpoint);
    }
    if let Some(allow) = env("AWS_ALLOW_HTTP") {
        builder = builder.with_config(AmazonS3ConfigKey::Client(ClientConfigKey::AllowHttp), allow);
    }
    builder.with_virtual_hosted_style_request(false)
}

/// The settings of the selected profile (`AWS_PROFILE`, default `default`) from
/// `~/.aws/credentials` and `~/.aws/config` (or `AWS_SHARED_CREDENTIALS_FILE`/`AWS_CONFIG_FILE`);
/// the credentials file wins where both set a key.
fn aws_profile() -> HashMap<String, String> {
    let profile = std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty()).unwrap_or_else(|| "default".into());
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let file = |var: &str, name: &str| {
        std::env::var_os(var).map(PathBuf::from).or_else(|| home.as_ref().map(|h| h.join(".aws").join(name)))
    };
    let mut settings = HashMap::new();
    if let Some(text) = file("AWS_CONFIG_FILE", "config").and_then(|f| std::fs::read_to_string(f).ok()) {
        let section = if profile == "default" { "default".to_string() } else { format!("profile {profile}") };
        settings.extend(ini_section(&text, &section));
    }
    if let Some(text) = file("AWS_SHARED_CREDENTIALS_FILE", "credentials").and_then(|f| std::fs::read_to_string(f).ok())
    {
        settings.extend(ini_section(&text, &profile));
    }
    settings
}

/// The `key = value` pairs of `[section]` in an AWS-style INI file.
fn ini_section(text: &str, section: &str) -> HashMap<String, String> {
    let mut current = None;
    let mut settings = HashMap::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = Some(name.trim().to_string());
        } else if current.as_deref() == Some(section)
            && let Some((key, value)) = line.split_once('=')
        {
            settings.insert(key.trim().to_ascii_lowercase(), value.trim().to_string());
        }
    }
    settings
}

/// One clear line for a failed storage operation: what was refused, on which location.
/// Never includes credentials.
pub(crate) fn storage_error(operation: &str, location: &str, e: object_store::Error) -> Error {
    let bucket = location.strip_prefix("s3://").and_then(|r| r.split('/').next()).unwrap_or_default();
    let message = e.to_string();
    // Listing errors arrive as generic errors carrying the HTTP status and S3's error code.
    let refused =
        matches!(e, object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. })
            || ["403 Forbidden", "401 Unauthorized", "AccessDenied", "SignatureDoesNotMatch", "InvalidAccessKeyId"]
                .iter()
                .any(|m| message.contains(m));
    Error::Storage(if refused {
        format!(
            "access denied: S3 refused to {operation} {location} (bucket \"{bucket}\"); check the AWS credentials and region"
        )
    } else if message.contains("NoSuchBucket") {
        format!("cannot {operation} {location}: bucket \"{bucket}\" does not exist")
    } else if matches!(e, object_store::Error::NotFound { .. }) {
        format!("cannot {operation} {location}: it does not exist")
    } else {
        let message = message.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ");
        format!("cannot {operation} {location}: {message}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listings_refuse_fifos_and_symbolic_link_loops_instead_of_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir_all(data.join("a")).unwrap();
        std::fs::write(data.join("a/part-0.csv"), "1\n").unwrap();
        let status = std::process::Command::new("mkfifo").arg(data.join("pipe.csv")).status().unwrap();
        assert!(status.success());
        // The FIFO is refused when it would be read, and only then.
        let error = list_local(&data).unwrap_err().to_string();
        assert!(error.contains("pipe.csv is a FIFO (named pipe), not a regular file"), "{error}");
        let files = list_local(&data.join("a/part")).unwrap();
        assert_eq!(files.len(), 1);
        // A link back to a folder on the way is a loop.
        std::fs::remove_file(data.join("pipe.csv")).unwrap();
        std::os::unix::fs::symlink(&data, data.join("a/again")).unwrap();
        let error = list_local(&data).unwrap_err().to_string();
        assert!(error.contains("again leads back to") && error.contains("a loop of symbolic links"), "{error}");
        // A link to a folder elsewhere is followed.
        std::fs::remove_file(data.join("a/again")).unwrap();
        std::fs::create_dir(dir.path().join("other")).unwrap();
        std::fs::write(dir.path().join("other/part-1.csv"), "2\n").unwrap();
        std::os::unix::fs::symlink(dir.path().join("other"), data.join("linked")).unwrap();
        assert_eq!(list_local(&data).unwrap().len(), 2);
    }

    #[test]
    fn locations_parse_from_s3_urls_file_urls_and_paths() {
        assert_eq!(
            Location::parse("s3://bucket/a/b.csv").unwrap(),
            Location::S3 { bucket: "bucket".into(), key: "a/b.csv".into() }
        );
        assert_eq!(Location::parse("s3://bucket").unwrap(), Location::S3 { bucket: "bucket".into(), key: "".into() });
        assert_eq!(Location::parse("file:///tmp/x").unwrap(), Location::Local("/tmp/x".into()));
        assert_eq!(Location::parse("data/x.csv").unwrap(), Location::Local("data/x.csv".into()));
        assert!(Location::parse("s3:///key").is_err());
        assert!(matches!(Location::parse("gs://b/k"), Err(Error::Unsupported(_))));
        let folder = Location::parse("s3://b/sales/").unwrap();
        assert_eq!(folder.join("dt=1").to_string(), "s3://b/sales/dt=1");
        assert_eq!(folder.join("dt=1").file_name(), "dt=1");
    }

    #[test]
    fn profiles_are_read_from_their_section_only() {
        let text = "[default]\naws_access_key_id = A\n\n[other]\naws_access_key_id=B\nregion = eu-west-1\n";
        assert_eq!(ini_section(text, "default").get("aws_access_key_id").map(String::as_str), Some("A"));
        assert_eq!(ini_section(text, "other").get("region").map(String::as_str), Some("eu-west-1"));
        assert!(ini_section(text, "missing").is_empty());
    }

    #[test]
    fn overrides_never_print_secrets() {
        let overrides = S3Overrides { secret_access_key: Some("hunter2".into()), ..Default::default() };
        assert!(!format!("{overrides:?}").contains("hunter2"));
    }
}
