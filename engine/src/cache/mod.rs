//! The decoded-data cache: Arrow arrays of Parquet column chunks (one column of one row group
//! of one file), kept in memory across queries and sessions of an [`crate::Engine`].
//!
//! Managed data files never change once written; a lake file is keyed by its path, size,
//! modification time and ETag, so a file rewritten in place is a different entry and stale
//! data is never served. The cache is bounded in bytes (least recently used entries go first)
//! and the bound can be changed while it runs (`SET tarn.cache_size`). Scans reach it through
//! [`scan::CachedParquetFormat`].

mod int_set;
pub(crate) mod scan;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use datafusion::arrow::array::{Array, ArrayRef};
use datafusion::arrow::datatypes::DataType;

/// The setting that bounds the cache (`SET tarn.cache_size = '2GB'`, `SHOW tarn.cache_size`).
pub(crate) const CACHE_SIZE_SETTING: &str = "tarn.cache_size";

/// The identity of a file's contents: a rewritten file gets a new identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct FileIdentity {
    pub location: String,
    pub size: u64,
    pub modified_nanos: i64,
    pub e_tag: Option<String>,
}

impl FileIdentity {
    /// The identity of the object `meta` of the store at `store_url`.
    pub(crate) fn of(store_url: &str, meta: &object_store::ObjectMeta) -> Self {
        FileIdentity {
            location: format!("{store_url}{}", meta.location),
            size: meta.size,
            modified_nanos: meta.last_modified.timestamp_nanos_opt().unwrap_or_default(),
            e_tag: meta.e_tag.clone(),
        }
    }
}

/// One column chunk, decoded as `data_type`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ChunkKey {
    pub file: Arc<FileIdentity>,
    pub row_group: usize,
    /// Index of the column among the file's top-level columns.
    pub column: usize,
    pub data_type: DataType,
}

/// What `tarn_cache` shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheStats {
    pub entries: u64,
    pub bytes: u64,
    pub capacity: u64,
    pub hits: u64,
    pub misses: u64,
    pub evictions: u64,
}

struct Entry {
    array: ArrayRef,
    bytes: usize,
    last_used: u64,
}

#[derive(Default)]
struct Lru {
    capacity: usize,
    bytes: usize,
    clock: u64,
    entries: HashMap<ChunkKey, Entry>,
    /// Entries by last use, oldest first.
    by_use: BTreeMap<u64, ChunkKey>,
}

impl Lru {
    fn touch(&mut self, key: &ChunkKey) -> Option<ArrayRef> {
        self.clock += 1;
        let clock = self.clock;
        let entry = self.entries.get_mut(key)?;
        self.by_use.remove(&entry.last_used);
        entry.last_used = clock;
        self.by_use.insert(clock, key.clone());
        Some(entry.array.clone())
    }

    /// Removes least recently used entries until `room` more bytes fit; returns how many.
    fn make_room(&mut self, room: usize) -> u64 {
        let mut evicted = 0;
        while self.bytes + room > self.capacity {
            let Some((_, key)) = self.by_use.pop_first() else { break };
            if let Some(entry) = self.entries.remove(&key) {
                self.bytes -= entry.bytes;
                evicted += 1;
            }
        }
        evicted
    }
}

/// Files read at most this many times are remembered by [`DecodedCache::admit`]; past it the
/// memory starts over (a file then waits for one more read before it is cached).
const SEEN_FILES: usize = 100_000;

/// A memory-bounded LRU of decoded column chunks, shared by every session of an engine.
pub struct DecodedCache {
    lru: Mutex<Lru>,
    /// Files read once so far: a file's chunks are cached from its second read on.
    seen: Mutex<HashSet<Arc<FileIdentity>>>,
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
}

impl std::fmt::Debug for DecodedCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecodedCache").field("stats", &self.stats()).finish()
    }
}

impl DecodedCache {
    /// A cache holding at most `capacity` bytes (0: caching is off).
    pub fn new(capacity: usize) -> Self {
        DecodedCache {
            lru: Mutex::new(Lru { capacity, ..Default::default() }),
            seen: Mutex::new(HashSet::new()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        }
    }

    /// The default bound: a quarter of the machine's memory.
    pub fn default_capacity() -> usize {
        total_memory().map(|m| m / 4).unwrap_or(1 << 30)
    }

    fn lru(&self) -> std::sync::MutexGuard<'_, Lru> {
        self.lru.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn capacity(&self) -> usize {
        self.lru().capacity
    }

    /// Changes the bound, evicting what no longer fits.
    pub fn set_capacity(&self, capacity: usize) {
        let mut lru = self.lru();
        lru.capacity = capacity;
        let evicted = lru.make_room(0);
        self.evictions.fetch_add(evicted, Ordering::Relaxed);
    }

    /// Whether reads of `file` should go through the cache. A file's first read streams the
    /// plain way (a query that reads a file once, as cold queries and loads do, pays nothing for
    /// the cache: keeping decoded data costs fresh memory); from its second read on it is cached.
    pub(crate) fn admit(&self, file: &Arc<FileIdentity>) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.contains(file) {
            return true;
        }
        if seen.len() >= SEEN_FILES {
            seen.clear();
        }
        seen.insert(file.clone());
        false
    }

