//! `CHECK TABLE t [PRIMARY KEY | UNIQUE | NOT NULL]`: the pipeline check of "is this summary
//! table's key really unique?", answered from the table's declared constraints. Redshift
//! records PRIMARY KEY and UNIQUE without enforcing them; this reports, per constraint, how many
//! rows break it and a sample of the offending keys, as rows.

use std::collections::HashMap;

use datafusion::arrow::array::{Array, Int64Array, RecordBatch};
use datafusion::arrow::util::display::array_value_to_string;
use tarn_catalog::RelationDef;

use crate::error::{Error, Result};
use crate::parser::{CheckTable, ConstraintKind};
use crate::session::{Output, RowStream, Session};
use crate::sql::{quote, quote_name};

/// `SET tarn.enforce_primary_keys = on`: writes that add duplicates of a declared PRIMARY KEY or
/// UNIQUE constraint fail (off by default, as in Redshift, which never enforces them).
pub(crate) const ENFORCE_SETTING: &str = "tarn.enforce_primary_keys";

/// The result's columns.
const COLUMNS: [&str; 7] =
    ["constraint_name", "constraint_type", "columns", "status", "offending_rows", "duplicate_keys", "sample"];

/// How many offending keys a row of the result shows.
const SAMPLE_KEYS: usize = 5;

pub(crate) async fn check_table(session: &Session, check: CheckTable) -> Result<Output> {
    let (schema, name) = session.resolve_name(&check.table)?;
    let found = session.shared.with_state(|s| {
        let schema_def = s.schema_by_name(&schema)?;
        s.relation(schema_def.id, &name).map(|r| r.to_owned_def())
    })?;
    let table = match found {
        Some(RelationDef::Table(table)) => table,
        Some(RelationDef::View(_)) => {
            return Err(Error::Invalid(format!("\"{schema}.{name}\" is a view: CHECK TABLE checks tables")));
        }
        None => return Err(Error::Invalid(format!("relation \"{schema}.{name}\" does not exist"))),
    };
    let wanted = |kind| check.kinds.is_empty() || check.kinds.contains(&kind);
    let relation = KeySql::new(&schema, &name, &[]).relation;
    let mut rows = Vec::new();
    for key in table.keys() {
        let kind = if key.primary { ConstraintKind::PrimaryKey } else { ConstraintKind::Unique };
        if !wanted(kind) {
            continue;
        }
        let sql = KeySql::new(&schema, &name, &key.columns);
        let (rows_breaking, keys, sample) = duplicates(session, &sql, &key.columns).await?;
        rows.push(row(
            key.name,
            if key.primary { "PRIMARY KEY" } else { "UNIQUE" },
            key.columns.join(", "),
            rows_breaking,
            keys,
            sample,
        ));
    }
    if wanted(ConstraintKind::NotNull) {
        for column in table.columns.iter().filter(|c| !c.nullable) {
            let sql = format!("SELECT count(*) FROM {relation} WHERE {} IS NULL", quote(&column.name));
            let nulls = single_count(&query(session, &sql).await?)?;
            rows.push(row(
                format!("{}_{}_not_null", table.name, column.name),
                "NOT NULL",
                column.name.clone(),
                nulls,
                0,
                String::new(),
            ));
        }
    }
    Ok(Output::Rows(RowStream::table(&COLUMNS, rows)?))
}

/// The declared keys of the tables a writing statement locks, with each key's duplicated
/// values before the statement ran: the statement may not add a row to any value.
pub(crate) struct KeyGuard {
    tables: Vec<GuardedTable>,
}

struct GuardedTable {
    schema: String,
    table: tarn_catalog::TableDef,
    /// Per key (in `TableDef::keys` order): its values that occur more than once, with counts.
    duplicated: Vec<HashMap<String, i64>>,
}

impl KeyGuard {
    /// `None` unless keys are enforced and a written table declares some.
    pub async fn before(session: &Session, locks: &[(String, crate::locks::LockMode)]) -> Result<Option<KeyGuard>> {
        if session.shared.setting(ENFORCE_SETTING).as_deref() != Some("on") || locks.is_empty() {
            return Ok(None);
        }
        let mut tables = Vec::new();
        for (key, _) in locks {
            let Some((schema, name)) = key.split_once('.') else { continue };
            let table = session.shared.with_state(|s| {
                let schema_def = s.schema_by_name(schema)?;
                match s.relation(schema_def.id, name)?.to_owned_def() {
                    RelationDef::Table(table) => Some(table),
                    RelationDef::View(_) => None,
                }
            })?;
            let Some(table) = table.filter(|t| !t.keys().is_empty()) else { continue };
            let mut duplicated = Vec::new();
            for key in table.keys() {
                duplicated.push(duplicated_values(session, &KeySql::new(schema, &table.name, &key.columns)).await?);
            }
            tables.push(GuardedTable { schema: schema.to_string(), table, duplicated });
        }
        Ok((!tables.is_empty()).then_some(KeyGuard { tables }))
    }

