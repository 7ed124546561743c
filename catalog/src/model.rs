//! The catalog's objects, and [`CatalogState`]: every schema, table and view visible at one
//! snapshot, held in memory (data files are loaded per table, on demand).

use std::collections::BTreeMap;

use arrow_schema::{Field, Schema};

use crate::types::SqlType;
use crate::{Error, Result};

/// Identifies a snapshot: snapshots are numbered 0 (the empty warehouse), 1, 2, ...
pub type SnapshotId = i64;
/// Identifies a schema, table or view; unique across all of them and never reused.
pub type ObjectId = i64;

/// The schema every warehouse starts with and unqualified names resolve to.
pub const DEFAULT_SCHEMA: &str = "public";

#[derive(Debug, Clone, PartialEq)]
pub struct SchemaDef {
    pub id: ObjectId,
    pub name: String,
    pub owner: String,
    pub comment: Option<String>,
    /// RFC 3339 creation time.
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ColumnDef {
    pub name: String,
    pub sql_type: SqlType,
    /// False for `NOT NULL` and `PRIMARY KEY` columns; enforced on every write.
    pub nullable: bool,
    /// SQL text of the `DEFAULT` expression.
    pub default: Option<String>,
    /// Declared, recorded, not enforced (as in Redshift).
    pub primary_key: bool,
    /// The UNIQUE constraint the column belongs to: columns with the same number form one
    /// constraint, except 1, which catalogs before composite keys wrote for every UNIQUE
    /// column (a constraint of its own). Declared, recorded, not enforced (as in Redshift).
    pub unique: Option<u32>,
    pub comment: Option<String>,
}

impl ColumnDef {
    pub fn new(name: impl Into<String>, sql_type: SqlType) -> Self {
        ColumnDef {
            name: name.into(),
            sql_type,
            nullable: true,
            default: None,
            primary_key: false,
            unique: None,
            comment: None,
        }
    }
}

/// A managed table: its definition, data lives in the files of its snapshots.
#[derive(Debug, Clone, PartialEq)]
pub struct TableDef {
    pub id: ObjectId,
    pub schema_id: ObjectId,
    pub name: String,
    pub columns: Vec<ColumnDef>,
    /// Directory of the table's data files, relative to the warehouse root.
    pub path: String,
    pub owner: String,
    pub comment: Option<String>,
    pub created_at: String,
    /// Redshift's `SORTKEY`: the order rows are written in, or `None`.
    pub sort_key: Option<SortKey>,
}

/// A table's sort key (Redshift's `[COMPOUND | INTERLEAVED] SORTKEY (columns)`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SortKey {
    pub columns: Vec<String>,
    /// `INTERLEAVED`: every column weighs the same (rows in Z-order) instead of the first
    /// column first.
    #[serde(default)]
    pub interleaved: bool,
}

impl TableDef {
    /// The Arrow schema of the table's data files.
    pub fn arrow_schema(&self) -> Schema {
        Schema::new(
            self.columns.iter().map(|c| Field::new(&c.name, c.sql_type.to_arrow(), c.nullable)).collect::<Vec<_>>(),
        )
    }

    pub fn column(&self, name: &str) -> Option<&ColumnDef> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// The declared keys: the primary key (if any), then each UNIQUE constraint, with
    /// PostgreSQL's constraint names (`t_pkey`, `t_a_b_key`) and columns in table order.
    pub fn keys(&self) -> Vec<TableKey> {
        let mut keys = Vec::new();
        let primary: Vec<String> = self.columns.iter().filter(|c| c.primary_key).map(|c| c.name.clone()).collect();
        if !primary.is_empty() {
            keys.push(TableKey { name: format!("{}_pkey", self.name), primary: true, columns: primary });
        }
        let mut groups: Vec<(u32, usize, Vec<String>)> = Vec::new();
        for (i, column) in self.columns.iter().enumerate() {
            let Some(number) = column.unique else { continue };
            // 1: an older catalog's UNIQUE column, a constraint of its own.
            match groups.iter_mut().find(|(n, _, _)| *n == number && number != 1) {
                Some((_, _, columns)) => columns.push(column.name.clone()),
                None => groups.push((number, i, vec![column.name.clone()])),
            }
        }
        for (_, _, columns) in groups {
            keys.push(TableKey { name: format!("{}_{}_key", self.name, columns.join("_")), primary: false, columns });
        }
        keys
    }
}

