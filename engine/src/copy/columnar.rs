//! COPY from Parquet. As in Redshift, the file's columns fill the target columns by position;
//! each is converted to its column's type, and a value that does not convert, is too long or is
//! NULL in a NOT NULL column rejects its row, recorded in `stl_load_errors` like a text row
//! (`line_number` is the row's number in the file).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch, StringArray, new_null_array};
use datafusion::arrow::compute::{CastOptions, can_cast_types, cast_with_options, filter};
use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ParquetRecordBatchReaderBuilder};
use parquet::file::reader::ChunkReader;
use tarn_catalog::{ColumnDef, LoadError, SqlType};

use super::text::{Rejection, truncate};
use super::{BATCH_ROWS, Job, Sender};
use crate::error::{Error, Result};
use crate::storage::Location;

/// Which row groups of its files a worker loads: all of them (files are dealt out whole), or
/// every `workers`-th starting at `worker` (fewer files than workers: their row groups are).
#[derive(Debug, Clone, Copy)]
pub(super) struct Share {
    pub worker: usize,
    pub workers: usize,
}

impl Share {
    pub const WHOLE: Share = Share { worker: 0, workers: 1 };

    fn takes(self, row_group: usize) -> bool {
        row_group % self.workers == self.worker
    }
}

impl Job {
    /// Loads its `share` of the files numbered `mine`, sending converted batches to this
    /// worker's writer; returns the files read with the rows it read of each.
    pub(super) fn load_parquet(
        &self,
        files: &[Location],
        mine: &[usize],
        share: Share,
        schema: &Arc<Schema>,
        sender: &Sender,
    ) -> Result<Vec<(usize, u64)>> {
        let mut read = Vec::new();
        for &index in mine {
            if self.failing() || sender.is_closed() {
                break;
            }
            let file = &files[index];
            let rows = match file {
                Location::Local(path) => {
                    let opened = std::fs::File::open(path)
                        .map_err(|source| Error::Io { context: format!("cannot open {file}"), source })?;
                    let open = || {
                        opened
                            .try_clone()
                            .map_err(|source| Error::Io { context: format!("cannot open {file}"), source })
                    };
                    self.load_parquet_file(open, index, file, share, schema, sender)?
                }
                Location::S3 { .. } => {
                    let handle = tokio::runtime::Handle::current();
                    let bytes = handle.block_on(self.stores.read_bytes(file, &self.overrides))?;
                    self.load_parquet_file(|| Ok(bytes.clone()), index, file, share, schema, sender)?
                }
            };
            match rows {
                Some(rows) => read.push((index, rows)),
                // More rejections than MAXERROR, or the writer stopped: the load fails.
                None => break,
            }
        }
        Ok(read)
    }

