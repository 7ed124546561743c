//! The model of the tracked tables: each `t<n> (id int, s varchar(8), n bigint)` as a list of
//! rows, with the transaction's view apart from the committed one.

use std::collections::BTreeMap;

pub type Row = (Option<i64>, Option<String>, Option<i64>);

/// The longest text `varchar(8)` holds, in bytes.
pub const S_BYTES: usize = 8;

/// A change the model can predict.
#[derive(Debug, Clone)]
pub enum Effect {
    Begin,
    Commit,
    Rollback,
    CreateTable(String),
    DropTable(String),
    Truncate(String),
    /// `CREATE TABLE new AS SELECT * FROM from WHERE id < k`.
    CreateAs {
        table: String,
        from: String,
        below: i64,
    },
    Insert {
        table: String,
        rows: Vec<Row>,
    },
    /// `DELETE FROM t WHERE ...`.
    Delete {
        table: String,
        filter: Filter,
    },
    /// `UPDATE t SET n = value WHERE ...`.
    UpdateN {
        table: String,
        value: Option<i64>,
        filter: Filter,
    },
    /// `UPDATE t SET n = u.n FROM u WHERE t.id = u.id`.
    UpdateFrom {
        table: String,
        from: String,
    },
    /// `DELETE FROM t USING u WHERE t.id = u.id`.
    DeleteUsing {
        table: String,
        using: String,
    },
    /// `MERGE INTO t USING u ON t.id = u.id WHEN MATCHED THEN UPDATE SET s = u.s WHEN NOT
    /// MATCHED THEN INSERT VALUES (u.id, u.s, u.n)`.
    Merge {
        table: String,
        source: String,
    },
    /// `COPY t FROM file CSV MAXERROR m`: the good rows, and how many bad ones.
    Copy {
        table: String,
        rows: Vec<Row>,
        bad: usize,
        max_errors: usize,
    },
}

#[derive(Debug, Clone, Copy)]
pub enum Filter {
    All,
    IdIs(i64),
    IdBelow(i64),
    SIsNull,
}

impl Filter {
    pub fn sql(&self) -> String {
        match self {
            Filter::All => String::new(),
            Filter::IdIs(k) => format!(" WHERE id = {k}"),
            Filter::IdBelow(k) => format!(" WHERE id < {k}"),
            Filter::SIsNull => " WHERE s IS NULL".into(),
        }
    }

    fn matches(&self, row: &Row) -> bool {
        match self {
            Filter::All => true,
            Filter::IdIs(k) => row.0 == Some(*k),
            Filter::IdBelow(k) => row.0.is_some_and(|id| id < *k),
            Filter::SIsNull => row.1.is_none(),
        }
    }
}

/// A tracked table: its rows, and the byte limit of `s` (a CTAS table's `s` keeps the limit
/// of the column it comes from; `None`: unbounded).
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub rows: Vec<Row>,
    pub s_limit: Option<usize>,
}

impl Table {
    fn too_long<'a>(&self, mut rows: impl Iterator<Item = &'a Row>) -> bool {
        self.s_limit.is_some_and(|limit| rows.any(|r| r.1.as_ref().is_some_and(|s| s.len() > limit)))
    }

    fn fits(&self, row: &Row) -> bool {
        !self.too_long(std::iter::once(row))
    }
}

type Tables = BTreeMap<String, Table>;

#[derive(Debug, Default)]
pub struct Model {
    committed: Tables,
    /// The open transaction's tables, and whether a statement in it failed.
    transaction: Option<(Tables, bool)>,
}

pub fn rows_as_text(rows: &[Row]) -> Vec<Vec<String>> {
    let text = |v: &Option<i64>| v.map_or_else(|| "NULL".to_string(), |v| v.to_string());
    rows.iter()
        .map(|(id, s, n)| {
            let s = match s {
                None => "NULL".to_string(),
                Some(s) if s.is_empty() => String::new(),
                Some(s) => s.clone(),
            };
            vec![text(id), s, text(n)]
        })
        .collect()
}

impl Model {
    pub fn in_transaction(&self) -> bool {
        self.transaction.is_some()
    }

    pub fn tables(&self) -> &BTreeMap<String, Table> {
        match &self.transaction {
            Some((tables, _)) => tables,
            None => &self.committed,
        }
    }

    /// Inside a transaction a statement failed in: only ROLLBACK or COMMIT get out.
    pub fn aborted(&self) -> bool {
        matches!(self.transaction, Some((_, true)))
    }

    pub fn rollback(&mut self) {
        self.transaction = None;
    }

    /// A statement failed: an open transaction is aborted.
    pub fn statement_failed(&mut self) {
        if let Some((_, aborted)) = &mut self.transaction {
            *aborted = true;
        }
    }

