//! Row estimates of filters that DataFusion cannot bound, and a physical optimizer rule that
//! hands them to DataFusion.
//!
//! DataFusion estimates a filter's rows by interval analysis of its predicate over the input's
//! column ranges; a predicate it cannot analyse (a string equality, an IN list, LIKE) keeps a
//! fixed fifth of the rows. With ANALYZE's distinct counts, an equality with a literal keeps
//! `1 / distinct` of them, as other engines estimate it: TPC-H q17's `p_brand = 'Brand#23' AND
//! p_container = 'MED BOX'` keeps about 200 of 200,000 parts, not 40,000. That estimate decides
//! which side of a join builds its hash table: with a fifth of the parts, q17's join of the
//! parts with lineitem looked larger than lineitem's 200,000 per-part averages, so the
//! averages were built and the parts' dynamic filter could no longer cut the lineitem scan
//! below them (4 times slower).
//!
//! [`FilterSelectivity`] runs before the join rules and sets each such filter's default
//! selectivity (whole percents, at least 1%) from [`columns_estimate`]; the join order reads
//! the finer estimate directly.

use std::sync::Arc;

use datafusion::common::Result as DFResult;
use datafusion::common::config::ConfigOptions;
use datafusion::common::stats::Precision;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::logical_expr::Operator;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr::expressions::{BinaryExpr, Column, InListExpr, Literal};
use datafusion::physical_expr::intervals::utils::check_support;
use datafusion::physical_expr::utils::{conjunction, split_conjunction};
use datafusion::physical_expr_common::physical_expr::is_volatile;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::filter::{FilterExec, FilterExecBuilder};
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::statistics::{StatisticsArgs, StatisticsContext};

/// Sets the default selectivity of filters DataFusion cannot analyse (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct FilterSelectivity;

impl PhysicalOptimizerRule for FilterSelectivity {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, _config: &ConfigOptions) -> DFResult<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            let Some(filter) = node.downcast_ref::<FilterExec>() else { return Ok(Transformed::no(node)) };
            if filter.fetch().is_some() || check_support(filter.predicate(), &filter.input().schema()) {
                return Ok(Transformed::no(node));
            }
            // A context per filter: its cache is keyed by plan node addresses, and the rewrite
            // replaces nodes (a freed node's address may be taken by a new one).
            let statistics = StatisticsContext::new();
            let Some(input) = columns_estimate(&statistics, filter.input())? else { return Ok(Transformed::no(node)) };
            let share = filter_estimate(&statistics, filter, &input)?.rows / input.rows;
            // Under FilterExec's floor of 1% only: above it, whole percents are close enough.
            if share < 0.01
                && let Some(stacked) = split(&statistics, filter, &input)?
            {
                return Ok(Transformed::yes(stacked));
            }
            if percent(share) == filter.default_selectivity() {
                return Ok(Transformed::no(node));
            }
            let estimated = filter.clone().with_default_selectivity(percent(share))?;
            Ok(Transformed::yes(Arc::new(estimated) as Arc<dyn ExecutionPlan>))
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "tarn_filter_selectivity"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// A share of rows in FilterExec's whole percents (1 to 100: it keeps no less than 1%).
fn percent(share: f64) -> u8 {
    (100.0 * share).round().clamp(1.0, 100.0) as u8
}

/// `filter` as a stack of filters over its input, each keeping at least 1% of its input by
/// [`columns_estimate`], when it keeps less than 1% altogether and its conjuncts can be grouped
/// so (None otherwise): DataFusion's estimate of a stack multiplies their shares. TPC-H q17's
/// parts at SF 10 are `p_brand = 'Brand#23'` (4%) over `p_container = 'MED BOX'` (3%): 2,400
/// of 2 M rather than 20,000. The conjuncts keep their order, bottom to top, and
/// [`MergeStackedFilters`] makes one filter of them again once the joins are planned.
fn split(
    statistics: &StatisticsContext,
    filter: &FilterExec,
    input: &ColumnsEstimate,
) -> DFResult<Option<Arc<dyn ExecutionPlan>>> {
    let mut groups: Vec<(Vec<Arc<dyn PhysicalExpr>>, f64)> = Vec::new();
    for conjunct in split_conjunction(filter.predicate()) {
        let alone = FilterExec::try_new(Arc::clone(conjunct), Arc::clone(filter.input()))?;
        let share = filter_estimate(statistics, &alone, input)?.rows / input.rows;
        match groups.last_mut() {
            Some((group, kept)) if *kept * share >= 0.01 => {
                group.push(Arc::clone(conjunct));
                *kept *= share;
            }
            _ => groups.push((vec![Arc::clone(conjunct)], share)),
        }
    }
    if groups.len() < 2 {
        return Ok(None);
    }
    let top = groups.len() - 1;
    let mut plan = Arc::clone(filter.input());
    for (at, (group, share)) in groups.into_iter().enumerate() {
        let mut layer = FilterExecBuilder::from(filter)
            .with_input(plan)
            .with_predicate(conjunction(group))
            .with_default_selectivity(percent(share))
            .apply_projection(None)?;
        if at == top {
            layer = layer.apply_projection_by_ref(filter.projection().as_ref())?;
        }
        plan = Arc::new(layer.build()?);
    }
    Ok(Some(plan))
}