    /// Loads this worker's row groups of one Parquet file (`open` gives a reader of it); the
    /// rows read, or `None` when the load stopped. Each row group is read on its own so that
    /// rejected rows keep their numbers in the file.
    fn load_parquet_file<R: ChunkReader + 'static>(
        &self,
        open: impl Fn() -> Result<R>,
        index: usize,
        file: &Location,
        share: Share,
        schema: &Arc<Schema>,
        sender: &Sender,
    ) -> Result<Option<u64>> {
        let parquet = |source| Error::Parquet { path: file.to_string(), source };
        let metadata = ArrowReaderMetadata::load(&open()?, Default::default()).map_err(parquet)?;
        let columns = metadata.schema().fields().len();
        if columns != self.targets.len() {
            return Err(Error::Invalid(format!(
                "{file} has {columns} columns but COPY loads {} (Parquet columns fill the table's columns by position)",
                self.targets.len()
            )));
        }
        let mut rows = 0;
        let mut first_row = 0;
        for (group, row_group) in metadata.metadata().row_groups().iter().enumerate() {
            let group_first_row = first_row;
            first_row += row_group.num_rows() as u64;
            if !share.takes(group) {
                continue;
            }
            let reader = ParquetRecordBatchReaderBuilder::new_with_metadata(open()?, metadata.clone())
                .with_row_groups(vec![group])
                .with_batch_size(BATCH_ROWS)
                .build()
                .map_err(parquet)?;
            let mut row = group_first_row;
            for batch in reader {
                let batch = batch.map_err(|e| Error::Invalid(format!("reading {file}: {e}")))?;
                let converted = self.conform_columns(&batch, index, file, row, schema)?;
                row += batch.num_rows() as u64;
                rows += batch.num_rows() as u64;
                let Some(converted) = converted else { return Ok(None) };
                self.progress.add_rows(converted.num_rows() as u64);
                if converted.num_rows() > 0 && sender.blocking_send(Ok(converted)).is_err() {
                    return Ok(None);
                }
            }
            self.progress.add_bytes(row_group.compressed_size().max(0) as u64);
        }
        Ok(Some(rows))
    }

    /// `batch` (rows `first_row + 1..` of `file`) converted to the table's columns, without its
    /// rejected rows (which are recorded); `None` once rejections exceed MAXERROR.
    fn conform_columns(
        &self,
        batch: &RecordBatch,
        index: usize,
        file: &Location,
        first_row: u64,
        schema: &Arc<Schema>,
    ) -> Result<Option<RecordBatch>> {
        let rows = batch.num_rows();
        let format = FormatOptions::default().with_null("");
        let mut formatters = Vec::with_capacity(batch.num_columns());
        for array in batch.columns() {
            let formatter = ArrayFormatter::try_new(array.as_ref(), &format)
                .map_err(|e| Error::Invalid(format!("reading {file}: {e}")))?;
            formatters.push(formatter);
        }
        let raw_line = |row: usize| formatters.iter().map(|f| f.value(row).to_string()).collect::<Vec<_>>().join("|");
        let rejected: std::cell::RefCell<Vec<Option<Box<LoadError>>>> =
            std::cell::RefCell::new((0..rows).map(|_| None).collect());
        // `position`: of the column's field in the file; none for a column COPY does not load.
        let reject = |row: usize, column: &ColumnDef, position: Option<usize>, rejection: Rejection| {
            let mut rejected = rejected.borrow_mut();
            if rejected[row].is_none() {
                let value = position.map(|p| formatters[p].value(row).to_string()).unwrap_or_default();
                let field = Some((column, position.map_or(0, |p| p + 1), value.as_str()));
                rejected[row] = Some(self.load_error(first_row + row as u64 + 1, &raw_line(row), field, rejection));
            }
        };
        // Filled by position below; columns COPY does not load are all NULL.
        let mut loaded: Vec<Option<ArrayRef>> = vec![None; schema.fields().len()];
        for (position, &target) in self.targets.iter().enumerate() {
            let source = batch.column(position);
            let column = &self.table.columns[target];
            let data_type = schema.field(target).data_type();
            if !can_cast_types(source.data_type(), data_type) {
                return Err(Error::Invalid(format!(
                    "column {} of {file} holds {} values, which cannot load into column \"{}\" ({})",
                    position + 1,
                    source.data_type(),
                    column.name,
                    column.sql_type
                )));
            }
            // Strings read as views go to the writer as they are (it encodes views), unless
            // TRUNCATECOLUMNS rewrites them or enforced keys compare them with the table's.
            let keep_views = source.data_type() == &DataType::Utf8View
                && data_type == &DataType::Utf8
                && !self.options.truncate_columns
                && self.keys.is_none();
            let mut converted = if keep_views {
                source.clone()
            } else {
                let safe = CastOptions { safe: true, ..Default::default() };
                cast_with_options(source, data_type, &safe)
                    .map_err(|e| Error::Invalid(format!("column {} of {file}: {e}", position + 1)))?
            };
            if let (Some(max), DataType::Utf8) = (column.sql_type.max_length(), data_type) {
                let max = max as usize;
                if self.options.truncate_columns {
                    let strings = converted.as_string::<i32>();
                    let truncated: StringArray = strings.iter().map(|v| v.map(|v| truncate(v, max))).collect();
                    converted = Arc::new(truncated);
                } else {
                    for row in crate::write::too_long(&converted, max) {
                        reject(row, column, Some(position), Rejection::new(1204, "String length exceeds DDL length"));
                    }
                }
            }
            // Only NULLs (read, or made by a failed conversion) can reject a row here.
            let rows_to_check = if converted.null_count() > 0 { rows } else { 0 };
            for row in 0..rows_to_check {
                if converted.is_valid(row) {
                    continue;
                }
                if source.is_valid(row) {
                    let reason = format!("Invalid value for type {}", column.sql_type);
                    reject(row, column, Some(position), Rejection::new(invalid_value_code(&column.sql_type), reason));
                } else if !column.nullable {
                    reject(row, column, Some(position), Rejection::new(1213, "Missing data for not-null field"));
                }
            }
            loaded[target] = Some(converted);
        }
        let mut columns: Vec<ArrayRef> = loaded
            .into_iter()
            .zip(schema.fields())
            .map(|(column, field)| column.unwrap_or_else(|| new_null_array(field.data_type(), rows)))
            .collect();
        for (target, column) in self.table.columns.iter().enumerate() {
            if !self.targets.contains(&target) && !column.nullable {
                for row in 0..rows {
                    reject(row, column, None, Rejection::new(1213, "Missing data for not-null field"));
                }
            }
        }
        // Enforced keys: rows repeating a value the table or an accepted row has.
        if let Some(keys) = &self.keys {
            for row in 0..rows {
                if rejected.borrow()[row].is_some() {
                    continue;
                }
                if let Some((column, rejection)) = keys.admit_arrays(&self.table, &columns, row)? {
                    let position = self.targets.iter().position(|&t| self.table.columns[t].name == column.name);
                    reject(row, column, position, rejection);
                }
            }
        }
        let mut keep = Vec::with_capacity(rows);
        for error in rejected.into_inner() {
            keep.push(error.is_none());
            if let Some(error) = error
                && !self.reject(index, file, error)
            {
                return Ok(None);
            }
        }
        let accepted = keep.iter().filter(|k| **k).count();
        self.accepted.fetch_add(accepted as u64, Ordering::Relaxed);
        let failed = |e| Error::Invalid(format!("loading {file}: {e}"));
        if accepted < rows {
            let keep = BooleanArray::from(keep);
            columns =
                columns.iter().map(|c| filter(c, &keep)).collect::<std::result::Result<_, _>>().map_err(failed)?;
        }
        crate::write::batch_of(schema, columns).map(Some).map_err(failed)
    }
}

/// Redshift's error code for a value its column's type cannot hold.
fn invalid_value_code(sql_type: &SqlType) -> i64 {
    match sql_type {
        SqlType::SmallInt | SqlType::Integer | SqlType::BigInt => 1207,
        SqlType::Real | SqlType::Double => 1208,
        SqlType::Decimal { .. } => 1209,
        SqlType::Boolean => 1210,
        SqlType::Date => 1205,
        SqlType::Timestamp | SqlType::TimestampTz => 1206,
        SqlType::Char(_) | SqlType::Varchar(_) | SqlType::Text => 1204,
    }
}
