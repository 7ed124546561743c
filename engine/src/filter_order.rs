//! A physical optimizer rule: the conjuncts of every `FilterExec` predicate in order of cost,
//! cheapest first. DataFusion evaluates `a AND b` by evaluating `a` on the whole batch and,
//! when few rows pass it, `b` only on those (its "pre-selection"); it keeps the conjuncts in the
//! order the query wrote them. Comparing a date or number with a constant costs a fraction of a
//! string comparison, so `l_shipmode IN ('MAIL', 'SHIP') AND l_receiptdate >= DATE '1994-01-01'
//! AND l_receiptdate < DATE '1995-01-01'` (TPC-H q12) runs the string comparisons on the sixth
//! of the rows the dates leave instead of on all of them. AND is commutative in SQL: the rows
//! kept are the same.
//!
//! The ordered conjuncts are then evaluated by [`Conjunction`] rather than by nested `AND`s:
//! DataFusion's pre-selection filters every column of the batch for each `AND` and scatters the
//! right side's result back value by value (half of TPC-H q6's time); a conjunction keeps one
//! selection, and once fewer than a fifth of the batch's rows remain it takes those rows of the
//! columns the remaining conjuncts read (once, not per conjunct), runs the rest on them, and sets
//! the kept rows' bits in the batch's selection at the end.

use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, BooleanArray, BooleanBufferBuilder, RecordBatch, RecordBatchOptions, UInt32Array,
};
use datafusion::arrow::buffer::BooleanBuffer;
use datafusion::arrow::compute::take;
use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::common::Result as DFResult;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::logical_expr::ColumnarValue;
use datafusion::logical_expr::Operator;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::{
    BinaryExpr, CastExpr, Column, InListExpr, IsNotNullExpr, IsNullExpr, Literal, NotExpr,
};
use datafusion::physical_expr::utils::{collect_columns, split_conjunction};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::filter::{FilterExec, FilterExecBuilder};

/// Orders the conjuncts of filters by the cost of evaluating them (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct OrderFilterConjuncts;

impl PhysicalOptimizerRule for OrderFilterConjuncts {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, _config: &ConfigOptions) -> DFResult<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            let Some(filter) = node.downcast_ref::<FilterExec>() else { return Ok(Transformed::no(node)) };
            let schema = filter.input().schema();
            let conjuncts = split_conjunction(filter.predicate());
            if conjuncts.len() < 2 {
                return Ok(Transformed::no(node));
            }
            let mut ranked: Vec<(u8, &Arc<dyn PhysicalExpr>)> =
                conjuncts.iter().map(|c| (cost(c, &schema), *c)).collect();
            ranked.sort_by_key(|(rank, _)| *rank);
            let predicate: Arc<dyn PhysicalExpr> =
                Arc::new(Conjunction::try_new(ranked.into_iter().map(|(_, c)| c.clone()).collect())?);
            let reordered = FilterExecBuilder::new(predicate, filter.input().clone())
                .apply_projection_by_ref(filter.projection().as_ref())?
                .with_default_selectivity(filter.default_selectivity())
                .with_batch_size(filter.batch_size())
                .with_fetch(filter.fetch())
                .build()?;
            Ok(Transformed::yes(Arc::new(reordered) as Arc<dyn ExecutionPlan>))
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "tarn_order_filter_conjuncts"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// `c1 AND c2 AND ...` as a filter's predicate: each conjunct is evaluated on the rows all
/// earlier ones kept — on the whole batch while more than a fifth of it remains (comparisons
/// are cheapest in bulk), else on a batch compacted to those rows and the columns the remaining
/// conjuncts read (compacted again when a fifth of that remains). Rows where a conjunct is NULL
/// are not kept, as a filter treats them; the result has no NULLs.
#[derive(Debug)]
pub(crate) struct Conjunction {
    conjuncts: Vec<Arc<dyn PhysicalExpr>>,
    /// Per suffix of the conjuncts (from the i-th on): what runs on a batch compacted before it.
    suffixes: Vec<Suffix>,
}

/// The conjuncts from one of them on, over the input columns they read.
#[derive(Debug)]
struct Suffix {
    /// The input columns they read, ascending.
    columns: Vec<usize>,
    /// Each of them with its columns renumbered to positions in `columns`.
    conjuncts: Vec<Arc<dyn PhysicalExpr>>,
}

