//! The transaction delta: what a transaction changed against its base snapshot.
//!
//! A statement (or a `BEGIN ... COMMIT` block) builds a [`Transaction`]: catalog changes as
//! [`CatalogOp`]s and, per table, the data files it added and the committed files it removed.
//! Its view of the catalog is the base snapshot with its own changes applied, so reads inside
//! the transaction see its writes. [`CatalogStore::commit`](crate::CatalogStore::commit)
//! applies the delta as one new snapshot after checking it against what committed meanwhile.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::Result;
use crate::lineage::LineageRecord;
use crate::model::{CatalogOp, CatalogState, DataFile, NewDataFile, ObjectId, SnapshotId};

/// Data-file changes of one table in a transaction.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TableFiles {
    /// Files written by this transaction.
    pub added: Vec<NewDataFile>,
    /// Ids of committed files this transaction removed.
    pub removed: BTreeSet<i64>,
}

impl TableFiles {
    /// The files of the table as this transaction sees them: `committed` (the live files at
    /// the base snapshot) without the removed ones, plus the added ones.
    pub fn overlay(&self, committed: Vec<DataFile>) -> (Vec<DataFile>, &[NewDataFile]) {
        let kept = committed.into_iter().filter(|f| !self.removed.contains(&f.id)).collect();
        (kept, &self.added)
    }
}

#[derive(Debug, Clone)]
pub struct Transaction {
    base: Arc<CatalogState>,
    state: CatalogState,
    ops: Vec<CatalogOp>,
    files: BTreeMap<ObjectId, TableFiles>,
    lineage: Vec<LineageRecord>,
    /// The catalog's liveness epoch when the transaction's first data file was written.
    written_epoch: Option<u64>,
}

impl Transaction {
    pub fn new(base: Arc<CatalogState>) -> Self {
        let state = (*base).clone();
        Transaction { base, state, ops: Vec::new(), files: BTreeMap::new(), lineage: Vec::new(), written_epoch: None }
    }

    /// Notes that a data file is being written for this transaction while the catalog's
    /// liveness epoch is `epoch` ([`crate::CatalogStore::liveness_epoch`]): the commit is
    /// refused if the epoch has changed by then (others may have removed the files as orphans).
    pub fn note_written_epoch(&mut self, epoch: u64) {
        self.written_epoch.get_or_insert(epoch);
    }

    pub fn written_epoch(&self) -> Option<u64> {
        self.written_epoch
    }

    pub fn base_snapshot(&self) -> SnapshotId {
        self.base.snapshot
    }

    /// The snapshot this transaction started from.
    pub fn base(&self) -> &Arc<CatalogState> {
        &self.base
    }

    /// The catalog as this transaction sees it (base snapshot plus its own changes).
    pub fn state(&self) -> &CatalogState {
        &self.state
    }

    pub fn ops(&self) -> &[CatalogOp] {
        &self.ops
    }

    pub fn files(&self) -> &BTreeMap<ObjectId, TableFiles> {
        &self.files
    }

    pub fn table_files(&self, table_id: ObjectId) -> Option<&TableFiles> {
        self.files.get(&table_id)
    }

    /// The lineage of this transaction's statements, committed with it.
    pub fn lineage(&self) -> &[LineageRecord] {
        &self.lineage
    }

    /// Records a statement's lineage, to be committed (with the commit's snapshot) or rolled
    /// back with the transaction.
    pub fn record_lineage(&mut self, record: LineageRecord) {
        self.lineage.push(record);
    }

    /// True when committing would change nothing (lineage alone is not a change: see
    /// [`CatalogStore::commit`](crate::CatalogStore::commit)).
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty() && self.files.values().all(|f| f.added.is_empty() && f.removed.is_empty())
    }

    /// Applies a catalog change to this transaction's view, after validating it.
    pub fn apply(&mut self, op: CatalogOp) -> Result<()> {
        self.state.apply(&op)?;
        if let CatalogOp::DropTable(id) = &op {
            // Dropping a table ends all of its files; nothing of it is left to track.
            self.files.remove(id);
        }
        self.ops.push(op);
        Ok(())
    }

    /// Records data files written for `table_id`.
    pub fn add_files(&mut self, table_id: ObjectId, files: Vec<NewDataFile>) -> Result<()> {
        self.state.existing_table(table_id)?;
        self.files.entry(table_id).or_default().added.extend(files);
        Ok(())
    }

    /// Removes files from `table_id`: committed files by id, and files this transaction
    /// itself added by path.
    pub fn remove_files(
        &mut self,
        table_id: ObjectId,
        committed: impl IntoIterator<Item = i64>,
        added_paths: &BTreeSet<String>,
    ) -> Result<()> {
        self.state.existing_table(table_id)?;
        let entry = self.files.entry(table_id).or_default();
        entry.removed.extend(committed);
        entry.added.retain(|f| !added_paths.contains(&f.path));
        Ok(())
    }

    /// Tables whose committed files this transaction removes or whose definition it changes:
    /// committing conflicts if another transaction changed them first.
    pub fn rewritten_tables(&self) -> BTreeSet<ObjectId> {
        let mut out: BTreeSet<ObjectId> =
            self.files.iter().filter(|(_, f)| !f.removed.is_empty()).map(|(id, _)| *id).collect();
        for op in &self.ops {
            if let CatalogOp::AlterTable(t) = op {
                out.insert(t.id);
            }
        }
        out.retain(|id| self.base.tables.contains_key(id));
        out
    }
}