/// Makes one filter again of a filter over a filter (the stacks [`FilterSelectivity`] builds
/// for their estimate), the lower one's conjuncts first: one pass over the rows, as planned
/// from the SQL. Runs after the join rules, the last to read the estimates.
#[derive(Debug, Default)]
pub(crate) struct MergeStackedFilters;

impl PhysicalOptimizerRule for MergeStackedFilters {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, _config: &ConfigOptions) -> DFResult<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            let Some(upper) = node.downcast_ref::<FilterExec>() else { return Ok(Transformed::no(node)) };
            let Some(lower) = upper.input().downcast_ref::<FilterExec>() else { return Ok(Transformed::no(node)) };
            // DataFusion leaves filters apart only when it must (a volatile predicate, a limit
            // between them); those stay as they are.
            if lower.projection().is_some()
                || lower.fetch().is_some()
                || upper.fetch().is_some()
                || is_volatile(lower.predicate())
                || is_volatile(upper.predicate())
            {
                return Ok(Transformed::no(node));
            }
            let conjuncts =
                split_conjunction(lower.predicate()).into_iter().chain(split_conjunction(upper.predicate()));
            let shares = f64::from(lower.default_selectivity()) * f64::from(upper.default_selectivity()) / 1e4;
            let merged = FilterExecBuilder::from(upper)
                .with_input(Arc::clone(lower.input()))
                .with_predicate(conjunction(conjuncts.cloned()))
                .with_default_selectivity(percent(shares))
                .build()?;
            Ok(Transformed::yes(Arc::new(merged) as Arc<dyn ExecutionPlan>))
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "tarn_merge_stacked_filters"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// The rows of a plan and the distinct values of each of its columns.
pub(crate) struct ColumnsEstimate {
    pub(crate) rows: f64,
    pub(crate) distinct: Vec<Distinct>,
}

#[derive(Clone, Copy)]
pub(crate) struct Distinct {
    pub(crate) value: f64,
    /// Counted by ANALYZE (or narrowed by a filter's literals), not taken from the value range.
    pub(crate) counted: bool,
    /// Counted or taken from the value range (else it is the row count: nothing is known).
    pub(crate) known: bool,
}

/// DataFusion's statistics of `plan`, except that a filter's equalities with literals
/// (`col = 'x'`, `col IN ('x', 'y')`, an OR of those on one column) keep `literals / distinct`
/// of the rows where the column's distinct count is known, and leave that column with as many
/// distinct values as literals: DataFusion keeps a fifth of the rows for an equality it cannot
/// bound by the column's range (strings), so `p_type = '...'` over 150 types looked like 40,000
/// parts instead of 1,333. Column-only projections pass the estimates through.
pub(crate) fn columns_estimate(
    statistics: &StatisticsContext,
    plan: &Arc<dyn ExecutionPlan>,
) -> DFResult<Option<ColumnsEstimate>> {
    if let Some(projection) = plan.downcast_ref::<ProjectionExec>() {
        let columns: Option<Vec<usize>> =
            projection.expr().iter().map(|e| e.expr.downcast_ref::<Column>().map(Column::index)).collect();
        if let Some(columns) = columns {
            let Some(input) = columns_estimate(statistics, projection.input())? else { return Ok(None) };
            let distinct = columns.iter().map(|at| input.distinct[*at]).collect();
            return Ok(Some(ColumnsEstimate { rows: input.rows, distinct }));
        }
    }
    if let Some(filter) = plan.downcast_ref::<FilterExec>()
        && filter.fetch().is_none()
        && let Some(input) = columns_estimate(statistics, filter.input())?
    {
        return filter_estimate(statistics, filter, &input).map(Some);
    }
    let stats = statistics.compute(plan.as_ref(), &StatisticsArgs::new())?;
    // One entry per column, or nothing is known (the estimates index columns by position).
    if stats.column_statistics.len() != plan.schema().fields().len() {
        return Ok(None);
    }
    let rows = match stats.num_rows {
        Precision::Exact(n) | Precision::Inexact(n) => n.max(1) as f64,
        Precision::Absent => return Ok(None),
    };
    let distinct = stats
        .column_statistics
        .iter()
        .map(|column| {
            let counted = column.distinct_count.get_value().map(|n| *n as f64);
            let ranged = match (column.min_value.get_value(), column.max_value.get_value()) {
                (Some(min), Some(max)) => min.distance(max).map(|d| d as f64 + 1.0),
                _ => None,
            };
            let value = counted.or(ranged).unwrap_or(rows).min(rows).max(1.0);
            Distinct { value, counted: counted.is_some(), known: counted.or(ranged).is_some() }
        })
        .collect();
    Ok(Some(ColumnsEstimate { rows, distinct }))
}