    /// Applies an effect: `Ok(rows affected, when the statement reports them)` when the
    /// statement must succeed, `Err(why)` when it must fail.
    pub fn apply(&mut self, effect: &Effect) -> Result<Option<u64>, String> {
        match effect {
            Effect::Begin => {
                if let Some((_, true)) = &self.transaction {
                    return Err("the transaction is aborted".into());
                }
                if self.transaction.is_none() {
                    self.transaction = Some((self.committed.clone(), false));
                }
                return Ok(None);
            }
            Effect::Commit => {
                if let Some((tables, aborted)) = self.transaction.take()
                    && !aborted
                {
                    self.committed = tables;
                }
                return Ok(None);
            }
            Effect::Rollback => {
                self.transaction = None;
                return Ok(None);
            }
            _ => {}
        }
        if let Some((_, true)) = &self.transaction {
            return Err("the transaction is aborted".into());
        }
        // Work on a copy: a failing statement changes nothing.
        let mut tables = self.tables().clone();
        let affected = change(&mut tables, effect)?;
        match &mut self.transaction {
            Some((open, _)) => *open = tables,
            None => self.committed = tables,
        }
        Ok(affected)
    }
}

fn table<'a>(tables: &'a mut Tables, name: &str) -> Result<&'a mut Table, String> {
    tables.get_mut(name).ok_or_else(|| format!("table {name} does not exist"))
}

/// The rows of `source` matching a target row's id.
fn matches<'a>(source: &'a [Row], row: &Row) -> Vec<&'a Row> {
    match row.0 {
        Some(id) => source.iter().filter(|r| r.0 == Some(id)).collect(),
        None => Vec::new(),
    }
}

fn change(tables: &mut Tables, effect: &Effect) -> Result<Option<u64>, String> {
    Ok(match effect {
        Effect::Begin | Effect::Commit | Effect::Rollback => None,
        Effect::CreateTable(name) => {
            if tables.contains_key(name) {
                return Err(format!("table {name} exists"));
            }
            tables.insert(name.clone(), Table { rows: Vec::new(), s_limit: Some(S_BYTES) });
            None
        }
        Effect::DropTable(name) => {
            tables.remove(name).ok_or_else(|| format!("table {name} does not exist"))?;
            None
        }
        Effect::Truncate(name) => {
            table(tables, name)?.rows.clear();
            None
        }
        Effect::CreateAs { table: name, from, below } => {
            if tables.contains_key(name) {
                return Err(format!("table {name} exists"));
            }
            let source = table(tables, from)?;
            let rows: Vec<Row> = source.rows.iter().filter(|r| r.0.is_some_and(|id| id < *below)).cloned().collect();
            // The new table's columns keep the declared types of the columns they come from.
            let s_limit = source.s_limit;
            let count = rows.len() as u64;
            tables.insert(name.clone(), Table { rows, s_limit });
            Some(count)
        }
        Effect::Insert { table: name, rows } => {
            let target = table(tables, name)?;
            if target.too_long(rows.iter()) {
                return Err("value too long".into());
            }
            target.rows.extend(rows.iter().cloned());
            Some(rows.len() as u64)
        }
        Effect::Delete { table: name, filter } => {
            let rows = &mut table(tables, name)?.rows;
            let before = rows.len();
            rows.retain(|r| !filter.matches(r));
            Some((before - rows.len()) as u64)
        }
        Effect::UpdateN { table: name, value, filter } => {
            let rows = &mut table(tables, name)?.rows;
            let mut count = 0;
            for row in rows.iter_mut().filter(|r| filter.matches(r)) {
                row.2 = *value;
                count += 1;
            }
            Some(count)
        }
        Effect::UpdateFrom { table: name, from } => {
            let source = table(tables, from)?.rows.clone();
            let rows = &mut table(tables, name)?.rows;
            if rows.iter().any(|r| matches(&source, r).len() > 1) {
                return Err("a row matches more than one source row".into());
            }
            let mut count = 0;
            for row in rows.iter_mut() {
                if let [m] = matches(&source, row).as_slice() {
                    row.2 = m.2;
                    count += 1;
                }
            }
            Some(count)
        }
        Effect::DeleteUsing { table: name, using } => {
            let source = table(tables, using)?.rows.clone();
            let rows = &mut table(tables, name)?.rows;
            let before = rows.len();
            rows.retain(|r| matches(&source, r).is_empty());
            Some((before - rows.len()) as u64)
        }
        Effect::Merge { table: name, source } => {
            let source = table(tables, source)?.rows.clone();
            let target = table(tables, name)?;
            if target.rows.iter().any(|r| matches(&source, r).len() > 1) {
                return Err("a row matches more than one source row".into());
            }
            let mut changed = target.clone();
            let mut count = 0;
            for row in changed.rows.iter_mut() {
                if let [m] = matches(&source, row).as_slice() {
                    row.1 = m.1.clone();
                    count += 1;
                }
            }
            let inserted: Vec<Row> = source.iter().filter(|s| matches(&target.rows, s).is_empty()).cloned().collect();
            count += inserted.len();
            changed.rows.extend(inserted);
            if changed.too_long(changed.rows.iter()) {
                return Err("value too long".into());
            }
            *target = changed;
            Some(count as u64)
        }
        Effect::Copy { table: name, rows, bad, max_errors } => {
            let target = table(tables, name)?;
            let good: Vec<Row> = rows.iter().filter(|r| target.fits(r)).cloned().collect();
            let rejected = bad + rows.len() - good.len();
            if rejected > *max_errors {
                return Err(format!("{rejected} rows rejected, MAXERROR {max_errors}"));
            }
            let count = good.len() as u64;
            target.rows.extend(good);
            Some(count)
        }
    })
}