/// Below this share of its rows still selected, the batch is compacted to those rows (and the
/// columns the remaining conjuncts read).
const NARROW_BELOW: f64 = 0.2;

impl Conjunction {
    fn try_new(conjuncts: Vec<Arc<dyn PhysicalExpr>>) -> DFResult<Conjunction> {
        let suffixes = (0..conjuncts.len())
            .map(|from| {
                let rest = &conjuncts[from..];
                let mut columns: Vec<usize> = rest.iter().flat_map(collect_columns).map(|c| c.index()).collect();
                columns.sort_unstable();
                columns.dedup();
                let rewritten = rest
                    .iter()
                    .map(|c| {
                        let narrow = c.clone().transform(|e| match e.downcast_ref::<Column>() {
                            Some(column) => {
                                let index = columns.binary_search(&column.index()).expect("collected");
                                Ok(Transformed::yes(
                                    Arc::new(Column::new(column.name(), index)) as Arc<dyn PhysicalExpr>
                                ))
                            }
                            None => Ok(Transformed::no(e)),
                        })?;
                        Ok(narrow.data)
                    })
                    .collect::<DFResult<Vec<_>>>()?;
                Ok(Suffix { columns, conjuncts: rewritten })
            })
            .collect::<DFResult<Vec<_>>>()?;
        Ok(Conjunction { conjuncts, suffixes })
    }
}

/// The rows conjuncts run on after a compaction: the columns the remaining conjuncts read, at
/// the input rows `rows` (ascending), and the index of the first of those conjuncts.
struct Compacted {
    batch: RecordBatch,
    rows: UInt32Array,
    from: usize,
}

impl PartialEq for Conjunction {
    fn eq(&self, other: &Self) -> bool {
        self.conjuncts.len() == other.conjuncts.len()
            && self.conjuncts.iter().zip(&other.conjuncts).all(|(a, b)| a.as_ref() == b.as_ref())
    }
}

impl Eq for Conjunction {}

impl std::hash::Hash for Conjunction {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        for conjunct in &self.conjuncts {
            conjunct.as_ref().hash(state);
        }
    }
}

impl std::fmt::Display for Conjunction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, conjunct) in self.conjuncts.iter().enumerate() {
            if i > 0 {
                write!(f, " AND ")?;
            }
            write!(f, "{conjunct}")?;
        }
        Ok(())
    }
}

/// The rows where `array` is true (not false, not NULL).
fn true_bits(array: &ArrayRef) -> DFResult<BooleanBuffer> {
    let Some(booleans) = array.as_any().downcast_ref::<BooleanArray>() else {
        return datafusion::common::internal_err!("a filter conjunct gave {} instead of booleans", array.data_type());
    };
    Ok(match booleans.nulls() {
        Some(nulls) => booleans.values() & nulls.inner(),
        None => booleans.values().clone(),
    })
}

impl PhysicalExpr for Conjunction {
    fn data_type(&self, _schema: &Schema) -> DFResult<DataType> {
        Ok(DataType::Boolean)
    }

    fn nullable(&self, _schema: &Schema) -> DFResult<bool> {
        Ok(false)
    }