/// The rows and distinct counts `filter` keeps of its input's (`input`, estimated).
fn filter_estimate(
    statistics: &StatisticsContext,
    filter: &FilterExec,
    input: &ColumnsEstimate,
) -> DFResult<ColumnsEstimate> {
    let mut distinct = input.distinct.clone();
    let mut rows = input.rows;
    let mut others = Vec::new();
    for conjunct in split_conjunction(filter.predicate()) {
        match literal_values(conjunct) {
            Some((at, values)) if input.distinct[at].known && input.distinct[at].value > values => {
                rows *= values / input.distinct[at].value;
                distinct[at] = Distinct { value: values, counted: true, known: true };
            }
            _ => others.push(conjunct.clone()),
        }
    }
    if !others.is_empty() {
        // DataFusion's selectivity for the rest (ranges it bounds by min and max). The filter of
        // the rest is derived from its input's statistics directly: `statistics` caches by plan
        // node address, and this node is dropped (a later one may take its address).
        let args = StatisticsArgs::new();
        let input_stats = statistics.compute(filter.input().as_ref(), &args)?;
        let rest = FilterExec::try_new(conjunction(others), filter.input().clone())?;
        let kept = rest.statistics_from_inputs(&[Arc::clone(&input_stats)], &args)?.num_rows;
        if let (Some(&kept), Some(&of)) = (kept.get_value(), input_stats.num_rows.get_value()) {
            rows *= (kept as f64 / of.max(1) as f64).min(1.0);
        }
    }
    let rows = rows.max(1.0);
    let distinct: Vec<Distinct> =
        distinct.into_iter().map(|d| Distinct { value: d.value.min(rows).max(1.0), ..d }).collect();
    let distinct = match filter.projection() {
        Some(columns) => columns.iter().map(|at| distinct[*at]).collect(),
        None => distinct,
    };
    Ok(ColumnsEstimate { rows, distinct })
}

/// `(column, number of literals)` when `expr` keeps the rows whose column equals one of a few
/// literals: `col = lit`, `col IN (lits)`, or an OR of those on the same column.
fn literal_values(expr: &Arc<dyn PhysicalExpr>) -> Option<(usize, f64)> {
    if let Some(binary) = expr.downcast_ref::<BinaryExpr>() {
        match binary.op() {
            Operator::Eq => {
                let (column, literal) =
                    match (binary.left().downcast_ref::<Column>(), binary.right().downcast_ref::<Column>()) {
                        (Some(c), None) => (c, binary.right()),
                        (None, Some(c)) => (c, binary.left()),
                        _ => return None,
                    };
                return literal.downcast_ref::<Literal>().map(|_| (column.index(), 1.0));
            }
            Operator::Or => {
                let (l, r) = (literal_values(binary.left())?, literal_values(binary.right())?);
                return (l.0 == r.0).then_some((l.0, l.1 + r.1));
            }
            _ => return None,
        }
    }
    let in_list = expr.downcast_ref::<InListExpr>().filter(|l| !l.negated())?;
    let column = in_list.expr().downcast_ref::<Column>()?;
    in_list
        .list()
        .iter()
        .all(|e| e.downcast_ref::<Literal>().is_some())
        .then(|| (column.index(), in_list.list().len() as f64))
}

#[cfg(test)]
mod tests {
    use datafusion::common::ScalarValue;
    use datafusion::physical_expr::expressions::{col, in_list, lit};

    use super::*;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    fn eq(column: usize, value: &str) -> Arc<dyn PhysicalExpr> {
        Arc::new(BinaryExpr::new(Arc::new(Column::new("c", column)), Operator::Eq, lit(value)))
    }

    fn or(l: Arc<dyn PhysicalExpr>, r: Arc<dyn PhysicalExpr>) -> Arc<dyn PhysicalExpr> {
        Arc::new(BinaryExpr::new(l, Operator::Or, r))
    }

