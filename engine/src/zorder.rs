//! Z-order for Redshift's `INTERLEAVED SORTKEY`: rows are written in the order of a value that
//! interleaves the bits of every key column, so each column weighs the same (a range on any
//! of them prunes row groups), unlike a compound key where the first column decides.
//!
//! Each column becomes an order-preserving 64-bit key (integers and dates with the sign bit
//! flipped, floats by their IEEE bits, decimals clamped to 64 bits, strings by their first 8
//! bytes, NULLs last); the Z-value takes bit 63 of every column, then bit 62, and so on, as a
//! fixed-size binary that sorts byte by byte.

use std::fmt;
use std::hash::Hash;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, FixedSizeBinaryBuilder, RecordBatch};
use datafusion::arrow::datatypes::{
    DataType, Date32Type, Date64Type, Decimal128Type, Float32Type, Float64Type, Int8Type, Int16Type, Int32Type,
    Int64Type, Schema, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType, UInt8Type, UInt16Type, UInt32Type, UInt64Type,
};
use datafusion::common::{Result as DFResult, exec_err};
use datafusion::logical_expr::ColumnarValue;
use datafusion::physical_expr::{LexOrdering, PhysicalExpr, PhysicalSortExpr};

/// The ordering of `ordering`'s columns in Z-order (one sort on their Z-value).
pub(crate) fn ordering(ordering: LexOrdering) -> LexOrdering {
    let columns: Vec<Arc<dyn PhysicalExpr>> = ordering.iter().map(|sort| sort.expr.clone()).collect();
    let options = ordering.first().options;
    let z: Arc<dyn PhysicalExpr> = Arc::new(ZValue { columns });
    LexOrdering::new([PhysicalSortExpr::new(z, options)]).unwrap_or(ordering)
}

/// The Z-value of a row's key columns.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(crate) struct ZValue {
    columns: Vec<Arc<dyn PhysicalExpr>>,
}

impl fmt::Display for ZValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "zorder(")?;
        for (i, column) in self.columns.iter().enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            write!(f, "{column}")?;
        }
        write!(f, ")")
    }
}

impl PhysicalExpr for ZValue {
    fn data_type(&self, _schema: &Schema) -> DFResult<DataType> {
        Ok(DataType::FixedSizeBinary(8 * self.columns.len() as i32))
    }

    fn nullable(&self, _schema: &Schema) -> DFResult<bool> {
        Ok(false)
    }

    fn evaluate(&self, batch: &RecordBatch) -> DFResult<ColumnarValue> {
        let keys: Vec<Vec<u64>> = self
            .columns
            .iter()
            .map(|c| sort_keys(&c.evaluate(batch)?.into_array(batch.num_rows())?))
            .collect::<DFResult<_>>()?;
        Ok(ColumnarValue::Array(interleave(&keys, batch.num_rows())?))
    }

    fn children(&self) -> Vec<&Arc<dyn PhysicalExpr>> {
        self.columns.iter().collect()
    }

    fn with_new_children(self: Arc<Self>, children: Vec<Arc<dyn PhysicalExpr>>) -> DFResult<Arc<dyn PhysicalExpr>> {
        Ok(Arc::new(ZValue { columns: children }))
    }

