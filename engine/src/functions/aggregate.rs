//! Aggregate functions with Redshift's rules: AVG (integers give BIGINT, DECIMAL(p,s) gives
//! DECIMAL(38,s)), LISTAGG (ordered, skipping NULLs and empty strings, DISTINCT ignoring
//! trailing blanks, as an aggregate and over a window), PERCENTILE_CONT/PERCENTILE_DISC (with
//! `WITHIN GROUP`, also over a window), and VARIANCE as VAR_SAMP.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::mem::size_of;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BooleanArray, Decimal128Array, Int64Array, ListArray, PrimitiveArray,
    UInt64Array,
};
use datafusion::arrow::compute::{SortOptions, cast, concat, sort_to_indices, take};
use datafusion::arrow::datatypes::{
    ArrowPrimitiveType, DataType, Decimal128Type, Field, FieldRef, Int64Type, UInt64Type,
};
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::common::{ScalarValue, exec_err, plan_err};
use datafusion::error::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature, Volatility,
};
use datafusion::physical_plan::expressions::Literal;

use super::exec_error;

pub(super) fn udafs() -> Vec<AggregateUDF> {
    let mut out = vec![
        AggregateUDF::new_from_impl(Avg::new()),
        AggregateUDF::new_from_impl(ListAgg::new()),
        AggregateUDF::new_from_impl(Percentile::new(true)),
        AggregateUDF::new_from_impl(Percentile::new(false)),
        AggregateUDF::new_from_impl(Single::new()),
    ];
    let var_samp = datafusion::functions_aggregate::variance::var_samp_udaf();
    out.push(var_samp.as_ref().clone().with_aliases(["variance"]));
    out
}

/// Equality and hashing by name, for UDAFs without parameters.
macro_rules! by_name {
    ($t:ty) => {
        impl PartialEq for $t {
            fn eq(&self, other: &Self) -> bool {
                self.name() == other.name()
            }
        }
        impl Eq for $t {}
        impl Hash for $t {
            fn hash<H: Hasher>(&self, state: &mut H) {
                self.name().hash(state);
            }
        }
    };
}

// ---- AVG -----------------------------------------------------------------------------------

/// AVG with Redshift's result types. Floats go to DataFusion's AVG; integers and decimals are
/// summed exactly (i128) per group.
#[derive(Debug)]
struct Avg {
    signature: Signature,
    floats: Arc<AggregateUDF>,
}

by_name!(Avg);

impl Avg {
    fn new() -> Self {
        Avg {
            signature: Signature::user_defined(Volatility::Immutable),
            floats: datafusion::functions_aggregate::average::avg_udaf(),
        }
    }
}

/// How AVG sums a type: exactly with this scale (integers: 0), or as floats.
fn exact_scale(t: &DataType) -> Option<i8> {
    match t {
        DataType::Int64 => Some(0),
        DataType::Decimal128(_, s) => Some(*s),
        _ => None,
    }
}

impl AggregateUDFImpl for Avg {
    fn name(&self) -> &str {
        "avg"
    }

    fn aliases(&self) -> &[String] {
        &[]
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, types: &[DataType]) -> Result<Vec<DataType>> {
        let [t] = types else { return plan_err!("avg takes one argument") };
        Ok(vec![match t {
            t if t.is_integer() => DataType::Int64,
            DataType::Decimal32(_, s)
            | DataType::Decimal64(_, s)
            | DataType::Decimal128(_, s)
            | DataType::Decimal256(_, s) => DataType::Decimal128(38, *s),
            t if t.is_floating() || matches!(t, DataType::Null) => DataType::Float64,
            DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 => DataType::Float64,
            other => return plan_err!("function avg({other}) does not exist"),
        }])
    }

    fn return_type(&self, types: &[DataType]) -> Result<DataType> {
        Ok(match &types[0] {
            DataType::Int64 => DataType::Int64,
            DataType::Decimal128(_, s) => DataType::Decimal128(38, *s),
            _ => DataType::Float64,
        })
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        match exact_scale(args.expr_fields[0].data_type()) {
            Some(scale) => Ok(Box::new(ExactAvg { sum: 0, count: 0, scale })),
            None => self.floats.inner().accumulator(args),
        }
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        match exact_scale(args.input_fields[0].data_type()) {
            Some(scale) => Ok(vec![
                Arc::new(Field::new(format!("{}[sum]", args.name), DataType::Decimal128(38, scale), true)),
                Arc::new(Field::new(format!("{}[count]", args.name), DataType::UInt64, true)),
            ]),
            None => self.floats.inner().state_fields(args),
        }
    }