/// A PRIMARY KEY or UNIQUE constraint of a table (see [`TableDef::keys`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableKey {
    pub name: String,
    pub primary: bool,
    pub columns: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ViewDef {
    pub id: ObjectId,
    pub schema_id: ObjectId,
    pub name: String,
    /// The view's query, as written.
    pub sql: String,
    /// Column names given in `CREATE VIEW v (a, b) AS ...`.
    pub column_aliases: Vec<String>,
    pub owner: String,
    pub comment: Option<String>,
    pub created_at: String,
}

/// A committed Parquet data file of a managed table.
#[derive(Debug, Clone, PartialEq)]
pub struct DataFile {
    pub id: i64,
    pub table_id: ObjectId,
    /// Relative to the warehouse root.
    pub path: String,
    pub record_count: u64,
    pub file_size_bytes: u64,
    pub begin_snapshot: SnapshotId,
    pub end_snapshot: Option<SnapshotId>,
    /// What the planner knows of the file without opening it; `None` for files written before
    /// tarn recorded statistics (until `ANALYZE` reads their footers).
    pub stats: Option<FileStats>,
}

/// A data file written by a transaction that has not committed yet.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDataFile {
    /// Relative to the warehouse root.
    pub path: String,
    pub record_count: u64,
    pub file_size_bytes: u64,
    pub footer_size: u64,
    pub stats: Option<FileStats>,
}

/// Statistics of one data file, recorded when it is written (from the footer the writer has
/// just produced) or by `ANALYZE`, and served to the planner without opening the file. Data
/// files never change, so they stay true for the file's life.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct FileStats {
    /// Decoded size of the file's data, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<Stat<u64>>,
    /// One entry per column the statistics know, by name.
    pub columns: Vec<ColumnStats>,
}

/// Statistics of one column of one data file. Values are the column's canonical text form
/// (what casting them to `VARCHAR` gives), parsed back as the column's type.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct ColumnStats {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nulls: Option<Stat<u64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<Stat<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<Stat<String>>,
    /// Number of distinct non-null values (an estimate: `ANALYZE` computes it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distinct: Option<Stat<u64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<Stat<u64>>,
}

/// A statistic and whether it is exact or an estimate (a bound).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Stat<T> {
    #[serde(rename = "v")]
    pub value: T,
    #[serde(rename = "x")]
    pub exact: bool,
}

/// A committed snapshot and what it changed.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotInfo {
    pub id: SnapshotId,
    /// RFC 3339 commit time.
    pub time: String,
    pub author: String,
    /// DuckLake-style summary: `created_table:"s"."t",inserted_into_table:12,...`.
    pub changes: String,
}

/// Catalog objects whose names live in a schema.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Relation<'a> {
    Table(&'a TableDef),
    View(&'a ViewDef),
}

/// Every schema, table and view visible at one snapshot (plus, inside a transaction, the
/// transaction's own changes).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CatalogState {
    pub snapshot: SnapshotId,
    pub schemas: BTreeMap<ObjectId, SchemaDef>,
    pub tables: BTreeMap<ObjectId, TableDef>,
    pub views: BTreeMap<ObjectId, ViewDef>,
}

/// One catalog change; a transaction is a list of them plus its data-file changes.
#[derive(Debug, Clone, PartialEq)]
pub enum CatalogOp {
    CreateSchema(SchemaDef),
    /// Replace a schema's definition (comment).
    AlterSchema(SchemaDef),
    DropSchema(ObjectId),
    CreateTable(TableDef),
    /// Replace a table's definition (rename, comments).
    AlterTable(TableDef),
    DropTable(ObjectId),
    CreateView(ViewDef),
    AlterView(ViewDef),
    DropView(ObjectId),
}

