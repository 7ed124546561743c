//! `column IN (integers)` as a bitmap over the values' range.
//!
//! A hash join hands the scan of its probe side the keys of its build side as an IN list (up to
//! 1024 of them): TPC-H q7 filters six million `l_suppkey`s by the 798 suppliers of two nations.
//! DataFusion evaluates an IN list of 64-bit integers with a hash set, about 5 ns a row (13% of
//! q7's time); join keys are usually dense (surrogate keys), so one bit per value of their range
//! answers the same question with a shift and a mask.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use datafusion::arrow::buffer::BooleanBuffer;
use datafusion::arrow::datatypes::{
    ArrowPrimitiveType, DataType, Date32Type, Date64Type, Int8Type, Int16Type, Int32Type, Int64Type, Schema, UInt8Type,
    UInt16Type, UInt32Type,
};
use datafusion::common::ScalarValue;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::{Column, InListExpr, Literal};

/// Ranges up to this many values always get a bitmap (256 KB, which stays in a core's L2
/// cache: TPC-H q17's 204 parts span 197 K part keys, 24 KB of bits, and a lookup in them
/// costs a fraction of a hash set's),
const MIN_SPAN: u64 = 1 << 21;
/// wider ones while they have a value per this many positions,
const SPAN_PER_VALUE: u64 = 256;
/// and never wider than this (2 MB).
const MAX_SPAN: u64 = 1 << 24;

/// The rows whose integer column holds one of a set of values (NULL never does).
#[derive(Debug)]
pub(crate) struct IntSet {
    column: usize,
    /// Looks the column's values up (chosen for its type when the set is made).
    scan: ScanFn,
    min: i64,
    span: u64,
    bits: Vec<u64>,
}

impl IntSet {
    /// The set of a non-negated `column IN (literals)` over an integer or date column of
    /// `schema`, when its values are dense enough for a bitmap.
    pub(crate) fn from_in_list(list: &InListExpr, schema: &Schema) -> Option<IntSet> {
        if list.negated() {
            return None;
        }
        let column = list.expr().downcast_ref::<Column>()?;
        let scan = scan_for(schema.fields().get(column.index())?.data_type())?;
        let mut values = Vec::with_capacity(list.list().len());
        for item in list.list() {
            match item.downcast_ref::<Literal>()?.value().cast_to(&DataType::Int64).ok()? {
                ScalarValue::Int64(Some(v)) => values.push(v),
                // NULL in the list never makes the filter true.
                ScalarValue::Int64(None) => {}
                _ => return None,
            }
        }
        IntSet::new(column.index(), scan, &values)
    }

    fn new(column: usize, scan: ScanFn, values: &[i64]) -> Option<IntSet> {
        let (Some(&min), Some(&max)) = (values.iter().min(), values.iter().max()) else {
            return None;
        };
        let span = (max as i128 - min as i128 + 1) as u64;
        let limit = (values.len() as u64).saturating_mul(SPAN_PER_VALUE).clamp(MIN_SPAN, MAX_SPAN);
        if span > limit {
            return None;
        }
        let mut bits = vec![0u64; span.div_ceil(64) as usize];
        for &v in values {
            let offset = v.wrapping_sub(min) as u64;
            bits[(offset / 64) as usize] |= 1 << (offset % 64);
        }
        Some(IntSet { column, scan, min, span, bits })
    }

    /// True for the rows of `batch` whose value is in the set; false for the others and NULL.
    pub(crate) fn filter(&self, batch: &RecordBatch) -> BooleanArray {
        let array = batch.column(self.column);
        let found = (self.scan)(self, array);
        let found = match array.logical_nulls() {
            Some(nulls) => &found & nulls.inner(),
            None => found,
        };
        BooleanArray::new(found, None)
    }