    fn groups_accumulator_supported(&self, args: AccumulatorArgs) -> bool {
        exact_scale(args.expr_fields[0].data_type()).is_some() || self.floats.inner().groups_accumulator_supported(args)
    }

    fn create_groups_accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn GroupsAccumulator>> {
        match exact_scale(args.expr_fields[0].data_type()) {
            Some(scale) => Ok(Box::new(ExactAvgGroups { sums: Vec::new(), counts: Vec::new(), scale })),
            None => self.floats.inner().create_groups_accumulator(args),
        }
    }
}

/// The average of an exact sum: integers truncate (as Redshift's BIGINT result), decimals round
/// half away from zero at their scale.
fn average(sum: i128, count: u64, scale: i8) -> i128 {
    let count = count as i128;
    if scale == 0 && count > 0 {
        return sum / count;
    }
    (2 * sum + sum.signum() * count) / (2 * count)
}

fn avg_value(sum: i128, count: u64, scale: i8) -> Result<ScalarValue> {
    if count == 0 {
        return Ok(if scale == 0 { ScalarValue::Int64(None) } else { ScalarValue::Decimal128(None, 38, scale) });
    }
    let value = average(sum, count, scale);
    Ok(if scale == 0 {
        ScalarValue::Int64(Some(i64::try_from(value).map_err(|_| exec_error("avg: bigint out of range"))?))
    } else {
        ScalarValue::Decimal128(Some(value), 38, scale)
    })
}

fn exact_values(array: &ArrayRef) -> Vec<Option<i128>> {
    match array.data_type() {
        DataType::Int64 => array.as_primitive::<Int64Type>().iter().map(|v| v.map(i128::from)).collect(),
        _ => array.as_primitive::<Decimal128Type>().iter().collect(),
    }
}

#[derive(Debug)]
struct ExactAvg {
    sum: i128,
    count: u64,
    scale: i8,
}

impl Accumulator for ExactAvg {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        for v in exact_values(&values[0]).into_iter().flatten() {
            self.sum = self.sum.checked_add(v).ok_or_else(|| exec_error("avg: sum out of range"))?;
            self.count += 1;
        }
        Ok(())
    }

    fn retract_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        for v in exact_values(&values[0]).into_iter().flatten() {
            self.sum -= v;
            self.count -= 1;
        }
        Ok(())
    }

    fn supports_retract_batch(&self) -> bool {
        true
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        avg_value(self.sum, self.count, self.scale)
    }

    fn size(&self) -> usize {
        size_of::<Self>()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::Decimal128(Some(self.sum), 38, self.scale), ScalarValue::UInt64(Some(self.count))])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let (sums, counts) = (states[0].as_primitive::<Decimal128Type>(), states[1].as_primitive::<UInt64Type>());
        for (s, c) in sums.iter().zip(counts.iter()) {
            self.sum += s.unwrap_or(0);
            self.count += c.unwrap_or(0);
        }
        Ok(())
    }
}

struct ExactAvgGroups {
    sums: Vec<i128>,
    counts: Vec<u64>,
    scale: i8,
}

impl ExactAvgGroups {
    fn grow(&mut self, groups: usize) {
        self.sums.resize(groups, 0);
        self.counts.resize(groups, 0);
    }

    /// Adds each selected non-null value to its group: a straight loop over the values when
    /// there is neither a NULL nor a filter (the common case, and a third of TPC-H q1's time
    /// before it had one).
    fn add<T>(&mut self, array: &PrimitiveArray<T>, group_indices: &[usize], opt_filter: Option<&BooleanArray>)
    where
        T: ArrowPrimitiveType,
        T::Native: Into<i128>,
    {
        let values = array.values();
        match (array.nulls().filter(|n| n.null_count() > 0), opt_filter) {
            (None, None) => {
                for (&group, &v) in group_indices.iter().zip(values.iter()) {
                    self.sums[group] = self.sums[group].wrapping_add(v.into());
                    self.counts[group] += 1;
                }
            }
            (nulls, filter) => {
                for (row, (&group, &v)) in group_indices.iter().zip(values.iter()).enumerate() {
                    let valid = nulls.is_none_or(|n| n.is_valid(row));
                    let selected = filter.is_none_or(|f| f.is_valid(row) && f.value(row));
                    if valid && selected {
                        self.sums[group] = self.sums[group].wrapping_add(v.into());
                        self.counts[group] += 1;
                    }
                }
            }
        }
    }
}