impl CatalogState {
    pub fn schema_by_name(&self, name: &str) -> Option<&SchemaDef> {
        self.schemas.values().find(|s| s.name == name)
    }

    pub fn schema(&self, name: &str) -> Result<&SchemaDef> {
        self.schema_by_name(name).ok_or_else(|| Error::NotFound(format!("schema \"{name}\" does not exist")))
    }

    pub fn relation(&self, schema_id: ObjectId, name: &str) -> Option<Relation<'_>> {
        if let Some(t) = self.tables.values().find(|t| t.schema_id == schema_id && t.name == name) {
            return Some(Relation::Table(t));
        }
        self.views.values().find(|v| v.schema_id == schema_id && v.name == name).map(Relation::View)
    }

    /// The table or view `schema.name`.
    pub fn relation_by_name(&self, schema: &str, name: &str) -> Option<Relation<'_>> {
        self.relation(self.schema_by_name(schema)?.id, name)
    }

    pub fn table_by_name(&self, schema: &str, name: &str) -> Option<&TableDef> {
        match self.relation_by_name(schema, name)? {
            Relation::Table(t) => Some(t),
            Relation::View(_) => None,
        }
    }

    pub fn view_by_name(&self, schema: &str, name: &str) -> Option<&ViewDef> {
        match self.relation_by_name(schema, name)? {
            Relation::View(v) => Some(v),
            Relation::Table(_) => None,
        }
    }

    /// Tables and views of a schema, sorted by name.
    /// Every table and view.
    pub fn relations(&self) -> impl Iterator<Item = Relation<'_>> {
        self.tables.values().map(Relation::Table).chain(self.views.values().map(Relation::View))
    }

    pub fn relations_in(&self, schema_id: ObjectId) -> Vec<Relation<'_>> {
        let mut out: Vec<Relation<'_>> = self
            .tables
            .values()
            .filter(|t| t.schema_id == schema_id)
            .map(Relation::Table)
            .chain(self.views.values().filter(|v| v.schema_id == schema_id).map(Relation::View))
            .collect();
        out.sort_by(|a, b| a.name().cmp(b.name()));
        out
    }

    pub fn schema_name(&self, schema_id: ObjectId) -> &str {
        self.schemas.get(&schema_id).map(|s| s.name.as_str()).unwrap_or("?")
    }

    /// Applies one change, checking that it is valid against this state. The same checks run
    /// when a transaction builds its changes and again when it commits against the newest
    /// snapshot, where a failure means another transaction got there first.
    pub fn apply(&mut self, op: &CatalogOp) -> Result<()> {
        match op {
            CatalogOp::CreateSchema(def) => {
                if self.schema_by_name(&def.name).is_some() {
                    return Err(Error::AlreadyExists(format!("schema \"{}\" already exists", def.name)));
                }
                self.schemas.insert(def.id, def.clone());
            }
            CatalogOp::AlterSchema(def) => {
                self.existing_schema(def.id)?;
                if self.schemas.values().any(|s| s.name == def.name && s.id != def.id) {
                    return Err(Error::AlreadyExists(format!("schema \"{}\" already exists", def.name)));
                }
                self.schemas.insert(def.id, def.clone());
            }
            CatalogOp::DropSchema(id) => {
                let name = self.existing_schema(*id)?.name.clone();
                if !self.relations_in(*id).is_empty() {
                    return Err(Error::DependentObjects(format!(
                        "cannot drop schema \"{name}\" because other objects depend on it (use DROP SCHEMA ... CASCADE)"
                    )));
                }
                self.schemas.remove(id);
            }
            CatalogOp::CreateTable(def) => {
                self.check_name_free(def.schema_id, &def.name, None)?;
                self.tables.insert(def.id, def.clone());
            }
            CatalogOp::AlterTable(def) => {
                self.existing_table(def.id)?;
                self.check_name_free(def.schema_id, &def.name, Some(def.id))?;
                self.tables.insert(def.id, def.clone());
            }
            CatalogOp::DropTable(id) => {
                self.existing_table(*id)?;
                self.tables.remove(id);
            }
            CatalogOp::CreateView(def) => {
                self.check_name_free(def.schema_id, &def.name, None)?;
                self.views.insert(def.id, def.clone());
            }
            CatalogOp::AlterView(def) => {
                if !self.views.contains_key(&def.id) {
                    return Err(Error::NotFound(format!("view \"{}\" no longer exists", def.name)));
                }
                self.check_name_free(def.schema_id, &def.name, Some(def.id))?;
                self.views.insert(def.id, def.clone());
            }
            CatalogOp::DropView(id) => {
                if self.views.remove(id).is_none() {
                    return Err(Error::NotFound(format!("view {id} no longer exists")));
                }
            }
        }
        Ok(())
    }

    fn existing_schema(&self, id: ObjectId) -> Result<&SchemaDef> {
        self.schemas.get(&id).ok_or_else(|| Error::NotFound(format!("schema {id} no longer exists")))
    }

    pub(crate) fn existing_table(&self, id: ObjectId) -> Result<&TableDef> {
        self.tables.get(&id).ok_or_else(|| Error::NotFound(format!("table {id} no longer exists")))
    }

    fn check_name_free(&self, schema_id: ObjectId, name: &str, except: Option<ObjectId>) -> Result<()> {
        let schema = self.existing_schema(schema_id)?.name.clone();
        match self.relation(schema_id, name) {
            Some(r) if Some(r.id()) != except => {
                Err(Error::AlreadyExists(format!("relation \"{schema}.{name}\" already exists")))
            }
            _ => Ok(()),
        }
    }
}

