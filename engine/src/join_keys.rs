//! A physical optimizer rule: join keys that stop a join's dynamic filter at an aggregate become
//! part of the join's filter instead.
//!
//! A hash join hands its probe side a dynamic filter over all its keys (`k1 IN (..)` for one
//! key, `struct(k1, k2) IN (..)` for several). The filter passes an aggregate only when every
//! column it reads is a grouping column: it then decides which groups are computed, not how.
//! A decorrelated subquery compares an aggregate's result, so one of the keys is the aggregate
//! itself, and the whole filter stops above it. TPC-H q2 joins its 642 candidate rows to
//! `min(ps_supplycost) GROUP BY ps_partkey` on `(p_partkey, ps_supplycost) = (ps_partkey,
//! min)`: the minimum is computed for all 117 thousand parts of the region's suppliers
//! (160 thousand rows aggregated) to keep the 460 that match. DuckDB computes such a subquery
//! only for the outer query's keys.
//!
//! This rule joins on the keys that are grouping columns and compares the others in the join's
//! filter. The dynamic filter then reads grouping columns only and reaches the aggregate's
//! input (q2: the partsupp rows of the 642 candidate parts). It applies only when the grouping
//! keys cover the aggregate's whole GROUP BY: each probe row then has its own values of them,
//! so a build row meets at most one probe row and the filter compares no more pairs than the
//! join had rows. Inner and semi joins only (their dynamic filters reach the probe side), with
//! plain column keys of equal types that never match NULLs (as `=` in the filter does not).
//!
//! It runs right after `JoinSelection` (the build side is known) and before the rules that
//! place repartitions: a partitioned join is then repartitioned on the keys it keeps.

use std::sync::Arc;

use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::common::Result as DFResult;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{JoinSide, JoinType, NullEquality};
use datafusion::logical_expr::Operator;
use datafusion::physical_expr::expressions::{BinaryExpr, Column};
use datafusion::physical_expr::utils::conjunction;
use datafusion::physical_expr::{PhysicalExpr, PhysicalExprRef};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::aggregates::AggregateExec;
use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::joins::HashJoinExec;
use datafusion::physical_plan::joins::HashJoinExecBuilder;
use datafusion::physical_plan::joins::PartitionMode;
use datafusion::physical_plan::joins::utils::{ColumnIndex, JoinFilter};
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::repartition::RepartitionExec;
use datafusion::physical_plan::statistics::{StatisticsArgs, StatisticsContext};

/// Moves join keys that are aggregate results into the join's filter (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct KeysThroughAggregates;