    fn evaluate(&self, batch: &RecordBatch) -> DFResult<ColumnarValue> {
        let rows = batch.num_rows();
        let mut compacted: Option<Compacted> = None;
        // The rows kept so far, over the compacted batch's rows once there is one.
        let mut selected: Option<BooleanBuffer> = None;
        for at in 0..self.conjuncts.len() {
            let current = compacted.as_ref().map_or(rows, |c| c.batch.num_rows());
            let count = selected.as_ref().map_or(current, |s| s.count_set_bits());
            if count == 0 {
                break;
            }
            if let Some(s) = selected.as_ref().filter(|_| (count as f64) < NARROW_BELOW * current as f64) {
                // Only the selected rows of the columns the rest reads, taken from the input.
                let kept: UInt32Array = match &compacted {
                    None => s.set_indices().map(|row| row as u32).collect(),
                    Some(c) => s.set_indices().map(|k| c.rows.value(k)).collect(),
                };
                let columns = &self.suffixes[at].columns;
                let schema = batch.schema();
                let fields: Vec<_> = columns.iter().map(|i| schema.field(*i).clone()).collect();
                let arrays =
                    columns.iter().map(|i| take(batch.column(*i), &kept, None)).collect::<Result<Vec<_>, _>>()?;
                let narrow = RecordBatch::try_new_with_options(
                    Arc::new(Schema::new(fields)),
                    arrays,
                    &RecordBatchOptions::new().with_row_count(Some(count)),
                )?;
                compacted = Some(Compacted { batch: narrow, rows: kept, from: at });
                selected = None;
            }
            let result = match &compacted {
                None => self.conjuncts[at].evaluate(batch)?.into_array(rows)?,
                Some(c) => {
                    self.suffixes[c.from].conjuncts[at - c.from].evaluate(&c.batch)?.into_array(c.batch.num_rows())?
                }
            };
            let result = true_bits(&result)?;
            selected = Some(match &selected {
                Some(s) => s & &result,
                None => result,
            });
        }
        let kept = match compacted {
            None => selected.unwrap_or_else(|| BooleanBuffer::new_set(rows)),
            Some(c) => {
                // Back to the batch's rows: the k-th compacted row is input row `c.rows[k]`.
                let mut merged = BooleanBufferBuilder::new(rows);
                merged.append_n(rows, false);
                match selected {
                    Some(s) => s.set_indices().for_each(|k| merged.set_bit(c.rows.value(k) as usize, true)),
                    None => c.rows.values().iter().for_each(|row| merged.set_bit(*row as usize, true)),
                }
                merged.finish()
            }
        };
        Ok(ColumnarValue::Array(Arc::new(BooleanArray::new(kept, None))))
    }

    fn children(&self) -> Vec<&Arc<dyn PhysicalExpr>> {
        self.conjuncts.iter().collect()
    }

    fn with_new_children(self: Arc<Self>, children: Vec<Arc<dyn PhysicalExpr>>) -> DFResult<Arc<dyn PhysicalExpr>> {
        // Column indices of the new children are those of the same input: narrow them again.
        Ok(Arc::new(Conjunction::try_new(children)?))
    }

    fn fmt_sql(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, conjunct) in self.conjuncts.iter().enumerate() {
            if i > 0 {
                write!(f, " AND ")?;
            }
            conjunct.fmt_sql(f)?;
        }
        Ok(())
    }
}

/// 0: a number, date or time column against a constant, or a NULL test; 1: two such columns;
/// 2: a list of such constants; 3: strings compared with constants or lists; 4: anything else
/// (patterns, functions, CASE). An OR costs its dearest side.
fn cost(expr: &Arc<dyn PhysicalExpr>, schema: &Schema) -> u8 {
    let primitive = |e: &Arc<dyn PhysicalExpr>| e.data_type(schema).is_ok_and(|t| is_fixed_width(&t));
    if let Some(binary) = expr.downcast_ref::<BinaryExpr>() {
        let (left, right) = (binary.left(), binary.right());
        return match binary.op() {
            Operator::And | Operator::Or => cost(left, schema).max(cost(right, schema)),
            Operator::Eq
            | Operator::NotEq
            | Operator::Lt
            | Operator::LtEq
            | Operator::Gt
            | Operator::GtEq
            | Operator::IsDistinctFrom
            | Operator::IsNotDistinctFrom
                if is_plain(left) && is_plain(right) =>
            {
                let constant = is_literal(left) || is_literal(right);
                match (primitive(left) && primitive(right), constant) {
                    (true, true) => 0,
                    (true, false) => 1,
                    (false, _) => 3,
                }
            }
            _ => 4,
        };
    }
    if let Some(list) = expr.downcast_ref::<InListExpr>() {
        return match (is_plain(list.expr()), primitive(list.expr())) {
            (true, true) => 2,
            (true, false) => 3,
            _ => 4,
        };
    }
    if let Some(not) = expr.downcast_ref::<NotExpr>() {
        return cost(not.arg(), schema);
    }
    if expr.downcast_ref::<IsNullExpr>().is_some() || expr.downcast_ref::<IsNotNullExpr>().is_some() {
        return if expr.children().iter().all(|c| is_plain(c)) { 0 } else { 4 };
    }
    4
}

/// A column, a constant, or a cast of one.
fn is_plain(expr: &Arc<dyn PhysicalExpr>) -> bool {
    match expr.downcast_ref::<CastExpr>() {
        Some(cast) => is_plain(cast.expr()),
        None => expr.downcast_ref::<Column>().is_some() || is_literal(expr),
    }
}

