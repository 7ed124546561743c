//! `VACUUM`: remove what failed writes left behind, compact small data files, re-sort tables
//! with a sort key, and expire snapshots older than the retention period (removing the files
//! only they referenced). Table contents never change.

use std::time::Duration;

use datafusion::common::ScalarValue;
use datafusion::datasource::provider_as_source;
use datafusion::logical_expr::LogicalPlanBuilder;
use tarn_catalog::TableDef;

use crate::dml::replace_files;
use crate::error::{Error, Result};
use crate::parser::{Vacuum, VacuumSort};
use crate::provider::listing_table;
use crate::session::{Output, Session, VisibleFile};
use crate::write;

/// How long snapshots stay reachable for time travel unless `RETAIN` says otherwise.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// Files with fewer rows than this are merged by compaction.
const SMALL_FILE_ROWS: u64 = (write::FILE_ROWS / 2) as u64;

pub(crate) async fn vacuum(session: &Session, vacuum: Vacuum) -> Result<Output> {
    let engine = session.shared.engine.clone();
    let mut removed = engine.remove_abandoned_files().await?;
    // The whole warehouse's maintenance (superusers only) trims the query history too.
    if vacuum.table.is_none() {
        use crate::system::history::{DEFAULT_RETENTION, RETENTION_SETTING};
        let retention = session.shared.setting(RETENTION_SETTING).unwrap_or_else(|| DEFAULT_RETENTION.into());
        engine.history.trim(&retention)?;
    }

    let tables: Vec<TableDef> = match &vacuum.table {
        Some(name) => {
            let (schema, name) = session.resolve_name(name)?;
            let table = session.shared.with_state(|s| s.table_by_name(&schema, &name).cloned())?;
            vec![table.ok_or_else(|| Error::Invalid(format!("table \"{schema}.{name}\" does not exist")))?]
        }
        None => session.shared.with_state(|s| s.tables.values().cloned().collect())?,
    };
    for table in tables {
        let schema = session.shared.with_state(|s| s.schema_name(table.schema_id).to_string())?;
        let locks = engine.locks.owner();
        locks.acquire(&[(crate::locks::key(&schema, &table.name), crate::locks::LockMode::Rewrite)]).await?;
        session.start_implicit(locks)?;
        let result = match unsorted(session, &table, vacuum.sort).await? {
            true => rewrite(session, &table, &session.shared.visible_files(&table)?).await,
            false => compact(session, &table).await,
        };
        match session.finish_implicit(result) {
            Ok(_) => {}
            // Someone changed the table meanwhile: compaction is an optimisation, skip it.
            Err(Error::Catalog(tarn_catalog::Error::Conflict(reason))) => {
                log::info!("VACUUM skipped compacting {}: {reason}", table.name);
            }
            Err(e) => return Err(e),
        }
    }

    let retain = vacuum.retain.unwrap_or(DEFAULT_RETENTION);
    let cutoff = chrono::Utc::now()
        - chrono::Duration::from_std(retain).map_err(|_| Error::Invalid("RETAIN period too long".into()))?;
    let expired = engine.store.expire_snapshots(&tarn_catalog::format_time(cutoff))?;
    engine.discard_files(&expired);
    removed += expired.len();
    Ok(Output::command_with_rows("VACUUM", removed as u64))
}

/// Rewrites a table's small files into as few files as possible, in the current transaction.
/// Returns how many files it replaced.
async fn compact(session: &Session, table: &TableDef) -> Result<usize> {
    let small: Vec<_> =
        session.shared.visible_files(table)?.into_iter().filter(|f| f.record_count < SMALL_FILE_ROWS).collect();
    if small.len() < 2 {
        return Ok(0);
    }
    rewrite(session, table, &small).await
}

/// Rewrites `files` of `table` with one writer, in the current transaction: the rows end up in
/// as few files as possible (a one-partition repartition in the logical plan is not enough: the
/// physical optimizer may drop it), and a sort key's rows in one sorted run. Returns how many
/// files it replaced.
pub(crate) async fn rewrite(session: &Session, table: &TableDef, files: &[VisibleFile]) -> Result<usize> {
    let source = provider_as_source(listing_table(&session.shared, table, files)?);
    let plan = LogicalPlanBuilder::scan(table.name.as_str(), source, None)?.build()?;
    let written = write::write_plan_coalesced(session, table, &plan).await?;
    replace_files(session, table, files, written)?;
    Ok(files.len())
}

/// Whether VACUUM should rewrite all of `table` in order: it has a sort key, several files, and
/// REINDEX asked for it or (compound keys) the files' key ranges overlap, read from their
/// footers' statistics of the first key column.
async fn unsorted(session: &Session, table: &TableDef, sort: VacuumSort) -> Result<bool> {
    let Some(key) = &table.sort_key else { return Ok(false) };
    let Some(first) = key.columns.first() else { return Ok(false) };
    let files = session.shared.visible_files(table)?;
    if files.len() < 2 || sort == VacuumSort::No {
        return Ok(false);
    }
    if sort == VacuumSort::Reindex {
        return Ok(true);
    }
    if key.interleaved {
        return Ok(false);
    }
    let schema = std::sync::Arc::new(table.arrow_schema());
    let key_type = schema.field_with_name(first).map_err(|e| Error::Invalid(e.to_string()))?.data_type().clone();
    let mut ranges = Vec::with_capacity(files.len());
    for file in &files {
        // The key's range in the file, from the catalog (or the footer of an older file).
        let stats = match &file.stats {
            Some(stats) => stats.clone(),
            None => crate::stats::read_footer(&session.shared.engine, &file.path, &schema).await?,
        };
        let column = stats.columns.iter().find(|c| c.name == *first);
        let bound = |b: Option<&tarn_catalog::Stat<String>>| b.and_then(|b| crate::stats::decode(&b.value, &key_type));
        match (bound(column.and_then(|c| c.min.as_ref())), bound(column.and_then(|c| c.max.as_ref()))) {
            (Some(min), Some(max)) => ranges.push((min, max)),
            // A file without a range (statistics missing, only NULL keys) cannot be placed: re-sort.
            _ => return Ok(true),
        }
    }
    ranges.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
    let mut highest: Option<&ScalarValue> = None;
    for (min, max) in &ranges {
        if highest.is_some_and(|h| h > min) {
            return Ok(true);
        }
        highest = Some(highest.map_or(max, |h| if max > h { max } else { h }));
    }
    Ok(false)
}
