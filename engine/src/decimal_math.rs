//! A physical optimizer rule: decimal `+`, `-` and `*` whose operands' precisions rule out an
//! overflow of Arrow's 128-bit decimals are computed without overflow checks.
//!
//! Arrow checks every decimal operation for 128-bit overflow (`add_checked`, `mul_checked`),
//! one value at a time through a fallible closure, which stops the compiler from vectorizing
//! the loop: in TPC-H q1, `l_extendedprice * (1 - l_discount) * (1 + l_tax)` on
//! `DECIMAL(15,2)` columns was over a third of the samples. Yet two `DECIMAL(15,2)` values have
//! magnitudes below 10^15, their product below 10^30 — far from 2^127 (about 1.7·10^38).
//! Where the declared precisions bound the result below 10^38, the same values are computed
//! with plain (wrapping, never wrapping here) arithmetic and the same result type; Arrow
//! checks no more than that either (results are not validated against their precision).

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{AsArray, Decimal128Array, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Decimal128Type, Schema};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{Result as DFResult, ScalarValue};
use datafusion::logical_expr::{ColumnarValue, Operator};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::BinaryExpr;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::aggregates::{AggregateExec, AggregateMode};
use datafusion::physical_plan::projection::{ProjectionExec, ProjectionExpr};

/// Rewrites the decimal arithmetic of projections and of the arguments of first-stage
/// aggregates (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct UncheckedDecimalArithmetic;

impl PhysicalOptimizerRule for UncheckedDecimalArithmetic {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, _config: &ConfigOptions) -> DFResult<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            let rewritten = if let Some(projection) = node.downcast_ref::<ProjectionExec>() {
                rewrite_projection(projection)?
            } else if let Some(aggregate) = node.downcast_ref::<AggregateExec>() {
                rewrite_aggregate(aggregate)?
            } else {
                None
            };
            Ok(match rewritten {
                Some(plan) => Transformed::yes(plan),
                None => Transformed::no(node),
            })
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "tarn_unchecked_decimal_arithmetic"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// `projection` with its decimal arithmetic rewritten, if it has any to rewrite.
fn rewrite_projection(projection: &ProjectionExec) -> DFResult<Option<Arc<dyn ExecutionPlan>>> {
    let schema = projection.input().schema();
    let mut changed = false;
    let exprs = projection
        .expr()
        .iter()
        .map(|p| {
            let rewritten = rewrite(p.expr.clone(), &schema)?;
            changed |= rewritten.transformed;
            Ok(ProjectionExpr { expr: rewritten.data, alias: p.alias.clone() })
        })
        .collect::<DFResult<Vec<_>>>()?;
    if !changed {
        return Ok(None);
    }
    Ok(Some(Arc::new(ProjectionExec::try_new(exprs, projection.input().clone())?)))
}

/// DataFusion evaluates the arguments of aggregates itself once a projection below has been
/// merged into them (`sum(l_extendedprice * (1 - l_discount))` in q1): only the first stage
/// evaluates them, on its input's columns.
fn rewrite_aggregate(aggregate: &AggregateExec) -> DFResult<Option<Arc<dyn ExecutionPlan>>> {
    if !matches!(aggregate.mode(), AggregateMode::Partial | AggregateMode::Single | AggregateMode::SinglePartitioned) {
        return Ok(None);
    }
    let schema = aggregate.input_schema();
    let mut changed = false;
    let mut exprs = Vec::with_capacity(aggregate.aggr_expr().len());
    for function in aggregate.aggr_expr() {
        let all = function.all_expressions();
        let mut args = Vec::with_capacity(all.args.len());
        let mut this_changed = false;
        for arg in all.args {
            let rewritten = rewrite(arg, &schema)?;
            this_changed |= rewritten.transformed;
            args.push(rewritten.data);
        }
        match function.with_new_expressions(args, all.order_by_exprs).filter(|_| this_changed) {
            Some(rewritten) => {
                changed = true;
                exprs.push(Arc::new(rewritten));
            }
            None => exprs.push(function.clone()),
        }
    }
    if !changed {
        return Ok(None);
    }
    Ok(Some(Arc::new(aggregate.with_new_aggr_exprs(exprs))))
}