impl GroupsAccumulator for ExactAvgGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.grow(total_num_groups);
        match values[0].data_type() {
            DataType::Int64 => self.add(values[0].as_primitive::<Int64Type>(), group_indices, opt_filter),
            _ => self.add(values[0].as_primitive::<Decimal128Type>(), group_indices, opt_filter),
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let (sums, counts) = (emit_to.take_needed(&mut self.sums), emit_to.take_needed(&mut self.counts));
        let averages = sums.iter().zip(&counts).map(|(s, c)| (*c > 0).then(|| average(*s, *c, self.scale)));
        Ok(if self.scale == 0 {
            Arc::new(
                averages
                    .map(|v| {
                        v.map(|v| i64::try_from(v).map_err(|_| exec_error("avg: bigint out of range"))).transpose()
                    })
                    .collect::<Result<Int64Array>>()?,
            )
        } else {
            Arc::new(averages.collect::<Decimal128Array>().with_precision_and_scale(38, self.scale)?)
        })
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        let (sums, counts) = (emit_to.take_needed(&mut self.sums), emit_to.take_needed(&mut self.counts));
        Ok(vec![
            Arc::new(Decimal128Array::from(sums).with_precision_and_scale(38, self.scale)?),
            Arc::new(UInt64Array::from(counts)),
        ])
    }

    fn merge_batch(&mut self, values: &[ArrayRef], group_indices: &[usize], total_num_groups: usize) -> Result<()> {
        self.grow(total_num_groups);
        let (sums, counts) = (values[0].as_primitive::<Decimal128Type>(), values[1].as_primitive::<UInt64Type>());
        for (i, &group) in group_indices.iter().enumerate() {
            self.sums[group] = self.sums[group].wrapping_add(sums.value(i));
            self.counts[group] += counts.value(i);
        }
        Ok(())
    }

    fn convert_to_state(&self, values: &[ArrayRef], opt_filter: Option<&BooleanArray>) -> Result<Vec<ArrayRef>> {
        let selected = |row: usize| opt_filter.is_none_or(|f| f.is_valid(row) && f.value(row));
        let values = exact_values(&values[0]);
        let sums: Decimal128Array =
            values.iter().enumerate().map(|(row, v)| Some(if selected(row) { v.unwrap_or(0) } else { 0 })).collect();
        let counts: UInt64Array =
            values.iter().enumerate().map(|(row, v)| Some((selected(row) && v.is_some()) as u64)).collect();
        Ok(vec![Arc::new(sums.with_precision_and_scale(38, self.scale)?), Arc::new(counts)])
    }

    fn size(&self) -> usize {
        self.sums.capacity() * size_of::<i128>() + self.counts.capacity() * size_of::<u64>()
    }
}

// ---- ordered aggregates: shared parts ------------------------------------------------------------

/// The constant argument at `index` (the planner passes literals for the rewritten ones).
fn literal_arg(args: &AccumulatorArgs, index: usize) -> Option<ScalarValue> {
    args.exprs.get(index)?.downcast_ref::<Literal>().map(|l| l.value().clone())
}

/// Rows collected for an ordered aggregate: values, and sort keys in the row format.
#[derive(Debug, Default)]
struct Collected {
    values: Vec<ArrayRef>,
    keys: Vec<Vec<u8>>,
}

// ---- LISTAGG -------------------------------------------------------------------------------

/// `listagg(value, delimiter, spec, key...)`: `spec` is `D` (DISTINCT) or `-`, then one
/// `a`/`d` (direction) and `f`/`l` (NULLs first or last) per key. The SQL rewrite builds the
/// call from `LISTAGG([DISTINCT] value [, delimiter]) [WITHIN GROUP (ORDER BY ...)]`.
#[derive(Debug)]
struct ListAgg {
    signature: Signature,
}

by_name!(ListAgg);

impl ListAgg {
    fn new() -> Self {
        ListAgg { signature: Signature::user_defined(Volatility::Immutable) }
    }
}

/// Redshift's limit on a LISTAGG result.
const LISTAGG_LIMIT: usize = 65_535;

#[derive(Debug, Clone)]
struct OrderSpec {
    distinct: bool,
    keys: Vec<SortOptions>,
}