    /// The chunk, if cached (counted as a hit or a miss).
    pub(crate) fn get(&self, key: &ChunkKey) -> Option<ArrayRef> {
        let found = self.lru().touch(key);
        let counter = if found.is_some() { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Keeps `array` under `key`, evicting the least recently used chunks to make room. A chunk
    /// larger than the whole cache is not kept.
    pub(crate) fn insert(&self, key: ChunkKey, array: ArrayRef) {
        let bytes = array.get_array_memory_size();
        let mut lru = self.lru();
        if bytes > lru.capacity {
            return;
        }
        if let Some(old) = lru.entries.remove(&key) {
            lru.by_use.remove(&old.last_used);
            lru.bytes -= old.bytes;
        }
        let evicted = lru.make_room(bytes);
        self.evictions.fetch_add(evicted, Ordering::Relaxed);
        lru.clock += 1;
        let clock = lru.clock;
        lru.by_use.insert(clock, key.clone());
        lru.entries.insert(key, Entry { array, bytes, last_used: clock });
        lru.bytes += bytes;
    }

    pub fn stats(&self) -> CacheStats {
        let lru = self.lru();
        CacheStats {
            entries: lru.entries.len() as u64,
            bytes: lru.bytes as u64,
            capacity: lru.capacity as u64,
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
        }
    }
}

/// Total memory of this machine, from `/proc/meminfo` (Linux).
fn total_memory() -> Option<usize> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Parses `2GB`, `512MB`, `64KB`, `0`, `1073741824` (bytes) as PostgreSQL-style sizes.
pub fn parse_size(text: &str) -> Option<usize> {
    let upper = text.trim().to_ascii_uppercase();
    let upper = upper.strip_suffix("IB").or_else(|| upper.strip_suffix('B')).unwrap_or(&upper);
    let split = upper.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(upper.len());
    let (number, unit) = upper.split_at(split);
    let factor: f64 = match unit.trim() {
        "" => 1.0,
        "K" => 1024.0,
        "M" => 1024.0 * 1024.0,
        "G" => 1024.0 * 1024.0 * 1024.0,
        "T" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return None,
    };
    let value: f64 = number.trim().parse().ok()?;
    (value >= 0.0 && value.is_finite()).then_some((value * factor) as usize)
}

/// `1.5GB`, `512MB`, `0`: a size as people write it.
pub fn format_size(bytes: usize) -> String {
    const UNITS: [(&str, usize); 3] = [("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)];
    for (unit, size) in UNITS {
        if bytes >= size {
            let value = bytes as f64 / size as f64;
            return match value.fract() == 0.0 {
                true => format!("{value}{unit}"),
                false => format!("{value:.1}{unit}"),
            };
        }
    }
    format!("{bytes}B")
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::Int64Array;

    fn key(row_group: usize) -> ChunkKey {
        let file = Arc::new(FileIdentity { location: "f".into(), size: 1, modified_nanos: 0, e_tag: None });
        ChunkKey { file, row_group, column: 0, data_type: DataType::Int64 }
    }

    fn array(rows: i64) -> ArrayRef {
        Arc::new(Int64Array::from_iter_values(0..rows))
    }

    #[test]
    fn evicts_least_recently_used_within_its_bound() {
        let one = array(1000).get_array_memory_size();
        let cache = DecodedCache::new(one * 2 + one / 2);
        cache.insert(key(0), array(1000));
        cache.insert(key(1), array(1000));
        assert!(cache.get(&key(0)).is_some());
        cache.insert(key(2), array(1000));
        assert!(cache.get(&key(1)).is_none(), "1 was least recently used");
        assert!(cache.get(&key(0)).is_some() && cache.get(&key(2)).is_some());
        let stats = cache.stats();
        assert_eq!((stats.entries, stats.evictions, stats.hits, stats.misses), (2, 1, 3, 1));
        assert!(stats.bytes <= stats.capacity);

        cache.set_capacity(one);
        assert_eq!(cache.stats().entries, 1);
        cache.insert(key(3), array(100_000));
        assert!(cache.get(&key(3)).is_none(), "larger than the cache: not kept");
        cache.set_capacity(0);
        assert_eq!(cache.stats().bytes, 0);
    }

    #[test]
    fn files_are_cached_from_their_second_read_on() {
        let cache = DecodedCache::new(1 << 20);
        let file = key(0).file;
        assert!(!cache.admit(&file));
        assert!(cache.admit(&file));
        let rewritten = Arc::new(FileIdentity { size: 2, ..file.as_ref().clone() });
        assert!(!cache.admit(&rewritten), "a file rewritten in place is a new file");
    }

    #[test]
    fn sizes_read_and_print_like_postgresql() {
        assert_eq!(parse_size("2GB"), Some(2 << 30));
        assert_eq!(parse_size("512 MB"), Some(512 << 20));
        assert_eq!(parse_size("0"), Some(0));
        assert_eq!(parse_size("64kB"), Some(64 << 10));
        assert_eq!(parse_size("lots"), None);
        assert_eq!(parse_size("-1GB"), None);
        assert_eq!(format_size(2 << 30), "2GB");
        assert_eq!(format_size(1536 << 20), "1.5GB");
        assert_eq!(format_size(0), "0B");
    }
}