    fn fmt_sql(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The bits of every column's key interleaved, most significant first.
fn interleave(keys: &[Vec<u64>], rows: usize) -> DFResult<ArrayRef> {
    let width = 8 * keys.len();
    let mut builder = FixedSizeBinaryBuilder::with_capacity(rows, width as i32);
    let mut value = vec![0u8; width];
    for row in 0..rows {
        value.fill(0);
        let mut position = 0;
        for bit in (0..64).rev() {
            for column in keys {
                if column[row] >> bit & 1 == 1 {
                    value[position / 8] |= 0x80 >> (position % 8);
                }
                position += 1;
            }
        }
        builder.append_value(&value)?;
    }
    Ok(Arc::new(builder.finish()))
}

/// An order-preserving unsigned key of each value (NULLs last).
fn sort_keys(array: &ArrayRef) -> DFResult<Vec<u64>> {
    fn signed<I: Into<i64> + Copy>(values: &[I]) -> Vec<u64> {
        values.iter().map(|&v| (v.into() as u64) ^ (1 << 63)).collect()
    }
    fn unsigned<I: Into<u64> + Copy>(values: &[I]) -> Vec<u64> {
        values.iter().map(|&v| v.into()).collect()
    }
    fn float(bits: u64) -> u64 {
        if bits >> 63 == 1 { !bits } else { bits | (1 << 63) }
    }
    fn prefix(bytes: &[u8]) -> u64 {
        let mut word = [0u8; 8];
        let n = bytes.len().min(8);
        word[..n].copy_from_slice(&bytes[..n]);
        u64::from_be_bytes(word)
    }
    let mut keys = match array.data_type() {
        DataType::Int8 => signed(array.as_primitive::<Int8Type>().values()),
        DataType::Int16 => signed(array.as_primitive::<Int16Type>().values()),
        DataType::Int32 => signed(array.as_primitive::<Int32Type>().values()),
        DataType::Int64 => signed(array.as_primitive::<Int64Type>().values()),
        DataType::UInt8 => unsigned(array.as_primitive::<UInt8Type>().values()),
        DataType::UInt16 => unsigned(array.as_primitive::<UInt16Type>().values()),
        DataType::UInt32 => unsigned(array.as_primitive::<UInt32Type>().values()),
        DataType::UInt64 => unsigned(array.as_primitive::<UInt64Type>().values()),
        DataType::Date32 => signed(array.as_primitive::<Date32Type>().values()),
        DataType::Date64 => signed(array.as_primitive::<Date64Type>().values()),
        DataType::Timestamp(TimeUnit::Second, _) => signed(array.as_primitive::<TimestampSecondType>().values()),
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            signed(array.as_primitive::<TimestampMillisecondType>().values())
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            signed(array.as_primitive::<TimestampMicrosecondType>().values())
        }
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            signed(array.as_primitive::<TimestampNanosecondType>().values())
        }
        DataType::Float32 => {
            array.as_primitive::<Float32Type>().values().iter().map(|v| float(f64::from(*v).to_bits())).collect()
        }
        DataType::Float64 => array.as_primitive::<Float64Type>().values().iter().map(|v| float(v.to_bits())).collect(),
        DataType::Decimal128(..) => array
            .as_primitive::<Decimal128Type>()
            .values()
            .iter()
            .map(|v| (i64::try_from(*v).unwrap_or(if *v < 0 { i64::MIN } else { i64::MAX }) as u64) ^ (1 << 63))
            .collect(),
        DataType::Boolean => array.as_boolean().values().iter().map(u64::from).collect(),
        DataType::Utf8 => array.as_string::<i32>().iter().map(|v| prefix(v.unwrap_or_default().as_bytes())).collect(),
        DataType::LargeUtf8 => {
            array.as_string::<i64>().iter().map(|v| prefix(v.unwrap_or_default().as_bytes())).collect()
        }
        DataType::Utf8View => array.as_string_view().iter().map(|v| prefix(v.unwrap_or_default().as_bytes())).collect(),
        other => return exec_err!("an INTERLEAVED SORTKEY cannot order a column of type {other}"),
    };
    if let Some(nulls) = array.nulls() {
        for (key, valid) in keys.iter_mut().zip(nulls.iter()) {
            if !valid {
                *key = u64::MAX;
            }
        }
    }
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{Float64Array, Int32Array, StringArray};

    use super::*;

    #[test]
    fn keys_keep_the_order_of_values() {
        let ints: ArrayRef = Arc::new(Int32Array::from(vec![Some(-5), Some(0), Some(7), None]));
        let keys = sort_keys(&ints).unwrap();
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        let floats: ArrayRef = Arc::new(Float64Array::from(vec![-2.5, -0.0, 0.5, 1e300]));
        let keys = sort_keys(&floats).unwrap();
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        let strings: ArrayRef = Arc::new(StringArray::from(vec!["", "a", "ab", "b"]));
        let keys = sort_keys(&strings).unwrap();
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn z_values_interleave_the_bits_of_each_column() {
        // (x, y) in [0, 4)²: the Z-order visits the quadrants of the square in turn.
        let (xs, ys): (Vec<u64>, Vec<u64>) = (0..16).map(|i| (i % 4, i / 4)).unzip();
        let z = interleave(&[xs.clone(), ys.clone()], 16).unwrap();
        let z = z.as_fixed_size_binary();
        let mut order: Vec<usize> = (0..16).collect();
        order.sort_by_key(|&i| z.value(i).to_vec());
        let visited: Vec<(u64, u64)> = order.iter().map(|&i| (xs[i], ys[i])).collect();
        assert_eq!(&visited[..4], &[(0, 0), (0, 1), (1, 0), (1, 1)]);
        assert_eq!(&visited[4..8], &[(0, 2), (0, 3), (1, 2), (1, 3)]);
    }
}