    fn scan<T>(&self, array: &Arc<dyn Array>) -> BooleanBuffer
    where
        T: ArrowPrimitiveType,
        T::Native: Into<i64>,
    {
        let values = array.as_primitive::<T>().values();
        let (min, span, bits) = (self.min, self.span, self.bits.as_slice());
        BooleanBuffer::collect_bool(values.len(), |i| {
            let offset = values[i].into().wrapping_sub(min) as u64;
            offset < span && (bits[(offset / 64) as usize] >> (offset % 64)) & 1 == 1
        })
    }
}

type ScanFn = fn(&IntSet, &Arc<dyn Array>) -> BooleanBuffer;

/// The lookup for columns of `data_type`, if it holds integers a set can be made of.
fn scan_for(data_type: &DataType) -> Option<ScanFn> {
    Some(match data_type {
        DataType::Int8 => IntSet::scan::<Int8Type>,
        DataType::Int16 => IntSet::scan::<Int16Type>,
        DataType::Int32 => IntSet::scan::<Int32Type>,
        DataType::Int64 => IntSet::scan::<Int64Type>,
        DataType::UInt8 => IntSet::scan::<UInt8Type>,
        DataType::UInt16 => IntSet::scan::<UInt16Type>,
        DataType::UInt32 => IntSet::scan::<UInt32Type>,
        DataType::Date32 => IntSet::scan::<Date32Type>,
        DataType::Date64 => IntSet::scan::<Date64Type>,
        _ => return None,
    })
}

/// `expr` as an [`IntSet`] when it is an IN list one can be made of.
pub(crate) fn int_set(expr: &Arc<dyn PhysicalExpr>, schema: &Schema) -> Option<IntSet> {
    IntSet::from_in_list(expr.downcast_ref::<InListExpr>()?, schema)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int32Array, Int64Array};
    use datafusion::arrow::datatypes::Field;
    use datafusion::physical_expr::expressions::lit;

    fn schema(data_type: DataType) -> Schema {
        Schema::new(vec![Field::new("k", data_type, true)])
    }

    fn set_of(values: Vec<ScalarValue>, data_type: DataType) -> Option<IntSet> {
        let schema = schema(data_type);
        let list: Vec<Arc<dyn PhysicalExpr>> = values.into_iter().map(lit).collect();
        let expr = InListExpr::try_new(Arc::new(Column::new("k", 0)), list, false, &schema).unwrap();
        IntSet::from_in_list(&expr, &schema)
    }

    fn run(set: &IntSet, array: Arc<dyn Array>) -> Vec<bool> {
        let batch = RecordBatch::try_new(Arc::new(schema(array.data_type().clone())), vec![array]).unwrap();
        let result = set.filter(&batch);
        assert_eq!(result.null_count(), 0);
        result.iter().map(|b| b.unwrap()).collect()
    }

    #[test]
    fn matches_exactly_the_listed_values() {
        let set = set_of(
            vec![ScalarValue::Int64(Some(-3)), ScalarValue::Int64(Some(64)), ScalarValue::Int64(None)],
            DataType::Int64,
        )
        .unwrap();
        let input =
            Int64Array::from(vec![Some(-3), Some(-4), Some(64), Some(63), None, Some(i64::MAX), Some(i64::MIN)]);
        assert_eq!(run(&set, Arc::new(input)), vec![true, false, true, false, false, false, false]);
    }

    #[test]
    fn narrower_integer_columns() {
        let set = set_of(vec![ScalarValue::Int32(Some(7)), ScalarValue::Int32(Some(9))], DataType::Int32).unwrap();
        let input = Int32Array::from(vec![Some(7), Some(8), Some(9), None]);
        assert_eq!(run(&set, Arc::new(input)), vec![true, false, true, false]);
    }

    #[test]
    fn sparse_or_empty_lists_stay_hash_sets() {
        let sparse = vec![ScalarValue::Int64(Some(0)), ScalarValue::Int64(Some(1 << 40))];
        assert!(set_of(sparse, DataType::Int64).is_none());
        assert!(set_of(vec![ScalarValue::Int64(None)], DataType::Int64).is_none());
        let strings = vec![ScalarValue::Utf8(Some("a".into()))];
        assert!(set_of(strings, DataType::Utf8).is_none());
    }
}