fn rewrite(expr: Arc<dyn PhysicalExpr>, schema: &Schema) -> DFResult<Transformed<Arc<dyn PhysicalExpr>>> {
    expr.transform_up(|e| {
        let Some(binary) = e.downcast_ref::<BinaryExpr>() else { return Ok(Transformed::no(e)) };
        match UncheckedDecimal::try_new(binary, schema)? {
            Some(unchecked) => Ok(Transformed::yes(Arc::new(unchecked) as Arc<dyn PhysicalExpr>)),
            None => Ok(Transformed::no(e)),
        }
    })
}

/// `left op right` on `DECIMAL` values that cannot overflow 128 bits.
#[derive(Debug)]
pub(crate) struct UncheckedDecimal {
    left: Arc<dyn PhysicalExpr>,
    op: Operator,
    right: Arc<dyn PhysicalExpr>,
    precision: u8,
    scale: i8,
    /// Factors bringing `+`/`-` operands to the result's scale.
    left_factor: i128,
    right_factor: i128,
}

impl PartialEq for UncheckedDecimal {
    fn eq(&self, other: &Self) -> bool {
        self.left.as_ref() == other.left.as_ref()
            && self.op == other.op
            && self.right.as_ref() == other.right.as_ref()
            && (self.precision, self.scale) == (other.precision, other.scale)
    }
}

impl Eq for UncheckedDecimal {}

impl std::hash::Hash for UncheckedDecimal {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.left.as_ref().hash(state);
        self.op.hash(state);
        self.right.as_ref().hash(state);
        (self.precision, self.scale).hash(state);
    }
}

/// Largest number of decimal digits whose values fit in an `i128` with room to spare.
const SAFE_DIGITS: i32 = 38;

impl UncheckedDecimal {
    fn try_new(binary: &BinaryExpr, schema: &Schema) -> DFResult<Option<UncheckedDecimal>> {
        let (left, right) = (binary.left(), binary.right());
        let (DataType::Decimal128(p1, s1), DataType::Decimal128(p2, s2), DataType::Decimal128(precision, scale)) =
            (left.data_type(schema)?, right.data_type(schema)?, binary.data_type(schema)?)
        else {
            return Ok(None);
        };
        let (p1, s1, p2, s2) = (p1 as i32, s1 as i32, p2 as i32, s2 as i32);
        let (left_factor, right_factor) = match binary.op() {
            Operator::Plus | Operator::Minus => {
                let s = s1.max(s2);
                // Both operands at scale s stay below 10^(integer digits + s); their sum below
                // twice the larger.
                let digits = (p1 - s1).max(p2 - s2) + s + 1;
                if scale as i32 != s || digits > SAFE_DIGITS || s1 < 0 || s2 < 0 {
                    return Ok(None);
                }
                (10i128.pow((s - s1) as u32), 10i128.pow((s - s2) as u32))
            }
            Operator::Multiply => {
                if scale as i32 != s1 + s2 || p1 + p2 > SAFE_DIGITS {
                    return Ok(None);
                }
                (1, 1)
            }
            _ => return Ok(None),
        };
        Ok(Some(UncheckedDecimal {
            left: left.clone(),
            op: *binary.op(),
            right: right.clone(),
            precision,
            scale,
            left_factor,
            right_factor,
        }))
    }

    fn apply(&self, a: i128, b: i128) -> i128 {
        match self.op {
            Operator::Plus => a.wrapping_mul(self.left_factor).wrapping_add(b.wrapping_mul(self.right_factor)),
            Operator::Minus => a.wrapping_mul(self.left_factor).wrapping_sub(b.wrapping_mul(self.right_factor)),
            _ => a.wrapping_mul(b),
        }
    }

    fn typed(&self, array: Decimal128Array) -> DFResult<ColumnarValue> {
        Ok(ColumnarValue::Array(Arc::new(array.with_precision_and_scale(self.precision, self.scale)?)))
    }
}

fn decimal(value: &ScalarValue) -> Option<i128> {
    match value {
        ScalarValue::Decimal128(v, _, _) => *v,
        _ => None,
    }
}

impl fmt::Display for UncheckedDecimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // As DataFusion shows the BinaryExpr it replaces.
        BinaryExpr::new(self.left.clone(), self.op, self.right.clone()).fmt(f)
    }
}

