//! The query history: every statement a session runs, with its user, session, text (secrets
//! masked), start and end, rows and outcome, persisted in the catalog as Redshift's `stl_query`.
//!
//! Recording stays off the statement's path: finished statements are buffered by the engine and
//! written to the catalog 64 at a time, before `stl_query` is read, and when the engine closes.
//! A statement's rows are known when its result has been read (or dropped unread): that is
//! when it is recorded. `SET tarn.history_retention` keeps the newest N statements (`10000`,
//! the default) or those of the last N days or hours (`'30 days'`); VACUUM applies it.

use std::sync::Arc;

use parking_lot::Mutex;
use tarn_catalog::{CatalogStore, QueryRecord};

use crate::error::{Error, Result};

pub(crate) const RETENTION_SETTING: &str = "tarn.history_retention";
pub(crate) const DEFAULT_RETENTION: &str = "10000";

/// How many finished statements are buffered before one catalog write.
const BATCH: usize = 64;

pub(crate) struct History {
    store: Arc<dyn CatalogStore>,
    pending: Mutex<Vec<QueryRecord>>,
    /// Reads of managed tables since the last write: table id → (reads, time of the last).
    reads: Mutex<std::collections::HashMap<i64, (u64, String)>>,
}

impl History {
    pub fn new(store: Arc<dyn CatalogStore>) -> History {
        History { store, pending: Mutex::new(Vec::new()), reads: Mutex::default() }
    }

    /// Counts a read of each table in `tables` (ids), written with the next batch.
    pub fn record_reads(&self, tables: impl IntoIterator<Item = i64>) {
        let now = tarn_catalog::now();
        let mut reads = self.reads.lock();
        for table in tables {
            let entry = reads.entry(table).or_insert((0, String::new()));
            entry.0 += 1;
            entry.1 = now.clone();
        }
    }

    /// Buffers a finished statement; every [`BATCH`] statements go to the catalog together.
    pub fn record(&self, record: QueryRecord) {
        let full = {
            let mut pending = self.pending.lock();
            pending.push(record);
            (pending.len() >= BATCH).then(|| std::mem::take(&mut *pending))
        };
        if let Some(batch) = full
            && let Err(e) = self.write(&batch)
        {
            log::warn!("could not record {} statements in the query history: {e}", batch.len());
        }
    }

    /// Writes the buffered statements and table reads.
    pub fn flush(&self) -> Result<()> {
        let batch = std::mem::take(&mut *self.pending.lock());
        self.write(&batch)
    }

    fn write(&self, batch: &[QueryRecord]) -> Result<()> {
        let reads: Vec<(i64, u64, String)> =
            std::mem::take(&mut *self.reads.lock()).into_iter().map(|(t, (n, last))| (t, n, last)).collect();
        self.store.record_reads(&reads)?;
        Ok(self.store.record_queries(batch)?)
    }

    /// Applies a retention setting (see the module's documentation); returns how many went.
    pub fn trim(&self, retention: &str) -> Result<u64> {
        self.flush()?;
        let (keep, days) = parse_retention(retention).ok_or_else(|| {
            Error::Invalid(format!("{RETENTION_SETTING} '{retention}' (a count, or 'N days' or 'N hours')"))
        })?;
        let before = days.map(|age| (chrono::Utc::now() - age).to_rfc3339());
        Ok(self.store.trim_queries(keep, before.as_deref())?)
    }
}

impl Drop for History {
    fn drop(&mut self) {
        if let Err(e) = self.flush() {
            log::warn!("could not record the query history: {e}");
        }
    }
}

/// `N` (statements) or `N days` / `N hours` (age).
fn parse_retention(value: &str) -> Option<(Option<u64>, Option<chrono::Duration>)> {
    let value = value.trim().to_ascii_lowercase();
    if let Ok(count) = value.parse::<u64>() {
        return Some((Some(count), None));
    }
    let (number, unit) = value.split_once(char::is_whitespace)?;
    let number: i64 = number.parse().ok()?;
    let age = match unit.trim() {
        "day" | "days" => chrono::Duration::days(number),
        "hour" | "hours" => chrono::Duration::hours(number),
        _ => return None,
    };
    Some((None, Some(age)))
}

/// The check of `SET tarn.history_retention`.
pub(crate) fn retention_setting(value: &str) -> Option<String> {
    parse_retention(value).map(|_| value.trim().to_ascii_lowercase())
}

/// `sql` with the values of secret-bearing clauses replaced by `'***'`: passwords, keys,
/// session tokens, credentials strings and IAM roles.
pub(crate) fn mask_secrets(sql: &str) -> String {
    static SECRETS: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let secrets = SECRETS.get_or_init(|| {
        regex::Regex::new(
            r"(?i)\b(password|access_key_id|secret_access_key|session_token|credentials|iam_role|master_symmetric_key)(\s+|\s*=\s*)'(?:[^']|'')*'",
        )
        .expect("a valid pattern")
    });
    secrets.replace_all(sql, "$1$2'***'").into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_and_the_rest_kept() {
        assert_eq!(
            mask_secrets("CREATE USER ann PASSWORD 'it''s secret' IN GROUP g"),
            "CREATE USER ann PASSWORD '***' IN GROUP g"
        );
        assert_eq!(
            mask_secrets("COPY t FROM 's3://b/k' ACCESS_KEY_ID 'AKIA' SECRET_ACCESS_KEY 'xyz' CSV"),
            "COPY t FROM 's3://b/k' ACCESS_KEY_ID '***' SECRET_ACCESS_KEY '***' CSV"
        );
        assert_eq!(
            mask_secrets("copy t from 's3://b/k' credentials 'aws_access_key_id=A;aws_secret_access_key=B'"),
            "copy t from 's3://b/k' credentials '***'"
        );
        assert_eq!(mask_secrets("SELECT 'password' AS x"), "SELECT 'password' AS x");
    }

    #[test]
    fn retention_is_a_count_or_an_age() {
        assert_eq!(parse_retention("100"), Some((Some(100), None)));
        assert_eq!(parse_retention("30 days"), Some((None, Some(chrono::Duration::days(30)))));
        assert_eq!(parse_retention("2 HOURS"), Some((None, Some(chrono::Duration::hours(2)))));
        assert_eq!(parse_retention("forever"), None);
    }
}
