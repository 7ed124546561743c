//! The SQL database under a catalog, as the catalog's code sees it: statements with `?N`
//! parameters, rows of [`Value`]s, and transactions that serialize writers. SQLite
//! ([`crate::sqlite`]) and PostgreSQL ([`crate::postgres`]) implement [`Connection`]; the
//! catalog's statements are written once, in the SQL both understand.

use crate::{Error, Result};

/// A parameter or column value. Integers are 64-bit in both databases' catalog tables.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Int(i64),
    Text(String),
    Bool(bool),
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

impl From<u32> for Value {
    fn from(v: u32) -> Self {
        Value::Int(v.into())
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        // Stored as 0/1 integers (SQLite has no booleans; the PostgreSQL tables follow it).
        Value::Int(v.into())
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Text(v.to_string())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Text(v)
    }
}

impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Text(v.clone())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

impl<T: Clone + Into<Value>> From<&Option<T>> for Value {
    fn from(v: &Option<T>) -> Self {
        v.clone().map_or(Value::Null, Into::into)
    }
}

/// Parameters of a statement: `params![a, b]` converts each into a [`Value`].
macro_rules! params {
    () => { &[] as &[$crate::db::Value] };
    ($($value:expr),+ $(,)?) => { &[$($crate::db::Value::from($value)),+] as &[$crate::db::Value] };
}
pub(crate) use params;

/// A result row.
#[derive(Debug, Clone)]
pub(crate) struct Row(pub(crate) Vec<Value>);

impl Row {
    /// Column `index`, converted to `T`; a value of another type means the catalog's tables are
    /// not what this tarn wrote.
    pub(crate) fn get<T: FromValue>(&self, index: usize) -> Result<T> {
        let value = self
            .0
            .get(index)
            .ok_or_else(|| Error::Corrupt(format!("a catalog row has {} columns, not {}", self.0.len(), index + 1)))?;
        T::from_value(value)
            .ok_or_else(|| Error::Corrupt(format!("column {index} of a catalog row holds {value:?}, not {}", T::NAME)))
    }
}

/// A Rust type a catalog column converts to.
pub(crate) trait FromValue: Sized {
    const NAME: &'static str;
    fn from_value(value: &Value) -> Option<Self>;
}

impl FromValue for i64 {
    const NAME: &'static str = "an integer";
    fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::Int(v) => Some(*v),
            Value::Bool(b) => Some((*b).into()),
            _ => None,
        }
    }
}

impl FromValue for u32 {
    const NAME: &'static str = "a small integer";
    fn from_value(value: &Value) -> Option<Self> {
        i64::from_value(value).and_then(|v| v.try_into().ok())
    }
}

impl FromValue for bool {
    const NAME: &'static str = "a boolean";
    fn from_value(value: &Value) -> Option<Self> {
        i64::from_value(value).map(|v| v != 0)
    }
}

impl FromValue for String {
    const NAME: &'static str = "text";
    fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::Text(v) => Some(v.clone()),
            _ => None,
        }
    }
}

impl<T: FromValue> FromValue for Option<T> {
    const NAME: &'static str = T::NAME;
    fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::Null => Some(None),
            other => T::from_value(other).map(Some),
        }
    }
}

/// How a transaction begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TxMode {
    /// Reads one committed state throughout.
    Read,
    /// Writes: one writer at a time across every process sharing the catalog, each seeing what
    /// the writers before it committed; readers are never blocked.
    Write,
    /// Creates or migrates the catalog's tables: one process at a time, before the tables
    /// [`TxMode::Write`] locks may exist.
    Schema,
}

/// One connection to the catalog's database.
pub(crate) trait Connection: Send {
    /// Runs statements without parameters (a migration, say).
    fn batch(&mut self, sql: &str) -> Result<()>;
    /// Runs a statement; returns how many rows it changed.
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64>;
    /// Runs a query; returns its rows.
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>>;
    fn begin(&mut self, mode: TxMode) -> Result<()>;
    /// How many migrations ran (0 for a new database); inside a [`TxMode::Schema`] transaction.
    fn schema_version(&mut self) -> Result<i64>;
    fn set_schema_version(&mut self, version: i64) -> Result<()>;
    fn commit(&mut self) -> Result<()>;
    fn rollback(&mut self) -> Result<()>;
    /// Names this connection's session on its server, for as long as it lives (and again
    /// after it connects anew): a database server that lists its sessions lists it so.
    fn set_session_name(&mut self, name: &str) -> Result<()> {
        let _ = name;
        Ok(())
    }
    /// How many times this connection connected again after losing its session (0 for a
    /// connection that never loses one).
    fn reconnections(&self) -> u64 {
        0
    }
}

impl dyn Connection + '_ {
    /// The first row of a query, if any.
    pub(crate) fn query_opt(&mut self, sql: &str, params: &[Value]) -> Result<Option<Row>> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// The one value of a query that returns one row.
    pub(crate) fn query_value<T: FromValue>(&mut self, sql: &str, params: &[Value]) -> Result<T> {
        match self.query_opt(sql, params)? {
            Some(row) => row.get(0),
            None => Err(Error::Corrupt(format!("no row from the catalog query {sql:?}"))),
        }
    }
}

/// Runs `f` in a transaction on `conn`: committed when it succeeds, rolled back when it fails.
pub(crate) fn transaction<T>(
    conn: &mut dyn Connection,
    mode: TxMode,
    f: impl FnOnce(&mut dyn Connection) -> Result<T>,
) -> Result<T> {
    conn.begin(mode)?;
    match f(conn) {
        Ok(value) => {
            conn.commit()?;
            Ok(value)
        }
        Err(e) => {
            // The failure is what matters; a rollback that fails too ends the transaction anyway.
            let _ = conn.rollback();
            Err(e)
        }
    }
}

/// `sql` with SQLite's `?N` parameters written as PostgreSQL's `$N` (outside quoted text).
pub(crate) fn dollar_parameters(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quote: Option<char> = None;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) => {
                out.push('$');
                continue;
            }
            None => {}
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_renumbered_outside_quotes_only() {
        assert_eq!(
            dollar_parameters("SELECT '?1', \"a?2\" FROM t WHERE a = ?1 AND b > ?12"),
            "SELECT '?1', \"a?2\" FROM t WHERE a = $1 AND b > $12"
        );
    }

    #[test]
    fn values_convert_both_ways() {
        let row = Row(vec![Value::Int(3), Value::Null, Value::Text("x".into()), Value::Bool(true)]);
        assert_eq!(row.get::<i64>(0).unwrap(), 3);
        assert_eq!(row.get::<Option<i64>>(1).unwrap(), None);
        assert_eq!(row.get::<String>(2).unwrap(), "x");
        assert!(row.get::<bool>(3).unwrap());
        assert!(matches!(row.get::<i64>(2), Err(Error::Corrupt(_))));
        let p: &[Value] = params![1i64, "a", None::<String>, true];
        assert_eq!(p, [Value::Int(1), Value::Text("a".into()), Value::Null, Value::Int(1)]);
    }
}