impl PhysicalOptimizerRule for KeysThroughAggregates {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, config: &ConfigOptions) -> DFResult<Arc<dyn ExecutionPlan>> {
        if !config.optimizer.enable_join_dynamic_filter_pushdown {
            return Ok(plan);
        }
        rewrite_hash_joins(plan, keys_through_aggregate)
    }

    fn name(&self) -> &str {
        "tarn_keys_through_aggregates"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// `join` on the keys its probe side groups by, the other keys compared in its filter; `None`
/// when that does not apply.
fn keys_through_aggregate(join: &HashJoinExec) -> DFResult<Option<Arc<dyn ExecutionPlan>>> {
    if join.on().len() < 2
        || !matches!(join.join_type(), JoinType::Inner | JoinType::LeftSemi | JoinType::RightSemi)
        || join.null_equality() != NullEquality::NullEqualsNothing
        || join.null_aware
    {
        return Ok(None);
    }
    let (left_schema, right_schema) = (join.left().schema(), join.right().schema());
    let mut aggregate: Option<&AggregateExec> = None;
    let mut grouping = Vec::new();
    let mut compared = Vec::new();
    for (build, probe) in join.on() {
        let (Some(build_column), Some(probe_column)) = (build.downcast_ref::<Column>(), probe.downcast_ref::<Column>())
        else {
            return Ok(None);
        };
        if left_schema.field(build_column.index()).data_type() != right_schema.field(probe_column.index()).data_type() {
            return Ok(None);
        }
        let Some((source, output)) = aggregate_output(join.right(), probe_column.index()) else {
            return Ok(None);
        };
        match aggregate {
            None => aggregate = Some(source),
            Some(seen) if std::ptr::eq(seen, source) => {}
            Some(_) => return Ok(None),
        }
        if output < source.group_expr().expr().len() {
            grouping.push(((build.clone(), probe.clone()), output));
        } else {
            compared.push((build_column.clone(), probe_column.clone()));
        }
    }
    let Some(group_columns) = aggregate.map(|a| a.group_expr().expr().len()) else { return Ok(None) };
    let mut covered: Vec<usize> = grouping.iter().map(|(_, output)| *output).collect();
    covered.sort_unstable();
    covered.dedup();
    if compared.is_empty() || covered.len() != group_columns {
        return Ok(None);
    }
    let filter = with_equalities(join.filter(), &compared, &left_schema, &right_schema);
    let on = grouping.into_iter().map(|(pair, _)| pair).collect::<Vec<(PhysicalExprRef, PhysicalExprRef)>>();
    let rewritten = HashJoinExecBuilder::from(join).with_on(on).with_filter(Some(filter)).recompute_properties();
    Ok(Some(rewritten.build_exec()?))
}

/// The aggregate that output column `index` of `plan` comes from, through operators that pass
/// columns on unchanged, and the column's position among the aggregate's outputs (its grouping
/// columns come first). `None` when the column is computed elsewhere or the aggregate has
/// grouping sets or no GROUP BY.
fn aggregate_output(plan: &Arc<dyn ExecutionPlan>, index: usize) -> Option<(&AggregateExec, usize)> {
    let any = plan.as_ref();
    if let Some(aggregate) = any.downcast_ref::<AggregateExec>() {
        let groups = aggregate.group_expr();
        if groups.expr().is_empty() || groups.groups().len() != 1 || groups.groups()[0].iter().any(|null| *null) {
            return None;
        }
        return Some((aggregate, index));
    }
    if let Some(projection) = any.downcast_ref::<ProjectionExec>() {
        let column = projection.expr().get(index)?.expr.downcast_ref::<Column>()?;
        return aggregate_output(projection.input(), column.index());
    }
    if let Some(filter) = any.downcast_ref::<FilterExec>() {
        let index = match filter.projection() {
            Some(projection) => *projection.get(index)?,
            None => index,
        };
        return aggregate_output(filter.input(), index);
    }
    if any.downcast_ref::<RepartitionExec>().is_some() || any.downcast_ref::<CoalescePartitionsExec>().is_some() {
        return aggregate_output(plan.children()[0], index);
    }
    None
}

/// `filter` (if any) and `build = probe` for each pair of columns.
fn with_equalities(
    filter: Option<&JoinFilter>,
    pairs: &[(Column, Column)],
    left: &Schema,
    right: &Schema,
) -> JoinFilter {
    let (mut conjuncts, mut indices, mut fields) = match filter {
        Some(f) => (
            vec![f.expression().clone()],
            f.column_indices().to_vec(),
            f.schema().fields().iter().map(|f| f.as_ref().clone()).collect::<Vec<Field>>(),
        ),
        None => (Vec::new(), Vec::new(), Vec::new()),
    };
    for (build, probe) in pairs {
        let mut side_column = |column: &Column, side: JoinSide, schema: &Schema| -> Arc<dyn PhysicalExpr> {
            indices.push(ColumnIndex { index: column.index(), side });
            fields.push(schema.field(column.index()).clone());
            Arc::new(Column::new(column.name(), fields.len() - 1))
        };
        let build = side_column(build, JoinSide::Left, left);
        let probe = side_column(probe, JoinSide::Right, right);
        conjuncts.push(Arc::new(BinaryExpr::new(build, Operator::Eq, probe)));
    }
    JoinFilter::new(conjunction(conjuncts), indices, Arc::new(Schema::new(fields)))
}

/// A partitioned hash join builds on the side DataFusion's `JoinSelection` finds smaller by its
/// estimated bytes, which it inherits from inputs that had more columns: TPC-H q21's anti join
/// built its hash table on lineitem's 3.8 M late lines (estimated 5.9 M rows) against the
/// 240 thousand rows (estimated) of the semi join it filters, whose byte estimate came out larger.
/// This rule, right after `JoinSelection`, swaps a partitioned join's sides when its build side
/// has more than [`SWAP_ABOVE`] times the estimated rows of its probe side.
#[derive(Debug, Default)]
pub(crate) struct BuildSmallerRows;

/// How many times the probe side's estimated rows the build side must have to be swapped.
const SWAP_ABOVE: f64 = 4.0;

impl PhysicalOptimizerRule for BuildSmallerRows {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, config: &ConfigOptions) -> DFResult<Arc<dyn ExecutionPlan>> {
        if !config.optimizer.join_reordering {
            return Ok(plan);
        }
        rewrite_hash_joins(plan, build_smaller_rows)
    }

    fn name(&self) -> &str {
        "tarn_build_smaller_rows"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// `join` with its sides swapped when its build side has far more estimated rows.
fn build_smaller_rows(join: &HashJoinExec) -> DFResult<Option<Arc<dyn ExecutionPlan>>> {
    if join.mode != PartitionMode::Partitioned || !join.join_type().supports_swap() || join.null_aware {
        return Ok(None);
    }
    // A fresh context per join: the tree is rewritten as the rule goes.
    let statistics = StatisticsContext::new();
    let rows = |side: &Arc<dyn ExecutionPlan>| -> DFResult<Option<f64>> {
        Ok(statistics.compute(side.as_ref(), &StatisticsArgs::new())?.num_rows.get_value().map(|r| *r as f64))
    };
    match (rows(join.left())?, rows(join.right())?) {
        (Some(build), Some(probe)) if build > probe * SWAP_ABOVE => {
            Ok(Some(join.swap_inputs(PartitionMode::Partitioned)?))
        }
        _ => Ok(None),
    }
}

/// What a rule makes of one hash join (`None`: it keeps it).
type JoinRewrite = fn(&HashJoinExec) -> DFResult<Option<Arc<dyn ExecutionPlan>>>;

/// `plan` with each hash join replaced by what `rewrite` makes of it, inner joins first.
fn rewrite_hash_joins(plan: Arc<dyn ExecutionPlan>, rewrite: JoinRewrite) -> DFResult<Arc<dyn ExecutionPlan>> {
    plan.transform_up(|node| {
        let rewritten = match node.downcast_ref::<HashJoinExec>() {
            Some(join) => rewrite(join)?,
            None => None,
        };
        Ok(match rewritten {
            Some(rewritten) => Transformed::yes(rewritten),
            None => Transformed::no(node),
        })
    })
    .map(|t| t.data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::DataType;
    use datafusion::common::stats::Precision;
    use datafusion::common::{ColumnStatistics, Statistics};
    use datafusion::physical_plan::test::exec::StatisticsExec;

    fn side(name: &str, rows: usize, bytes: usize) -> Arc<dyn ExecutionPlan> {
        let schema = Schema::new(vec![Field::new(name, DataType::Int64, true)]);
        let stats = Statistics {
            num_rows: Precision::Inexact(rows),
            total_byte_size: Precision::Inexact(bytes),
            column_statistics: vec![ColumnStatistics::new_unknown()],
        };
        Arc::new(StatisticsExec::new(stats, schema))
    }

    /// An anti join on `k = p`, partitioned, building on `left`.
    fn anti_join(left: Arc<dyn ExecutionPlan>, right: Arc<dyn ExecutionPlan>) -> Arc<dyn ExecutionPlan> {
        let on =
            vec![(Arc::new(Column::new("k", 0)) as PhysicalExprRef, Arc::new(Column::new("p", 0)) as PhysicalExprRef)];
        HashJoinExecBuilder::new(left, right, on, JoinType::LeftAnti)
            .with_partition_mode(PartitionMode::Partitioned)
            .build_exec()
            .unwrap()
    }

    fn build_rows(plan: &Arc<dyn ExecutionPlan>) -> (JoinType, usize) {
        let join = plan.downcast_ref::<HashJoinExec>().expect("a hash join");
        let rows = StatisticsContext::new().compute(join.left().as_ref(), &StatisticsArgs::new()).unwrap().num_rows;
        (*join.join_type(), *rows.get_value().unwrap())
    }

    #[test]
    fn a_partitioned_join_builds_on_the_side_with_far_fewer_rows() {
        // Bytes say the left is smaller (as JoinSelection sees it); rows say it is 100 times larger.
        let plan = anti_join(side("k", 1_000_000, 10 << 20), side("p", 10_000, 100 << 20));
        let swapped = BuildSmallerRows.optimize(plan, &ConfigOptions::default()).unwrap();
        assert_eq!(build_rows(&swapped), (JoinType::RightAnti, 10_000));

        // Within four times, JoinSelection's choice stands.
        let plan = anti_join(side("k", 30_000, 10 << 20), side("p", 10_000, 100 << 20));
        let kept = BuildSmallerRows.optimize(plan, &ConfigOptions::default()).unwrap();
        assert_eq!(build_rows(&kept), (JoinType::LeftAnti, 30_000));

        // `join_reordering = false` keeps every side as written.
        let mut config = ConfigOptions::default();
        config.optimizer.join_reordering = false;
        let plan = anti_join(side("k", 1_000_000, 10 << 20), side("p", 10_000, 100 << 20));
        assert_eq!(build_rows(&BuildSmallerRows.optimize(plan, &config).unwrap()), (JoinType::LeftAnti, 1_000_000));
    }
}
