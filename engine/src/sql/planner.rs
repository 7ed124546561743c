//! Typed parts of Redshift's arithmetic, planned where the operand types are known:
//! DECIMAL division with Redshift's result scale, and `date + time` as a timestamp.

use datafusion::arrow::datatypes::DataType;
use datafusion::common::{DFSchema, Result};
use datafusion::logical_expr::planner::{ExprPlanner, PlannerResult, RawBinaryExpr};
use datafusion::logical_expr::{Expr, ExprSchemable, cast};
use datafusion::sql::sqlparser::ast::BinaryOperator;

#[derive(Debug, Default)]
pub(crate) struct TarnExprPlanner;

/// Redshift's result type of DECIMAL(p1,s1) / DECIMAL(p2,s2) (its numeric computation rules).
pub(crate) fn division_type(p1: u8, s1: i8, p2: u8, s2: i8) -> (u8, i8) {
    let (p1, s1, p2, s2) = (p1 as i32, s1 as i32, p2 as i32, s2 as i32);
    let scale = 4.max(s1 + p2 - s2 + 1);
    let precision = p1 - s1 + s2 + scale;
    if precision > 38 { (38, (38 + scale - precision).max(4) as i8) } else { (precision as u8, scale as i8) }
}

fn decimal(t: &DataType) -> Option<(u8, i8)> {
    match t {
        DataType::Decimal32(p, s)
        | DataType::Decimal64(p, s)
        | DataType::Decimal128(p, s)
        | DataType::Decimal256(p, s) => Some((*p, *s)),
        // Integers in a mixed calculation are DECIMAL(5|10|19, 0).
        DataType::Int8 | DataType::Int16 => Some((5, 0)),
        DataType::Int32 => Some((10, 0)),
        DataType::Int64 => Some((19, 0)),
        _ => None,
    }
}

/// An operand's DECIMAL type: an integer literal that fits an INTEGER is one (as in Redshift,
/// where DataFusion would make it a BIGINT).
fn operand(expr: &Expr, t: &DataType) -> Option<(u8, i8)> {
    match expr {
        Expr::Literal(datafusion::common::ScalarValue::Int64(Some(v)), _) if i32::try_from(*v).is_ok() => Some((10, 0)),
        _ => decimal(t),
    }
}

impl ExprPlanner for TarnExprPlanner {
    fn plan_binary_op(&self, expr: RawBinaryExpr, schema: &DFSchema) -> Result<PlannerResult<RawBinaryExpr>> {
        let (Ok(left), Ok(right)) = (expr.left.get_type(schema), expr.right.get_type(schema)) else {
            return Ok(PlannerResult::Original(expr));
        };
        match expr.op {
            BinaryOperator::Divide => {
                let either_decimal = matches!(left, DataType::Decimal128(..) | DataType::Decimal256(..))
                    || matches!(right, DataType::Decimal128(..) | DataType::Decimal256(..));
                let (Some((p1, s1)), Some((p2, s2))) = (operand(&expr.left, &left), operand(&expr.right, &right))
                else {
                    return Ok(PlannerResult::Original(expr));
                };
                if !either_decimal {
                    return Ok(PlannerResult::Original(expr));
                }
                let (precision, scale) = division_type(p1, s1, p2, s2);
                // Arrow divides to the dividend's scale + 4: give the dividend the scale that
                // yields Redshift's (or keep it, when that is already finer), then cast.
                let dividend_scale = (scale - 4).max(s1);
                let dividend_precision = (p1 as i32 - s1 as i32 + dividend_scale as i32).clamp(1, 38) as u8;
                let dividend = cast(expr.left, DataType::Decimal128(dividend_precision, dividend_scale));
                let divisor = cast(expr.right, DataType::Decimal128(p2.min(38), s2));
                Ok(PlannerResult::Planned(cast(dividend / divisor, DataType::Decimal128(precision, scale))))
            }
            BinaryOperator::Plus => {
                let (date, time) = match (&left, &right) {
                    (DataType::Date32, DataType::Time64(_) | DataType::Time32(_)) => (expr.left, expr.right),
                    (DataType::Time64(_) | DataType::Time32(_), DataType::Date32) => (expr.right, expr.left),
                    _ => return Ok(PlannerResult::Original(expr)),
                };
                Ok(PlannerResult::Planned(Expr::ScalarFunction(
                    datafusion::logical_expr::expr::ScalarFunction::new_udf(
                        std::sync::Arc::new(crate::functions::date_plus_time()),
                        vec![date, time],
                    ),
                )))
            }
            _ => Ok(PlannerResult::Original(expr)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redshift_division_types() {
        assert_eq!(division_type(8, 2, 8, 2), (17, 9));
        assert_eq!(division_type(38, 10, 38, 10), (38, 4));
        assert_eq!(division_type(10, 0, 10, 0), (21, 11));
    }
}