    /// Fails when the statement gave a key value more rows than it had (more than one).
    pub async fn verify(&self, session: &Session) -> Result<()> {
        for GuardedTable { schema, table, duplicated } in &self.tables {
            for (key, before) in table.keys().into_iter().zip(duplicated) {
                let after = duplicated_values(session, &KeySql::new(schema, &table.name, &key.columns)).await?;
                let mut added: Vec<(&String, &i64)> =
                    after.iter().filter(|(value, n)| **n > before.get(*value).copied().unwrap_or(1)).collect();
                if added.is_empty() {
                    continue;
                }
                added.sort();
                let shown: Vec<String> = added
                    .iter()
                    .take(SAMPLE_KEYS)
                    .map(|(value, n)| format!("({value}) would occur {n} times"))
                    .collect();
                return Err(Error::Invalid(format!(
                    "duplicate key value violates unique constraint \"{}\": key ({}) = {} ({ENFORCE_SETTING} is on)",
                    key.name,
                    key.columns.join(", "),
                    shown.join(", ")
                )));
            }
        }
        Ok(())
    }
}

/// The values of a key (all columns non-NULL) that occur more than once, with their counts.
async fn duplicated_values(session: &Session, sql: &KeySql) -> Result<HashMap<String, i64>> {
    let columns = sql.columns;
    let sql = format!("SELECT {}, count(*) {}", sql.key, sql.repeated());
    let mut values = HashMap::new();
    for batch in query(session, &sql).await? {
        let counts =
            datafusion::arrow::compute::cast(batch.column(columns), &datafusion::arrow::datatypes::DataType::Int64)?;
        let counts = counts.as_any().downcast_ref::<Int64Array>().ok_or_else(|| Error::Invalid("a count".into()))?;
        for i in 0..batch.num_rows() {
            let value = (0..columns)
                .map(|c| array_value_to_string(batch.column(c), i))
                .collect::<std::result::Result<Vec<_>, _>>()?
                .join(", ");
            values.insert(value, counts.value(i));
        }
    }
    Ok(values)
}

fn row(name: String, kind: &str, columns: String, offending: i64, keys: i64, sample: String) -> Vec<String> {
    let status = if offending == 0 { "ok" } else { "violated" };
    vec![name, kind.to_string(), columns, status.to_string(), offending.to_string(), keys.to_string(), sample]
}

/// Rows whose key (all columns non-NULL: NULLs never collide) occurs more than once, how many
/// such keys there are, and the most repeated of them (`k (n rows); ...`).
async fn duplicates(session: &Session, sql: &KeySql, names: &[String]) -> Result<(i64, i64, String)> {
    let (key, columns, repeated) = (&sql.key, sql.columns, sql.repeated());
    let totals =
        query(session, &format!("SELECT coalesce(sum(n), 0), count(*) FROM (SELECT count(*) AS n {repeated}) d"))
            .await?;
    let (rows, keys) = match totals.iter().find(|b| b.num_rows() > 0) {
        Some(batch) => (int(batch, 0)?, int(batch, 1)?),
        None => (0, 0),
    };
    if keys == 0 {
        return Ok((0, 0, String::new()));
    }
    let sample =
        query(session, &format!("SELECT {key}, count(*) AS n {repeated} ORDER BY n DESC, {key} LIMIT {SAMPLE_KEYS}"))
            .await?;
    let mut shown = Vec::new();
    for batch in &sample {
        for i in 0..batch.num_rows() {
            let values = (0..columns)
                .map(|c| {
                    let value = array_value_to_string(batch.column(c), i)?;
                    Ok(if names.len() == 1 { value } else { format!("{}={value}", names[c]) })
                })
                .collect::<Result<Vec<_>>>()?;
            let count = batch.column(columns).as_any().downcast_ref::<Int64Array>().map_or(0, |a| a.value(i));
            shown.push(format!("{} ({count} rows)", values.join(", ")));
        }
    }
    Ok((rows, keys, shown.join("; ")))
}

/// Every distinct value of a key (all columns non-NULL), one column per key column.
pub(crate) async fn key_values(
    session: &Session,
    schema: &str,
    table: &str,
    columns: &[String],
) -> Result<Vec<RecordBatch>> {
    let sql = KeySql::new(schema, table, columns);
    query(session, &format!("SELECT DISTINCT {} FROM {} WHERE {}", sql.key, sql.relation, sql.present)).await
}

/// The SQL of one key of a table: the table, its quoted columns, and "none of them NULL"
/// (NULL keys never collide).
struct KeySql {
    relation: String,
    key: String,
    present: String,
    columns: usize,
}

impl KeySql {
    fn new(schema: &str, table: &str, columns: &[String]) -> KeySql {
        KeySql {
            relation: quote_name(schema, table),
            key: columns.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", "),
            present: columns.iter().map(|c| format!("{} IS NOT NULL", quote(c))).collect::<Vec<_>>().join(" AND "),
            columns: columns.len(),
        }
    }

    /// The FROM ... HAVING of the key's values that occur more than once.
    fn repeated(&self) -> String {
        format!("FROM {} WHERE {} GROUP BY {} HAVING count(*) > 1", self.relation, self.present, self.key)
    }
}

async fn query(session: &Session, sql: &str) -> Result<Vec<RecordBatch>> {
    Ok(session.ctx.sql(sql).await?.collect().await?)
}

fn int(batch: &RecordBatch, column: usize) -> Result<i64> {
    let array = datafusion::arrow::compute::cast(batch.column(column), &datafusion::arrow::datatypes::DataType::Int64)?;
    let array = array.as_any().downcast_ref::<Int64Array>().ok_or_else(|| Error::Invalid("a count".into()))?;
    Ok(if array.is_null(0) { 0 } else { array.value(0) })
}

fn single_count(batches: &[RecordBatch]) -> Result<i64> {
    match batches.iter().find(|b| b.num_rows() > 0) {
        Some(batch) => int(batch, 0),
        None => Ok(0),
    }
}