impl OrderSpec {
    fn parse(spec: &str) -> Result<OrderSpec> {
        let mut chars = spec.chars();
        let distinct = chars.next() == Some('D');
        let rest: Vec<char> = chars.collect();
        let keys = rest
            .chunks(2)
            .map(|pair| match pair {
                [d, n] => Ok(SortOptions { descending: *d == 'd', nulls_first: *n == 'f' }),
                _ => plan_err!("internal: bad ordering spec {spec}"),
            })
            .collect::<Result<_>>()?;
        Ok(OrderSpec { distinct, keys })
    }
}

impl AggregateUDFImpl for ListAgg {
    fn name(&self) -> &str {
        "listagg"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, types: &[DataType]) -> Result<Vec<DataType>> {
        if types.len() < 3 {
            return plan_err!("listagg takes a value and an optional delimiter");
        }
        let mut out = vec![DataType::Utf8, DataType::Utf8, DataType::Utf8];
        out.extend(types[3..].iter().cloned());
        Ok(out)
    }

    fn return_type(&self, _types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let text = |i: usize| match literal_arg(&args, i) {
            Some(ScalarValue::Utf8(v) | ScalarValue::Utf8View(v) | ScalarValue::LargeUtf8(v)) => {
                Ok(v.unwrap_or_default())
            }
            _ => plan_err!("listagg: the delimiter must be a constant"),
        };
        let (delimiter, spec) = (text(1)?, OrderSpec::parse(&text(2)?)?);
        let key_types: Vec<SortField> = args.expr_fields[3..]
            .iter()
            .zip(&spec.keys)
            .map(|(f, options)| SortField::new_with_options(f.data_type().clone(), *options))
            .collect();
        Ok(Box::new(ListAggAccumulator {
            delimiter,
            distinct: spec.distinct,
            converter: RowConverter::new(key_types)?,
            collected: Collected::default(),
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(ordered_state_fields(args.name, DataType::Utf8))
    }
}

fn ordered_state_fields(name: &str, value_type: DataType) -> Vec<FieldRef> {
    vec![
        Arc::new(Field::new_list(format!("{name}[values]"), Field::new_list_field(value_type, true), true)),
        Arc::new(Field::new_list(format!("{name}[keys]"), Field::new_list_field(DataType::Binary, true), true)),
    ]
}

struct ListAggAccumulator {
    delimiter: String,
    distinct: bool,
    converter: RowConverter,
    collected: Collected,
}

impl fmt::Debug for ListAggAccumulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ListAggAccumulator").field("rows", &self.collected.keys.len()).finish()
    }
}

impl Collected {
    /// Adds a batch of values with their sort key columns.
    fn add(&mut self, converter: &RowConverter, values: &ArrayRef, keys: &[ArrayRef]) -> Result<()> {
        if keys.is_empty() {
            // No ordering: every row has the same (empty) key.
            self.keys.extend(std::iter::repeat_n(Vec::new(), values.len()));
        } else {
            let rows = converter.convert_columns(keys)?;
            self.keys.extend((0..values.len()).map(|i| rows.row(i).as_ref().to_vec()));
        }
        self.values.push(values.clone());
        Ok(())
    }

    fn merge(&mut self, states: &[ArrayRef]) -> Result<()> {
        let (values, keys) = (states[0].as_list::<i32>(), states[1].as_list::<i32>());
        for i in 0..values.len() {
            if values.is_null(i) {
                continue;
            }
            let (v, k) = (values.value(i), keys.value(i));
            self.keys.extend(k.as_binary::<i32>().iter().map(|k| k.unwrap_or_default().to_vec()));
            self.values.push(v);
        }
        Ok(())
    }

    fn state(&self, value_type: &DataType) -> Result<Vec<ScalarValue>> {
        let values = self.all_values(value_type)?;
        let keys = BinaryArray::from_iter_values(self.keys.iter());
        Ok(vec![
            ScalarValue::List(Arc::new(ListArray::new(
                Arc::new(Field::new_list_field(value_type.clone(), true)),
                datafusion::arrow::buffer::OffsetBuffer::from_lengths([values.len()]),
                values,
                None,
            ))),
            ScalarValue::List(Arc::new(ListArray::new(
                Arc::new(Field::new_list_field(DataType::Binary, true)),
                datafusion::arrow::buffer::OffsetBuffer::from_lengths([keys.len()]),
                Arc::new(keys),
                None,
            ))),
        ])
    }