impl PhysicalExpr for UncheckedDecimal {
    fn data_type(&self, _schema: &Schema) -> DFResult<DataType> {
        Ok(DataType::Decimal128(self.precision, self.scale))
    }

    fn nullable(&self, schema: &Schema) -> DFResult<bool> {
        Ok(self.left.nullable(schema)? || self.right.nullable(schema)?)
    }

    fn evaluate(&self, batch: &RecordBatch) -> DFResult<ColumnarValue> {
        use datafusion::arrow::compute::kernels::arity::binary;
        let rows = batch.num_rows();
        match (self.left.evaluate(batch)?, self.right.evaluate(batch)?) {
            (ColumnarValue::Scalar(a), ColumnarValue::Scalar(b)) => {
                let value = decimal(&a).zip(decimal(&b)).map(|(a, b)| self.apply(a, b));
                Ok(ColumnarValue::Scalar(ScalarValue::Decimal128(value, self.precision, self.scale)))
            }
            (ColumnarValue::Scalar(a), ColumnarValue::Array(b)) => match decimal(&a) {
                Some(a) => self.typed(b.as_primitive::<Decimal128Type>().unary(|b| self.apply(a, b))),
                None => self.typed(Decimal128Array::new_null(rows)),
            },
            (ColumnarValue::Array(a), ColumnarValue::Scalar(b)) => match decimal(&b) {
                Some(b) => self.typed(a.as_primitive::<Decimal128Type>().unary(|a| self.apply(a, b))),
                None => self.typed(Decimal128Array::new_null(rows)),
            },
            (ColumnarValue::Array(a), ColumnarValue::Array(b)) => {
                let (a, b) = (a.as_primitive::<Decimal128Type>(), b.as_primitive::<Decimal128Type>());
                self.typed(binary(a, b, |a, b| self.apply(a, b))?)
            }
        }
    }

    fn children(&self) -> Vec<&Arc<dyn PhysicalExpr>> {
        vec![&self.left, &self.right]
    }

    fn with_new_children(self: Arc<Self>, children: Vec<Arc<dyn PhysicalExpr>>) -> DFResult<Arc<dyn PhysicalExpr>> {
        let [left, right]: [Arc<dyn PhysicalExpr>; 2] = children
            .try_into()
            .map_err(|_| datafusion::error::DataFusionError::Internal("a decimal operation has two operands".into()))?;
        Ok(Arc::new(UncheckedDecimal {
            left,
            op: self.op,
            right,
            precision: self.precision,
            scale: self.scale,
            left_factor: self.left_factor,
            right_factor: self.right_factor,
        }))
    }

    fn fmt_sql(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        BinaryExpr::new(self.left.clone(), self.op, self.right.clone()).fmt_sql(f)
    }
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::Array;
    use datafusion::arrow::datatypes::Field;
    use datafusion::physical_expr::expressions::{binary, col, lit};

    use super::*;

