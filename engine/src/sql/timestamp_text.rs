//! Timestamps as Redshift writes them in text: `2019-02-11 05:09:12.195` (a space, not
//! Arrow's `T`; fractional seconds without trailing zeros), and `+00` after a `timestamptz`.
//! An analyzer rule, after DataFusion's type coercion, replaces every cast of a timestamp to
//! text — explicit (`CAST(ts AS varchar)`, `ts::text`) or implicit (`'at ' || ts`, a timestamp
//! inserted into a character column) — by [`timestamp_text`].

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimeUnit, TimestampMicrosecondType};
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{DFSchema, Result};
use datafusion::config::ConfigOptions;
use datafusion::logical_expr::{Cast, Expr, ExprSchemable, LogicalPlan, ScalarUDF, TryCast};
use datafusion::optimizer::AnalyzerRule;

use crate::functions::Udf;

const NAME: &str = "redshift_timestamp_text";

/// `redshift_timestamp_text(ts)`: the text of a timestamp as Redshift casts it.
pub(crate) fn timestamp_text() -> Arc<ScalarUDF> {
    static UDF: std::sync::OnceLock<Arc<ScalarUDF>> = std::sync::OnceLock::new();
    UDF.get_or_init(|| {
        Arc::new(
            Udf::new(
                NAME,
                |_, types| Ok(types.to_vec()),
                |_| Ok(DataType::Utf8),
                |args, _| {
                    let zone = matches!(args[0].data_type(), DataType::Timestamp(_, Some(_)));
                    let micros = cast(&args[0], &DataType::Timestamp(TimeUnit::Microsecond, None))?;
                    Ok(format_micros(micros.as_primitive::<TimestampMicrosecondType>(), zone))
                },
            )
            .build(),
        )
    })
    .clone()
}

fn format_micros(micros: &datafusion::arrow::array::PrimitiveArray<TimestampMicrosecondType>, zone: bool) -> ArrayRef {
    let mut out = StringBuilder::with_capacity(micros.len(), micros.len() * 26);
    for value in micros.iter() {
        match value.and_then(chrono::DateTime::from_timestamp_micros) {
            Some(t) => out.append_value(text(t.naive_utc(), zone)),
            None => out.append_null(),
        }
    }
    Arc::new(out.finish())
}

/// `2019-02-11 05:09:12.195`, with `+00` for a timestamp with time zone (kept in UTC).
fn text(t: chrono::NaiveDateTime, zone: bool) -> String {
    use chrono::Timelike;
    let mut text = t.format("%Y-%m-%d %H:%M:%S").to_string();
    let micros = t.nanosecond() / 1_000;
    if micros > 0 {
        let fraction = format!("{micros:06}");
        text.push('.');
        text.push_str(fraction.trim_end_matches('0'));
    }
    if zone {
        text.push_str("+00");
    }
    text
}

/// Rewrites casts of timestamps to text into [`timestamp_text`] calls.
#[derive(Debug, Default)]
pub(crate) struct RedshiftTimestampText;

impl AnalyzerRule for RedshiftTimestampText {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|node| {
            // Most nodes cast nothing to text: they are left alone without building a schema.
            let mut casts_to_text = false;
            node.apply_expressions(|expr| {
                casts_to_text |= expr.exists(|e| Ok(text_cast(e).is_some()))?;
                Ok(if casts_to_text { TreeNodeRecursion::Stop } else { TreeNodeRecursion::Continue })
            })?;
            if !casts_to_text {
                return Ok(Transformed::no(node));
            }
            let mut schema = DFSchema::empty();
            for input in node.inputs() {
                schema.merge(input.schema());
            }
            if let LogicalPlan::TableScan(scan) = &node {
                schema.merge(&scan.projected_schema);
            }
            node.map_expressions(|expr| expr.transform_up(|e| rewrite(e, &schema)))
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "redshift_timestamp_text"
    }
}

/// A cast (or TRY_CAST, the flag) of an expression to a text type: (expression, type, flag).
fn text_cast(expr: &Expr) -> Option<(&Expr, &DataType, bool)> {
    let (inner, data_type, try_cast) = match expr {
        Expr::Cast(Cast { expr, field }) => (expr, field.data_type(), false),
        Expr::TryCast(TryCast { expr, field }) => (expr, field.data_type(), true),
        _ => return None,
    };
    matches!(data_type, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View)
        .then_some((inner, data_type, try_cast))
}

fn rewrite(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let Some((inner, data_type, try_cast)) = text_cast(&expr) else { return Ok(Transformed::no(expr)) };
    let Ok(DataType::Timestamp(..)) = inner.get_type(schema) else { return Ok(Transformed::no(expr)) };
    let call = timestamp_text().call(vec![inner.clone()]);
    let out = match (data_type, try_cast) {
        (DataType::Utf8, _) => call,
        (other, false) => Expr::Cast(Cast::new(Box::new(call), other.clone())),
        (other, true) => Expr::TryCast(TryCast::new(Box::new(call), other.clone())),
    };
    Ok(Transformed::yes(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions_lose_trailing_zeros_and_zones_show_utc() {
        let at = |s: &str| chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").unwrap();
        assert_eq!(text(at("2019-02-11 05:09:12.195"), false), "2019-02-11 05:09:12.195");
        assert_eq!(text(at("2019-02-11 05:09:12"), false), "2019-02-11 05:09:12");
        assert_eq!(text(at("2019-02-11 05:09:12.000001"), true), "2019-02-11 05:09:12.000001+00");
    }
}