    #[test]
    fn equalities_with_literals_count_their_values() {
        assert_eq!(literal_values(&eq(1, "x")), Some((1, 1.0)));
        assert_eq!(literal_values(&or(eq(0, "x"), or(eq(0, "y"), eq(0, "z")))), Some((0, 3.0)));
        let schema = Schema::new(vec![Field::new("a", DataType::Utf8, true)]);
        let list = vec![lit("x"), lit("y")];
        let listed = in_list(col("a", &schema).unwrap(), list.clone(), &false, &schema).unwrap();
        assert_eq!(literal_values(&listed), Some((0, 2.0)));
        let negated = in_list(col("a", &schema).unwrap(), list, &true, &schema).unwrap();
        assert_eq!(literal_values(&negated), None);
    }

    /// 2 M parts whose brand has 25 values and container 40 (TPC-H SF 10).
    fn parts() -> Arc<dyn ExecutionPlan> {
        use datafusion::common::{ColumnStatistics, Statistics};
        use datafusion::physical_plan::test::exec::StatisticsExec;
        let schema = Schema::new(vec![
            Field::new("p_brand", DataType::Utf8, true),
            Field::new("p_container", DataType::Utf8, true),
        ]);
        let column = |distinct| ColumnStatistics::new_unknown().with_distinct_count(Precision::Inexact(distinct));
        let stats = Statistics {
            num_rows: Precision::Inexact(2_000_000),
            total_byte_size: Precision::Absent,
            column_statistics: vec![column(25), column(40)],
        };
        Arc::new(StatisticsExec::new(stats, schema))
    }

    fn estimated_rows(plan: &Arc<dyn ExecutionPlan>) -> usize {
        let stats = StatisticsContext::new().compute(plan.as_ref(), &StatisticsArgs::new()).unwrap();
        *stats.num_rows.get_value().unwrap()
    }

    #[test]
    fn a_filter_under_one_percent_is_estimated_as_a_stack_and_runs_as_one() {
        let predicate = Arc::new(BinaryExpr::new(eq(0, "Brand#23"), Operator::And, eq(1, "MED BOX")));
        let filter: Arc<dyn ExecutionPlan> = Arc::new(FilterExec::try_new(predicate, parts()).unwrap());
        // DataFusion alone keeps a fifth of the rows for string equalities.
        assert_eq!(estimated_rows(&filter), 400_000);

        let config = ConfigOptions::default();
        let estimated = FilterSelectivity.optimize(Arc::clone(&filter), &config).unwrap();
        // Brand (4%) over container (2.5%, rounded to 3%): 2,400 rows where one filter's
        // whole percents could say no less than 20,000.
        let upper = estimated.downcast_ref::<FilterExec>().expect("a filter");
        let lower = upper.input().downcast_ref::<FilterExec>().expect("a filter below it");
        assert_eq!((lower.default_selectivity(), upper.default_selectivity()), (4, 3));
        assert_eq!(estimated_rows(&estimated), 2_400);

        // Merged back, it is the filter planned from the SQL, conjuncts in their order.
        let merged = MergeStackedFilters.optimize(estimated, &config).unwrap();
        let one = merged.downcast_ref::<FilterExec>().expect("a filter");
        assert!(one.input().downcast_ref::<FilterExec>().is_none());
        assert_eq!(one.predicate().to_string(), filter.downcast_ref::<FilterExec>().unwrap().predicate().to_string());
    }

    #[test]
    fn a_filter_of_one_percent_or_more_stays_one_filter() {
        let filter: Arc<dyn ExecutionPlan> = Arc::new(FilterExec::try_new(eq(1, "MED BOX"), parts()).unwrap());
        let estimated = FilterSelectivity.optimize(filter, &ConfigOptions::default()).unwrap();
        let one = estimated.downcast_ref::<FilterExec>().expect("a filter");
        assert!(one.input().downcast_ref::<FilterExec>().is_none());
        assert_eq!(estimated_rows(&estimated), 60_000);
    }

    #[test]
    fn other_predicates_are_left_to_datafusion() {
        // Two columns, a comparison, a column against a column.
        assert_eq!(literal_values(&or(eq(0, "x"), eq(1, "y"))), None);
        let less =
            Arc::new(BinaryExpr::new(Arc::new(Column::new("c", 0)), Operator::Lt, lit(ScalarValue::Int32(Some(3)))));
        assert_eq!(literal_values(&(less as Arc<dyn PhysicalExpr>)), None);
        let columns =
            Arc::new(BinaryExpr::new(Arc::new(Column::new("c", 0)), Operator::Eq, Arc::new(Column::new("d", 1))));
        assert_eq!(literal_values(&(columns as Arc<dyn PhysicalExpr>)), None);
    }
}