/// A table or view definition, owned (a [`Relation`] borrows from the state).
#[derive(Debug, Clone, PartialEq)]
pub enum RelationDef {
    Table(TableDef),
    View(ViewDef),
}

impl Relation<'_> {
    pub fn to_owned_def(&self) -> RelationDef {
        match self {
            Relation::Table(t) => RelationDef::Table((*t).clone()),
            Relation::View(v) => RelationDef::View((*v).clone()),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Relation::Table(t) => &t.name,
            Relation::View(v) => &v.name,
        }
    }

    pub fn id(&self) -> ObjectId {
        match self {
            Relation::Table(t) => t.id,
            Relation::View(v) => v.id,
        }
    }

    pub fn owner(&self) -> &str {
        match self {
            Relation::Table(t) => &t.owner,
            Relation::View(v) => &v.owner,
        }
    }

    pub fn schema_id(&self) -> ObjectId {
        match self {
            Relation::Table(t) => t.schema_id,
            Relation::View(v) => v.schema_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(columns: Vec<ColumnDef>) -> TableDef {
        TableDef {
            id: 1,
            schema_id: 1,
            name: "t".into(),
            columns,
            path: String::new(),
            owner: "o".into(),
            comment: None,
            created_at: String::new(),
            sort_key: None,
        }
    }

    fn column(name: &str, primary_key: bool, unique: Option<u32>) -> ColumnDef {
        ColumnDef { primary_key, unique, ..ColumnDef::new(name, SqlType::Integer) }
    }

    #[test]
    fn keys_group_unique_columns_by_constraint_and_older_catalogs_keep_one_per_column() {
        let t = table(vec![
            column("id", true, None),
            column("a", false, Some(2)),
            column("b", false, Some(3)),
            column("c", false, Some(3)),
            column("x", false, Some(1)),
            column("y", false, Some(1)),
        ]);
        let keys: Vec<(String, bool, Vec<String>)> =
            t.keys().into_iter().map(|k| (k.name, k.primary, k.columns)).collect();
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            keys,
            vec![
                ("t_pkey".into(), true, names(&["id"])),
                ("t_a_key".into(), false, names(&["a"])),
                ("t_b_c_key".into(), false, names(&["b", "c"])),
                ("t_x_key".into(), false, names(&["x"])),
                ("t_y_key".into(), false, names(&["y"])),
            ]
        );
    }
}