    fn all_values(&self, value_type: &DataType) -> Result<ArrayRef> {
        if self.values.is_empty() {
            return Ok(datafusion::arrow::array::new_empty_array(value_type));
        }
        let parts: Vec<&dyn Array> = self.values.iter().map(|a| a.as_ref()).collect();
        Ok(concat(&parts)?)
    }

    /// The row indexes in key order (stable: equal keys keep their arrival order).
    fn order(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.keys.len()).collect();
        order.sort_by(|a, b| self.keys[*a].cmp(&self.keys[*b]));
        order
    }

    fn size(&self) -> usize {
        self.values.iter().map(|v| v.get_array_memory_size()).sum::<usize>()
            + self.keys.iter().map(|k| k.capacity() + size_of::<Vec<u8>>()).sum::<usize>()
    }
}

impl Accumulator for ListAggAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let text = cast(&values[0], &DataType::Utf8)?;
        self.collected.add(&self.converter, &text, &values[3..])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let values = self.collected.all_values(&DataType::Utf8)?;
        let values = values.as_string::<i32>();
        let mut out = String::new();
        let mut seen = std::collections::HashSet::new();
        let mut any = false;
        for i in self.collected.order() {
            if values.is_null(i) || values.value(i).is_empty() {
                continue;
            }
            let value = values.value(i);
            if self.distinct && !seen.insert(value.trim_end_matches(' ').to_string()) {
                continue;
            }
            if any {
                out.push_str(&self.delimiter);
            }
            out.push_str(value);
            any = true;
            if out.len() > LISTAGG_LIMIT {
                return exec_err!("Result size exceeds LISTAGG limit (65535 bytes)");
            }
        }
        Ok(ScalarValue::Utf8(any.then_some(out)))
    }

    fn size(&self) -> usize {
        size_of::<Self>() + self.collected.size() + self.delimiter.capacity()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        self.collected.state(&DataType::Utf8)
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.collected.merge(states)
    }
}

// ---- PERCENTILE_CONT, PERCENTILE_DISC -----------------------------------------------------------

/// `tarn_percentile_cont|disc(value, fraction, descending)`: from
/// `PERCENTILE_CONT|DISC(fraction) WITHIN GROUP (ORDER BY value [DESC])`.
#[derive(Debug)]
struct Percentile {
    signature: Signature,
    continuous: bool,
}

by_name!(Percentile);

impl Percentile {
    fn new(continuous: bool) -> Self {
        Percentile { signature: Signature::user_defined(Volatility::Immutable), continuous }
    }
}

impl AggregateUDFImpl for Percentile {
    fn name(&self) -> &str {
        if self.continuous { "tarn_percentile_cont" } else { "tarn_percentile_disc" }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, types: &[DataType]) -> Result<Vec<DataType>> {
        let [value, _, _] = types else { return plan_err!("percentile takes a fraction and an ORDER BY value") };
        Ok(vec![value.clone(), DataType::Float64, DataType::Boolean])
    }

    fn return_type(&self, types: &[DataType]) -> Result<DataType> {
        // The continuous percentile interpolates: numbers become DOUBLE (decimals keep their
        // type); the discrete one returns a value of the input.
        Ok(match &types[0] {
            t if self.continuous && (t.is_integer() || t.is_floating()) => DataType::Float64,
            other => other.clone(),
        })
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let fraction = match literal_arg(&args, 1) {
            Some(v) => match v.cast_to(&DataType::Float64)? {
                ScalarValue::Float64(Some(f)) if (0.0..=1.0).contains(&f) => f,
                _ => return plan_err!("the percentile must be a constant between 0 and 1"),
            },
            None => return plan_err!("the percentile must be a constant between 0 and 1"),
        };
        let flag = |i: usize| matches!(literal_arg(&args, i), Some(ScalarValue::Boolean(Some(true))));
        let value_type = args.expr_fields[0].data_type().clone();
        let options = SortOptions { descending: flag(2), nulls_first: false };
        Ok(Box::new(PercentileAccumulator {
            fraction,
            continuous: self.continuous,
            return_type: args.return_field.data_type().clone(),
            value_type: value_type.clone(),
            options,
            collected: Vec::new(),
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new_list(
            format!("{}[values]", args.name),
            Field::new_list_field(args.input_fields[0].data_type().clone(), true),
            true,
        ))])
    }
}

#[derive(Debug)]
struct PercentileAccumulator {
    fraction: f64,
    continuous: bool,
    return_type: DataType,
    value_type: DataType,
    options: SortOptions,
    collected: Vec<ArrayRef>,
}

