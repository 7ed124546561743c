//! Lineage: which objects each committed statement built from which others.
//!
//! One [`LineageRecord`] per statement: its target (a table, a view, or the files an UNLOAD
//! wrote), its sources, what kind of statement it was, the snapshot it committed as, its user,
//! time and text. Records name objects by id where they have one, so renaming keeps history
//! attached, and by the name they had then, so dropping keeps it readable.

use crate::model::{ObjectId, SnapshotId};

/// What kind of object a lineage record names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LineageKind {
    Table,
    View,
    ExternalTable,
    /// A file, a pattern of files or a prefix (COPY's input, UNLOAD's output, files read in place).
    File,
}

impl LineageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LineageKind::Table => "table",
            LineageKind::View => "view",
            LineageKind::ExternalTable => "external table",
            LineageKind::File => "file",
        }
    }

    pub fn parse(text: &str) -> Option<LineageKind> {
        Some(match text {
            "table" => LineageKind::Table,
            "view" => LineageKind::View,
            "external table" => LineageKind::ExternalTable,
            "file" => LineageKind::File,
            _ => return None,
        })
    }
}

/// An object as a lineage record names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LineageObject {
    pub kind: LineageKind,
    /// `schema.name` for relations, the path or URL for files, as it was when recorded.
    pub name: String,
    /// The catalog id of a table or view.
    pub id: Option<ObjectId>,
}

/// One statement's lineage.
#[derive(Debug, Clone, PartialEq)]
pub struct LineageRecord {
    /// Assigned when recorded.
    pub id: i64,
    /// The snapshot the statement committed as (assigned on commit; for statements that change
    /// no table, such as UNLOAD, the snapshot they read).
    pub snapshot: SnapshotId,
    /// RFC 3339.
    pub time: String,
    pub userid: String,
    /// `CREATE TABLE AS`, `INSERT`, `UPDATE`, `DELETE`, `MERGE`, `COPY`, `UNLOAD`, `CREATE VIEW`.
    pub statement: String,
    pub target: LineageObject,
    pub sources: Vec<LineageObject>,
    /// The statement's text, secrets masked.
    pub querytxt: String,
}
