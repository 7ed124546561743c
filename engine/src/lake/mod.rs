//! Lake querying: external schemas, databases and tables in the warehouse's Glue-like catalog,
//! over local folders and `s3://` prefixes.
//!
//! Name resolution: a schema is either managed (warehouse tables) or external (bound to a lake
//! database by `CREATE EXTERNAL SCHEMA` or Athena's `CREATE DATABASE`). External tables created
//! in a managed schema (DataFusion's `CREATE EXTERNAL TABLE t ...`) live in the lake database
//! of the same name, created on demand. Lake DDL applies at once, as Glue's API does, and like
//! Redshift refuses to run inside a transaction block.

mod analyze;
mod crawl;
mod ddl;
pub(crate) mod files;
pub(crate) mod parse;
mod scan;
pub(crate) mod views;

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use tarn_catalog::{CatalogStore, ExternalTable, LakeFileStats, LakePartition, LakeState};

pub use crawl::{CrawlReport, CrawlRequest};
pub use parse::{ExternalTableSpec, LakeStatement, PartitionSpec};

pub(crate) use analyze::analyze;
pub(crate) use ddl::{drop_lake_objects, execute};
pub(crate) use scan::external_table;

use crate::error::Result;

/// A table's partitions and the lake version they were loaded at.
type VersionedPartitions = (i64, Arc<Vec<LakePartition>>);
/// The file statistics ANALYZE recorded for a table, by location, and the lake version they
/// were loaded at.
type VersionedFileStats = (i64, Arc<HashMap<String, LakeFileStats>>);

/// The lake catalog as last loaded, shared by an engine's sessions and reloaded when another
/// session or process changes it.
#[derive(Default)]
pub(crate) struct LakeCache {
    state: Mutex<Option<Arc<LakeState>>>,
    /// Partitions by table id, with the lake version they were loaded at.
    partitions: Mutex<HashMap<i64, VersionedPartitions>>,
    /// Recorded file statistics by table id (ANALYZE bumps the lake version).
    file_stats: Mutex<HashMap<i64, VersionedFileStats>>,
}

impl LakeCache {
    pub fn state(&self, store: &dyn CatalogStore) -> Result<Arc<LakeState>> {
        let version = store.lake_version()?;
        if let Some(state) = self.state.lock().as_ref().filter(|s| s.version == version) {
            return Ok(state.clone());
        }
        let state = Arc::new(store.lake_state()?);
        *self.state.lock() = Some(state.clone());
        Ok(state)
    }

    pub fn partitions(&self, store: &dyn CatalogStore, table: &ExternalTable) -> Result<Arc<Vec<LakePartition>>> {
        let version = store.lake_version()?;
        if let Some((at, partitions)) = self.partitions.lock().get(&table.id)
            && *at == version
        {
            return Ok(partitions.clone());
        }
        let partitions = Arc::new(store.partitions(table.id)?);
        self.partitions.lock().insert(table.id, (version, partitions.clone()));
        Ok(partitions)
    }

    /// The file statistics ANALYZE recorded for `table`, by file location; read from the
    /// catalog once per lake version, not for every query.
    pub fn file_stats(
        &self,
        store: &dyn CatalogStore,
        table: &ExternalTable,
    ) -> Result<Arc<HashMap<String, LakeFileStats>>> {
        let version = store.lake_version()?;
        if let Some((at, stats)) = self.file_stats.lock().get(&table.id)
            && *at == version
        {
            return Ok(stats.clone());
        }
        let stats: Arc<HashMap<_, _>> =
            Arc::new(store.lake_file_stats(table.id)?.into_iter().map(|f| (f.location.clone(), f)).collect());
        self.file_stats.lock().insert(table.id, (version, stats.clone()));
        Ok(stats)
    }
}

/// The lake database that schema `schema` reads external tables from: the database an external
/// schema is bound to, or the same-named database of a managed schema.
pub(crate) fn database_of(lake: &LakeState, schema: &str) -> String {
    lake.schema(schema).map(|s| s.database.clone()).unwrap_or_else(|| schema.to_string())
}