impl PercentileAccumulator {
    fn values(&self) -> Result<ArrayRef> {
        if self.collected.is_empty() {
            return Ok(datafusion::arrow::array::new_empty_array(&self.value_type));
        }
        let parts: Vec<&dyn Array> = self.collected.iter().map(|a| a.as_ref()).collect();
        Ok(concat(&parts)?)
    }
}

impl Accumulator for PercentileAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.collected.push(values[0].clone());
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let values = self.values()?;
        let sorted = take(&values, &sort_to_indices(&values, Some(self.options), None)?, None)?;
        let n = sorted.len() - sorted.null_count();
        if n == 0 {
            return ScalarValue::try_from(&self.return_type);
        }
        // NULLs sort last: the first n rows are the values.
        if !self.continuous {
            // The first value whose cumulative distribution reaches the fraction.
            let index = ((self.fraction * n as f64).ceil() as usize).clamp(1, n) - 1;
            return ScalarValue::try_from_array(&sorted, index);
        }
        let position = self.fraction * (n - 1) as f64;
        let (low, high) = (position.floor() as usize, position.ceil() as usize);
        let at = |i: usize| -> Result<f64> {
            match ScalarValue::try_from_array(&sorted, i)?.cast_to(&DataType::Float64)? {
                ScalarValue::Float64(Some(v)) => Ok(v),
                other => exec_err!("percentile_cont of a non-numeric value {other}"),
            }
        };
        let value = if low == high { at(low)? } else { at(low)? + (at(high)? - at(low)?) * (position - low as f64) };
        ScalarValue::Float64(Some(value)).cast_to(&self.return_type)
    }

    fn size(&self) -> usize {
        size_of::<Self>() + self.collected.iter().map(|a| a.get_array_memory_size()).sum::<usize>()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let values = self.values()?;
        Ok(vec![ScalarValue::List(Arc::new(ListArray::new(
            Arc::new(Field::new_list_field(self.value_type.clone(), true)),
            datafusion::arrow::buffer::OffsetBuffer::from_lengths([values.len()]),
            values,
            None,
        )))])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let lists = states[0].as_list::<i32>();
        for i in 0..lists.len() {
            if !lists.is_null(i) {
                self.collected.push(lists.value(i));
            }
        }
        Ok(())
    }
}

/// `tarn_single(x)`: the one value of a scalar subquery (NULL for no row), an error for more
/// than one row, as PostgreSQL reports it. Scalar subqueries that are not aggregates are
/// rewritten to it so that DataFusion can decorrelate them (catalog queries of drivers need
/// that).
#[derive(Debug)]
struct Single {
    signature: Signature,
}

by_name!(Single);

impl Single {
    fn new() -> Self {
        Single { signature: Signature::any(1, Volatility::Immutable) }
    }
}

impl AggregateUDFImpl for Single {
    fn name(&self) -> &str {
        "tarn_single"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, types: &[DataType]) -> Result<DataType> {
        Ok(types[0].clone())
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        let data_type = args.return_field.data_type().clone();
        Ok(Box::new(SingleAccumulator { value: ScalarValue::try_from(&data_type)?, rows: 0 }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![
            Arc::new(Field::new(format!("{}[value]", args.name), args.input_fields[0].data_type().clone(), true)),
            Arc::new(Field::new(format!("{}[rows]", args.name), DataType::Int64, false)),
        ])
    }
}

#[derive(Debug)]
struct SingleAccumulator {
    value: ScalarValue,
    rows: i64,
}

impl SingleAccumulator {
    fn add(&mut self, rows: i64, value: impl FnOnce() -> Result<ScalarValue>) -> Result<()> {
        if rows == 0 {
            return Ok(());
        }
        self.rows += rows;
        if self.rows > 1 {
            return exec_err!("more than one row returned by a subquery used as an expression");
        }
        self.value = value()?;
        Ok(())
    }
}

impl Accumulator for SingleAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let array = &values[0];
        self.add(array.len() as i64, || ScalarValue::try_from_array(array, 0))
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let (values, rows) = (&states[0], states[1].as_primitive::<Int64Type>());
        for i in 0..rows.len() {
            self.add(rows.value(i), || ScalarValue::try_from_array(values, i))?;
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(self.value.clone())
    }

    fn size(&self) -> usize {
        size_of::<Self>() + self.value.size()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![self.value.clone(), ScalarValue::Int64(Some(self.rows))])
    }
}