    /// Same values, same types as Arrow's checked kernels, for every operator and operand kind.
    #[test]
    fn unchecked_decimal_arithmetic_matches_arrow() {
        let schema = Schema::new(vec![
            Field::new("price", DataType::Decimal128(15, 2), true),
            Field::new("rate", DataType::Decimal128(15, 2), true),
            Field::new("fine", DataType::Decimal128(10, 4), true),
        ]);
        let price = Decimal128Array::from(vec![Some(2116823), None, Some(-99999999999999), Some(0)])
            .with_precision_and_scale(15, 2)
            .unwrap();
        let rate = Decimal128Array::from(vec![Some(4), Some(10), Some(99999999999999), None])
            .with_precision_and_scale(15, 2)
            .unwrap();
        let fine = Decimal128Array::from(vec![Some(12345), Some(-1), Some(999999999), Some(7)])
            .with_precision_and_scale(10, 4)
            .unwrap();
        let batch =
            RecordBatch::try_new(Arc::new(schema.clone()), vec![Arc::new(price), Arc::new(rate), Arc::new(fine)])
                .unwrap();
        let c = |name: &str| col(name, &schema).unwrap();
        let one = lit(ScalarValue::Decimal128(Some(100), 15, 2));
        let cases = [
            (c("price"), Operator::Multiply, c("rate")),
            (one.clone(), Operator::Minus, c("rate")),
            (c("rate"), Operator::Plus, one.clone()),
            (c("price"), Operator::Minus, c("fine")),
            (c("fine"), Operator::Plus, c("price")),
            (one.clone(), Operator::Multiply, one.clone()),
        ];
        for (left, op, right) in cases {
            let checked = binary(left, op, right, &schema).unwrap();
            let unchecked = UncheckedDecimal::try_new(checked.downcast_ref::<BinaryExpr>().unwrap(), &schema)
                .unwrap()
                .unwrap_or_else(|| panic!("{checked} is safe"));
            let expected = checked.evaluate(&batch).unwrap().into_array(4).unwrap();
            let actual = unchecked.evaluate(&batch).unwrap().into_array(4).unwrap();
            assert_eq!(actual.data_type(), expected.data_type(), "{checked}");
            assert_eq!(&actual, &expected, "{checked}");
            assert_eq!(unchecked.data_type(&schema).unwrap(), checked.data_type(&schema).unwrap());
        }
        // Operands too wide to rule out an overflow keep Arrow's checked kernel.
        let wide = Schema::new(vec![Field::new("w", DataType::Decimal128(38, 0), true)]);
        let product = binary(col("w", &wide).unwrap(), Operator::Multiply, col("w", &wide).unwrap(), &wide).unwrap();
        assert!(UncheckedDecimal::try_new(product.downcast_ref::<BinaryExpr>().unwrap(), &wide).unwrap().is_none());
    }

    /// q1's shape: DataFusion merges the projection into the aggregate, whose arguments then
    /// hold the arithmetic; the rule rewrites them and the sums stay the same.
    #[tokio::test]
    async fn aggregate_arguments_are_rewritten() {
        use datafusion::datasource::MemTable;
        use datafusion::physical_plan::collect;
        use datafusion::prelude::SessionContext;

        let schema = Arc::new(Schema::new(vec![
            Field::new("flag", DataType::Utf8, true),
            Field::new("price", DataType::Decimal128(15, 2), true),
            Field::new("discount", DataType::Decimal128(15, 2), true),
        ]));
        let decimals = |values: Vec<Option<i128>>| {
            Arc::new(Decimal128Array::from(values).with_precision_and_scale(15, 2).unwrap()) as Arc<dyn Array>
        };
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(datafusion::arrow::array::StringArray::from(vec!["a", "b", "a", "b"])),
                decimals(vec![Some(2116823), Some(4500), None, Some(100)]),
                decimals(vec![Some(4), Some(10), Some(7), None]),
            ],
        )
        .unwrap();
        let ctx = SessionContext::new();
        ctx.register_table("t", Arc::new(MemTable::try_new(schema, vec![vec![batch]]).unwrap())).unwrap();
        let sql = "SELECT flag, sum(price * (1 - discount)) FROM t GROUP BY flag ORDER BY flag";
        let plan = ctx.sql(sql).await.unwrap().create_physical_plan().await.unwrap();
        let expected = datafusion::arrow::util::pretty::pretty_format_batches(
            &collect(plan.clone(), ctx.task_ctx()).await.unwrap(),
        )
        .unwrap()
        .to_string();
        let rewritten = UncheckedDecimalArithmetic.optimize(plan, &ConfigOptions::default()).unwrap();
        let mut unchecked = 0;
        rewritten
            .apply(|node| {
                if let Some(aggregate) = node.downcast_ref::<AggregateExec>() {
                    for function in aggregate.aggr_expr() {
                        for arg in function.expressions() {
                            arg.apply(|e| {
                                unchecked += usize::from(e.downcast_ref::<UncheckedDecimal>().is_some());
                                Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
                            })
                            .unwrap();
                        }
                    }
                }
                Ok(datafusion::common::tree_node::TreeNodeRecursion::Continue)
            })
            .unwrap();
        assert!(unchecked >= 2, "price * (1 - discount) in the first-stage aggregate:\n{rewritten:?}");
        let actual =
            datafusion::arrow::util::pretty::pretty_format_batches(&collect(rewritten, ctx.task_ctx()).await.unwrap())
                .unwrap()
                .to_string();
        assert_eq!(actual, expected);
    }
}