fn is_literal(expr: &Arc<dyn PhysicalExpr>) -> bool {
    match expr.downcast_ref::<CastExpr>() {
        Some(cast) => is_literal(cast.expr()),
        None => expr.downcast_ref::<Literal>().is_some(),
    }
}

fn is_fixed_width(data_type: &DataType) -> bool {
    data_type.is_primitive() || matches!(data_type, DataType::Boolean)
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::datatypes::Field;
    use datafusion::common::ScalarValue;
    use datafusion::physical_expr::expressions::{binary, col, lit};

    use super::*;

    /// The conjunction keeps exactly the rows nested ANDs make true, whether it narrows (few
    /// rows left) or not, with NULLs anywhere.
    #[test]
    fn a_conjunction_keeps_the_rows_nested_ands_keep() {
        use datafusion::arrow::array::{Int64Array, StringArray};
        use datafusion::physical_expr::utils::conjunction;
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int64, true),
            Field::new("s", DataType::Utf8, true),
            Field::new("n", DataType::Int64, false),
        ]));
        let rows = 2000;
        let a = Int64Array::from_iter((0..rows).map(|i| (i % 13 != 0).then_some(i % 10)));
        let s = StringArray::from_iter((0..rows).map(|i| (i % 7 != 0).then_some(if i % 3 == 0 { "x" } else { "y" })));
        let n = Int64Array::from_iter_values(0..rows);
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(a), Arc::new(s), Arc::new(n)]).unwrap();
        let c = |name: &str| col(name, &schema).unwrap();
        let cases = [
            // 10% pass the first: the others run narrowed.
            vec![
                binary(c("a"), Operator::Eq, lit(3i64), &schema).unwrap(),
                binary(c("s"), Operator::Eq, lit("x"), &schema).unwrap(),
                binary(c("n"), Operator::Gt, lit(500i64), &schema).unwrap(),
            ],
            // 90% pass: evaluated on the whole batch.
            vec![
                binary(c("a"), Operator::NotEq, lit(3i64), &schema).unwrap(),
                binary(c("s"), Operator::NotEq, lit("x"), &schema).unwrap(),
            ],
            // Narrowed twice: 10% pass the first, then a tenth of those.
            vec![
                binary(c("a"), Operator::Eq, lit(3i64), &schema).unwrap(),
                binary(c("n"), Operator::Lt, lit(200i64), &schema).unwrap(),
                binary(c("s"), Operator::Eq, lit("y"), &schema).unwrap(),
                binary(c("a"), Operator::Eq, c("a"), &schema).unwrap(),
            ],
            // Nothing passes the first.
            vec![
                binary(c("n"), Operator::Lt, lit(0i64), &schema).unwrap(),
                binary(c("s"), Operator::Eq, lit("x"), &schema).unwrap(),
            ],
        ];
        for conjuncts in cases {
            let nested = conjunction(conjuncts.clone()).evaluate(&batch).unwrap().into_array(2000).unwrap();
            let expected = true_bits(&nested).unwrap();
            let ours = Conjunction::try_new(conjuncts).unwrap().evaluate(&batch).unwrap().into_array(2000).unwrap();
            assert_eq!(ours.null_count(), 0);
            assert_eq!(true_bits(&ours).unwrap(), expected);
        }
    }

    #[test]
    fn dates_before_strings_before_patterns() {
        let schema = Schema::new(vec![
            Field::new("d", DataType::Date32, false),
            Field::new("s", DataType::Utf8View, false),
            Field::new("n", DataType::Int64, false),
        ]);
        let c = |name: &str| col(name, &schema).unwrap();
        let string_eq = binary(c("s"), Operator::Eq, lit("MAIL"), &schema).unwrap();
        let date_ge = binary(c("d"), Operator::GtEq, lit(ScalarValue::Date32(Some(8766))), &schema).unwrap();
        let columns = binary(c("n"), Operator::Lt, c("n"), &schema).unwrap();
        let or = binary(string_eq.clone(), Operator::Or, date_ge.clone(), &schema).unwrap();
        assert_eq!(cost(&date_ge, &schema), 0);
        assert_eq!(cost(&columns, &schema), 1);
        assert_eq!(cost(&string_eq, &schema), 3);
        assert_eq!(cost(&or, &schema), 3);
    }
}
