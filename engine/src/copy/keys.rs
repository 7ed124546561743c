//! COPY under `SET tarn.enforce_primary_keys = on`: a row whose PRIMARY KEY or UNIQUE value the
//! table (or an earlier row of the load) already has is rejected like a bad row: recorded in
//! `stl_load_errors` with the reason, and counted against MAXERROR.

use std::collections::HashSet;
use std::sync::Mutex;

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use tarn_catalog::{ColumnDef, TableDef, TableKey};

use super::text::{Rejection, Value};
use crate::error::Result;
use crate::session::Session;

/// stl_load_errors' code of a duplicate key (Redshift never rejects one; tarn's own).
const DUPLICATE_KEY: i64 = 1299;

/// The key values a load may not repeat: the table's, then each accepted row's.
pub(super) struct KeyFilter {
    keys: Vec<(TableKey, Vec<usize>)>,
    types: Vec<DataType>,
    /// Per key, the values seen; one lock so that a row's keys are checked and taken together.
    seen: Mutex<Vec<HashSet<Vec<ScalarValue>>>>,
}

impl KeyFilter {
    /// The filter of loads into `table`: `None` unless keys are enforced and it declares some.
    pub async fn of(session: &Session, schema: &str, table: &TableDef) -> Result<Option<KeyFilter>> {
        let keys = table.keys();
        if keys.is_empty() || session.shared.setting(crate::check::ENFORCE_SETTING).as_deref() != Some("on") {
            return Ok(None);
        }
        let types: Vec<DataType> = table.arrow_schema().fields().iter().map(|f| f.data_type().clone()).collect();
        let mut indexed = Vec::new();
        let mut seen = Vec::new();
        for key in keys {
            let columns: Vec<usize> =
                key.columns.iter().filter_map(|name| table.columns.iter().position(|c| &c.name == name)).collect();
            let values = crate::check::key_values(session, schema, &table.name, &key.columns).await?;
            let mut set = HashSet::new();
            for batch in values {
                let arrays: Vec<ArrayRef> = (0..columns.len())
                    .map(|i| datafusion::arrow::compute::cast(batch.column(i), &types[columns[i]]))
                    .collect::<std::result::Result<_, _>>()?;
                for row in 0..batch.num_rows() {
                    if let Some(value) = key_of_arrays(&arrays, row)? {
                        set.insert(value);
                    }
                }
            }
            indexed.push((key, columns));
            seen.push(set);
        }
        Ok(Some(KeyFilter { keys: indexed, types, seen: Mutex::new(seen) }))
    }

    /// Takes a converted text or JSON row's key values, or says which key it repeats (with its
    /// first column).
    pub fn admit_row<'t>(&self, table: &'t TableDef, row: &[Value<'_>]) -> Option<(&'t ColumnDef, Rejection)> {
        let values: Vec<Option<Vec<ScalarValue>>> = self
            .keys
            .iter()
            .map(|(_, columns)| columns.iter().map(|&c| scalar(&row[c], &self.types[c])).collect())
            .collect();
        self.admit(table, values)
    }

    /// The same for row `row` of a batch's converted `columns` (all of the table's).
    pub fn admit_arrays<'t>(
        &self,
        table: &'t TableDef,
        columns: &[ArrayRef],
        row: usize,
    ) -> Result<Option<(&'t ColumnDef, Rejection)>> {
        let mut values = Vec::new();
        for (_, key_columns) in &self.keys {
            let arrays: Vec<ArrayRef> = key_columns.iter().map(|&c| columns[c].clone()).collect();
            values.push(key_of_arrays(&arrays, row)?);
        }
        Ok(self.admit(table, values))
    }

    fn admit<'t>(
        &self,
        table: &'t TableDef,
        values: Vec<Option<Vec<ScalarValue>>>,
    ) -> Option<(&'t ColumnDef, Rejection)> {
        let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        for (i, value) in values.iter().enumerate() {
            // A key with a NULL never collides.
            if let Some(value) = value
                && seen[i].contains(value)
            {
                let (key, columns) = &self.keys[i];
                let reason = format!("duplicate key value violates unique constraint \"{}\"", key.name);
                return Some((&table.columns[columns[0]], Rejection::new(DUPLICATE_KEY, reason)));
            }
        }
        for (i, value) in values.into_iter().enumerate() {
            if let Some(value) = value {
                seen[i].insert(value);
            }
        }
        None
    }
}

/// A key's values in row `row` of `arrays`, or `None` when one is NULL.
fn key_of_arrays(arrays: &[ArrayRef], row: usize) -> Result<Option<Vec<ScalarValue>>> {
    let mut values = Vec::with_capacity(arrays.len());
    for array in arrays {
        if array.is_null(row) {
            return Ok(None);
        }
        values.push(normal(ScalarValue::try_from_array(array, row)?));
    }
    Ok(Some(values))
}

/// A converted field as the table's column type holds it (`None`: NULL).
fn scalar(value: &Value<'_>, data_type: &DataType) -> Option<ScalarValue> {
    let scalar = match (value, data_type) {
        (Value::Null, _) => return None,
        (Value::I16(v), _) => ScalarValue::Int16(Some(*v)),
        (Value::I32(v), _) => ScalarValue::Int32(Some(*v)),
        (Value::I64(v), _) => ScalarValue::Int64(Some(*v)),
        (Value::F32(v), _) => ScalarValue::Float32(Some(*v)),
        (Value::F64(v), _) => ScalarValue::Float64(Some(*v)),
        (Value::Bool(v), _) => ScalarValue::Boolean(Some(*v)),
        (Value::Text(v), _) => ScalarValue::Utf8(Some(v.to_string())),
        (Value::Date(v), _) => ScalarValue::Date32(Some(*v)),
        (Value::Decimal(v), DataType::Decimal128(p, s)) => ScalarValue::Decimal128(Some(*v), *p, *s),
        (Value::Decimal(v), _) => ScalarValue::Decimal128(Some(*v), 38, 0),
        (Value::Timestamp(v), DataType::Timestamp(_, tz)) => ScalarValue::TimestampMicrosecond(Some(*v), tz.clone()),
        (Value::Timestamp(v), _) => ScalarValue::TimestampMicrosecond(Some(*v), None),
    };
    Some(normal(scalar))
}

/// One spelling per value: strings as Utf8 whatever their Arrow layout.
fn normal(value: ScalarValue) -> ScalarValue {
    match value {
        ScalarValue::Utf8View(v) | ScalarValue::LargeUtf8(v) => ScalarValue::Utf8(v),
        other => other,
    }
}
