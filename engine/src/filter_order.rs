//! A physical optimizer rule: the conjuncts of every `FilterExec` predicate in order of cost,
//! cheapest first. DataFusion evaluates `a AND b` by evaluating `a` on the whole batch and,
//! when few rows pass it, `b` only on those (its "pre-selection"); it keeps the conjuncts in the
//! order the query wrote them. Comparing a date or number with a constant costs a fraction of a
//! string comparison, so `l_shipmode IN ('MAIL', 'SHIP') AND l_receiptdate >= DATE '1994-01-01'
//! AND l_receiptdate < DATE '1995-01-01'` (TPC-H q12) runs the string comparisons on the sixth
//! of the rows the dates leave instead of on all of them. AND is commutative in SQL: the rows
//! kept are the same.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::common::Result as DFResult;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::logical_expr::Operator;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::{
    BinaryExpr, CastExpr, Column, InListExpr, IsNotNullExpr, IsNullExpr, Literal, NotExpr,
};
use datafusion::physical_expr::utils::{conjunction, split_conjunction};
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
            let mut ranked: Vec<(u8, &Arc<dyn PhysicalExpr>)> =
                conjuncts.iter().map(|c| (cost(c, &schema), *c)).collect();
            if ranked.windows(2).all(|w| w[0].0 <= w[1].0) {
                return Ok(Transformed::no(node));
            }
            ranked.sort_by_key(|(rank, _)| *rank);
            let predicate = conjunction(ranked.into_iter().map(|(_, c)| c.clone()));
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
