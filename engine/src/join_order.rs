//! A physical optimizer rule: the order of inner joins, chosen from statistics.
//!
//! DataFusion joins tables in the order the query writes them (its `JoinSelection` only picks
//! which side of each join builds the hash table). Analysts write joins in the order they think
//! of them: TPC-DS q72 joins `catalog_sales` to `inventory` on the item alone first (about 900
//! million rows at SF 1) and only later to the dates that cut both down to a week, so it ran
//! 100 times slower than DuckDB, which orders joins by their estimated sizes.
//!
//! This rule takes each region of inner hash joins (with the filters and column-only
//! projections between them), estimates every relation's rows from its statistics (the
//! catalog's row counts and column ranges, narrowed by the filters above the scans) and
//! rebuilds the region greedily: of all pairs of relations a join predicate connects, it joins
//! the pair with the smallest estimated result first, and goes on until one relation is left
//! (no cross products; bushy trees allowed). Each join's size is estimated as
//! `|L| * |R| / max(ndv(l), ndv(r))` over its most selective key pair, where a column's
//! distinct count comes from statistics (ANALYZE), else from its value range, capped by its
//! relation's rows. The new order is kept only when the written order has a join that
//! multiplies rows (as q72's item-only join does) and the new order's estimated intermediate
//! rows are well below the written order's; a projection on top restores the region's
//! columns. Inner joins and filters commute, so the rows are the same. `SET
//! datafusion.optimizer.join_reordering = false` keeps the written order (as it keeps
//! JoinSelection's sides).

use std::sync::Arc;

use datafusion::arrow::datatypes::{Field, FieldRef, Schema};
use datafusion::common::Result as DFResult;
use datafusion::common::config::ConfigOptions;
use datafusion::common::stats::Precision;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{JoinSide, JoinType, NullEquality};
use datafusion::logical_expr::Operator;
use datafusion::physical_expr::expressions::{BinaryExpr, Column};
use datafusion::physical_expr::utils::{collect_columns, conjunction, split_conjunction};
use datafusion::physical_expr::{PhysicalExpr, PhysicalExprRef};
use datafusion::physical_expr_common::physical_expr::is_volatile;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::filter::FilterExec;
use datafusion::physical_plan::joins::utils::{ColumnIndex, JoinFilter};
use datafusion::physical_plan::joins::{HashJoinExec, PartitionMode};
use datafusion::physical_plan::projection::{ProjectionExec, ProjectionExpr};
use datafusion::physical_plan::statistics::{StatisticsArgs, StatisticsContext};

/// Regions of fewer relations are left alone: `JoinSelection` already orders two.
const MIN_RELATIONS: usize = 3;
/// Relations are sets of bits.
const MAX_RELATIONS: usize = 64;
/// The greedy order replaces the written one when its estimated intermediate rows are below
/// this share of the written order's,
const KEEP_BELOW: f64 = 0.5;
/// and only when a join of the written order multiplies its larger side's rows by this much:
/// joins along foreign keys, however ordered, are left as written (the estimates of filters on
/// strings without distinct counts are guesses; DataFusion's written order probes the fact
/// table with the dimensions' hash tables and their dynamic filters, which is rarely bad).
const MIN_GROWTH: f64 = 10.0;

/// DataFusion's physical optimizer rules with [`ReorderJoins`] before `JoinSelection` (which
/// then picks each join's build side from the new order's statistics).
pub(crate) fn with_default_rules() -> Vec<Arc<dyn PhysicalOptimizerRule + Send + Sync>> {
    let mut rules = datafusion::physical_optimizer::optimizer::PhysicalOptimizer::new().rules;
    let at = rules.iter().position(|r| r.name() == "join_selection").unwrap_or(0);
    rules.insert(at, Arc::new(ReorderJoins));
    rules
}

/// Orders inner joins by estimated size (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct ReorderJoins;

impl PhysicalOptimizerRule for ReorderJoins {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, config: &ConfigOptions) -> DFResult<Arc<dyn ExecutionPlan>> {
        // DataFusion's switch for "the original join order in the query is used".
        if !config.optimizer.join_reordering {
            return Ok(plan);
        }
        reorder(plan).map(|t| t.data)
    }

    fn name(&self) -> &str {
        "tarn_reorder_joins"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// `plan` with every join region in it reordered, inner regions first (subtrees nothing
/// changed in are kept as they are).
fn reorder(plan: Arc<dyn ExecutionPlan>) -> DFResult<Transformed<Arc<dyn ExecutionPlan>>> {
    if !reorderable(&plan) {
        return plan.map_children(reorder);
    }
    let mut region = Region::default();
    let Some(root_ids) = region.collect(&plan)? else { return plan.map_children(reorder) };
    // The relations' own subtrees first (a subquery may hold a region of its own).
    let leaves = region.leaves.into_iter().map(reorder).collect::<DFResult<Vec<_>>>()?;
    let changed = leaves.iter().any(|leaf| leaf.transformed);
    region.leaves = leaves.into_iter().map(|leaf| leaf.data).collect();
    match region.rebuild(&plan, &root_ids)? {
        Some(reordered) => Ok(Transformed::yes(reordered)),
        None if changed => with_leaves(plan, &mut region.leaves.into_iter()).map(Transformed::yes),
        None => Ok(Transformed::no(plan)),
    }
}

/// The region under `plan` in its written order, over `leaves` (its relations, in the order
/// [`Region::collect`] found them).
fn with_leaves(
    plan: Arc<dyn ExecutionPlan>,
    leaves: &mut impl Iterator<Item = Arc<dyn ExecutionPlan>>,
) -> DFResult<Arc<dyn ExecutionPlan>> {
    if reorderable(&plan) || passes_through(&plan).is_some() {
        return plan.map_children(|c| with_leaves(c, leaves).map(Transformed::yes)).map(|t| t.data);
    }
    Ok(leaves.next().unwrap_or(plan))
}

/// An inner hash join the rule may move: no projection, limit or null-matching keys of its own.
fn reorderable(plan: &Arc<dyn ExecutionPlan>) -> bool {
    plan.downcast_ref::<HashJoinExec>().is_some_and(|join| {
        join.join_type == JoinType::Inner
            && join.projection.is_none()
            && join.null_equality == NullEquality::NullEqualsNothing
            && !join.null_aware
            && join.fetch().is_none()
    })
}

/// A filter or column-only projection over a region's join (or over another such node).
fn passes_through(plan: &Arc<dyn ExecutionPlan>) -> Option<&Arc<dyn ExecutionPlan>> {
    let input = if let Some(filter) = plan.downcast_ref::<FilterExec>() {
        (filter.projection().is_none() && filter.fetch().is_none()).then(|| filter.input())?
    } else if let Some(projection) = plan.downcast_ref::<ProjectionExec>() {
        projection.expr().iter().all(|e| e.expr.downcast_ref::<Column>().is_some()).then(|| projection.input())?
    } else {
        return None;
    };
    (reorderable(input) || passes_through(input).is_some()).then_some(input)
}

/// A predicate over the region's columns, numbered across all its relations.
struct Conjunct {
    expr: Arc<dyn PhysicalExpr>,
    /// The relations it reads.
    relations: u64,
    /// `left = right` over two disjoint sets of relations: a possible join key.
    key: Option<Key>,
}

/// The two sides of an equality, with the relations each reads.
struct Key {
    left: Arc<dyn PhysicalExpr>,
    right: Arc<dyn PhysicalExpr>,
    left_relations: u64,
    right_relations: u64,
}

impl Key {
    /// The key's sides as (`a`'s, `b`'s) when relations `a` hold one side and `b` the other.
    fn between(&self, a: u64, b: u64) -> Option<(&PhysicalExprRef, &PhysicalExprRef)> {
        if self.left_relations & !a == 0 && self.right_relations & !b == 0 {
            Some((&self.left, &self.right))
        } else if self.right_relations & !a == 0 && self.left_relations & !b == 0 {
            Some((&self.right, &self.left))
        } else {
            None
        }
    }
}

#[derive(Default)]
struct Region {
    /// The relations (inputs that are not part of the region).
    leaves: Vec<Arc<dyn ExecutionPlan>>,
    /// Every relation's columns, one after the other: a column's global id is its index here.
    fields: Vec<FieldRef>,
    /// The relation each global column belongs to.
    owner: Vec<usize>,
    /// Each relation's first global id.
    starts: Vec<usize>,
    conjuncts: Vec<Arc<dyn PhysicalExpr>>,
    /// The written order: each join's two sides, as sets of relations.
    written: Vec<(u64, u64)>,
}

impl Region {
    /// Walks the region under `plan`, gathering relations and predicates; returns the global
    /// ids of `plan`'s columns, or None when the region cannot be reordered.
    fn collect(&mut self, plan: &Arc<dyn ExecutionPlan>) -> DFResult<Option<Vec<usize>>> {
        if let Some(join) = plan.downcast_ref::<HashJoinExec>().filter(|_| reorderable(plan)) {
            // Relations are numbered in the order they are found: each side's are a range.
            let start = self.leaves.len();
            let Some(left) = self.collect(&join.left)? else { return Ok(None) };
            let middle = self.leaves.len();
            let Some(right) = self.collect(&join.right)? else { return Ok(None) };
            let range = |from: usize, to: usize| (from..to).fold(0u64, |set, r| set | 1 << r);
            self.written.push((range(start, middle), range(middle, self.leaves.len())));
            for (l, r) in &join.on {
                let l = renumber(l, |i| left[i], &self.fields)?;
                let r = renumber(r, |i| right[i], &self.fields)?;
                self.conjuncts.push(Arc::new(BinaryExpr::new(l, Operator::Eq, r)));
            }
            if let Some(filter) = &join.filter {
                let ids: Vec<usize> = filter
                    .column_indices()
                    .iter()
                    .map(|c| if c.side == JoinSide::Left { left[c.index] } else { right[c.index] })
                    .collect();
                let expr = renumber(filter.expression(), |i| ids[i], &self.fields)?;
                self.conjuncts.extend(split_conjunction(&expr).into_iter().cloned());
            }
            return Ok(Some(left.into_iter().chain(right).collect()));
        }
        if let Some(input) = passes_through(plan) {
            let Some(ids) = self.collect(input)? else { return Ok(None) };
            if let Some(filter) = plan.downcast_ref::<FilterExec>() {
                let expr = renumber(filter.predicate(), |i| ids[i], &self.fields)?;
                self.conjuncts.extend(split_conjunction(&expr).into_iter().cloned());
                return Ok(Some(ids));
            }
            let projection = plan.downcast_ref::<ProjectionExec>().expect("passes_through takes projections");
            let columns = projection.expr().iter().map(|e| e.expr.downcast_ref::<Column>().expect("a column"));
            return Ok(Some(columns.map(|c| ids[c.index()]).collect()));
        }
        if self.leaves.len() == MAX_RELATIONS {
            return Ok(None);
        }
        let relation = self.leaves.len();
        let first = self.fields.len();
        self.fields.extend(plan.schema().fields().iter().cloned());
        self.owner.resize(self.fields.len(), relation);
        self.starts.push(first);
        self.leaves.push(plan.clone());
        Ok(Some((first..self.fields.len()).collect()))
    }

    fn relations_read(&self, expr: &Arc<dyn PhysicalExpr>) -> u64 {
        collect_columns(expr).iter().fold(0, |set, c| set | 1 << self.owner[c.index()])
    }

    /// The region joined in the greedy order, with `root`'s columns, or None to keep the
    /// written order.
    fn rebuild(&self, root: &Arc<dyn ExecutionPlan>, root_ids: &[usize]) -> DFResult<Option<Arc<dyn ExecutionPlan>>> {
        if self.leaves.len() < MIN_RELATIONS || self.conjuncts.iter().any(is_volatile) {
            return Ok(None);
        }
        let conjuncts: Vec<Conjunct> = self.conjuncts.iter().map(|expr| self.conjunct(expr)).collect();
        let statistics = StatisticsContext::new();
        let mut estimates = Vec::with_capacity(self.leaves.len());
        for relation in 0..self.leaves.len() {
            let Some(estimate) = self.leaf_estimate(&statistics, relation)? else { return Ok(None) };
            estimates.push(estimate);
        }
        let Some((written, growth)) = written_cost(&estimates, &conjuncts, &self.written) else { return Ok(None) };
        if growth < MIN_GROWTH {
            return Ok(None);
        }
        let Some(greedy) = greedy_order(&estimates, &conjuncts) else { return Ok(None) };
        if greedy.cost >= written * KEEP_BELOW || greedy.cost.is_nan() {
            return Ok(None);
        }
        let mode = root.downcast_ref::<HashJoinExec>().map_or(PartitionMode::Auto, |j| j.mode);
        let mut components: Vec<Option<Built>> = self
            .leaves
            .iter()
            .enumerate()
            .map(|(relation, leaf)| {
                let first = self.starts[relation];
                let ids = (first..first + leaf.schema().fields().len()).collect();
                Some(Built { plan: leaf.clone(), ids, relations: 1 << relation })
            })
            .collect();
        let mut applied = vec![false; conjuncts.len()];
        let mut last = 0;
        for step in greedy.steps {
            let (x, y) =
                (components[step.a].take().expect("a component"), components[step.b].take().expect("a component"));
            components[step.a] = Some(self.join(x, y, step.rows, &conjuncts, &mut applied, mode)?);
            last = step.a;
        }
        let joined = components[last].take().expect("the joined region");
        if applied.iter().any(|a| !a) {
            return Ok(None);
        }
        // The region's columns, in its order and with its names.
        let (schema, joined_schema) = (root.schema(), joined.plan.schema());
        let exprs: Vec<ProjectionExpr> = root_ids
            .iter()
            .enumerate()
            .map(|(at, id)| {
                let position = joined.ids.iter().position(|i| i == id).expect("every column is joined");
                let column = Column::new(joined_schema.field(position).name(), position);
                ProjectionExpr { expr: Arc::new(column), alias: schema.field(at).name().clone() }
            })
            .collect();
        Ok(Some(Arc::new(ProjectionExec::try_new(exprs, joined.plan)?)))
    }

    fn conjunct(&self, expr: &Arc<dyn PhysicalExpr>) -> Conjunct {
        let relations = self.relations_read(expr);
        let key = expr.downcast_ref::<BinaryExpr>().filter(|b| *b.op() == Operator::Eq).and_then(|b| {
            let (l, r) = (self.relations_read(b.left()), self.relations_read(b.right()));
            (l != 0 && r != 0 && l & r == 0).then(|| Key {
                left: b.left().clone(),
                right: b.right().clone(),
                left_relations: l,
                right_relations: r,
            })
        });
        Conjunct { expr: expr.clone(), relations, key }
    }

    /// A relation's rows and its columns' distinct counts, or None without a row estimate.
    fn leaf_estimate(&self, statistics: &StatisticsContext, relation: usize) -> DFResult<Option<Estimate>> {
        let stats = statistics.compute(self.leaves[relation].as_ref(), &StatisticsArgs::new())?;
        let rows = match stats.num_rows {
            Precision::Exact(n) | Precision::Inexact(n) => n.max(1) as f64,
            Precision::Absent => return Ok(None),
        };
        let first = self.starts[relation];
        let distinct = stats
            .column_statistics
            .iter()
            .enumerate()
            .map(|(at, column)| {
                let counted = column.distinct_count.get_value().map(|n| *n as f64);
                let ranged = match (column.min_value.get_value(), column.max_value.get_value()) {
                    (Some(min), Some(max)) => min.distance(max).map(|d| d as f64 + 1.0),
                    _ => None,
                };
                (first + at, counted.or(ranged).unwrap_or(rows).min(rows).max(1.0))
            })
            .collect();
        Ok(Some(Estimate { relations: 1 << relation, rows, distinct }))
    }

    /// Joins two built components on the keys between them, filtering with every predicate
    /// they together are the first to read.
    fn join(
        &self,
        x: Built,
        y: Built,
        (x_rows, y_rows): (f64, f64),
        conjuncts: &[Conjunct],
        applied: &mut [bool],
        mode: PartitionMode,
    ) -> DFResult<Built> {
        // The smaller side on the left, where the hash table is built (JoinSelection may swap).
        let (left, right) = if x_rows <= y_rows { (x, y) } else { (y, x) };
        let both = left.relations | right.relations;
        let local = |expr: &Arc<dyn PhysicalExpr>, ids: &[usize], plan: &Arc<dyn ExecutionPlan>| {
            let position = |id| ids.iter().position(|i| *i == id).expect("a column of this side");
            renumber(expr, position, plan.schema().fields())
        };
        let mut on = Vec::new();
        let mut filters = Vec::new();
        for (at, conjunct) in conjuncts.iter().enumerate() {
            if applied[at] || conjunct.relations & !both != 0 {
                continue;
            }
            applied[at] = true;
            match conjunct.key.as_ref().and_then(|key| key.between(left.relations, right.relations)) {
                Some((l, r)) => on.push((local(l, &left.ids, &left.plan)?, local(r, &right.ids, &right.plan)?)),
                None => filters.push(conjunct.expr.clone()),
            }
        }
        let filter = if filters.is_empty() {
            None
        } else {
            let expr = conjunction(filters);
            let mut read: Vec<usize> = collect_columns(&expr).iter().map(Column::index).collect();
            read.sort_unstable();
            let (left_schema, right_schema) = (left.plan.schema(), right.plan.schema());
            let mut indices = Vec::with_capacity(read.len());
            let mut fields: Vec<Field> = Vec::with_capacity(read.len());
            for id in &read {
                let (index, side, schema) = match left.ids.iter().position(|i| i == id) {
                    Some(index) => (index, JoinSide::Left, &left_schema),
                    None => (
                        right.ids.iter().position(|i| i == id).expect("a joined column"),
                        JoinSide::Right,
                        &right_schema,
                    ),
                };
                indices.push(ColumnIndex { index, side });
                fields.push(schema.field(index).clone());
            }
            let schema = Arc::new(Schema::new(fields));
            let position = |id| read.iter().position(|i| *i == id).expect("a read column");
            let expr = renumber(&expr, position, schema.fields())?;
            Some(JoinFilter::new(expr, indices, schema))
        };
        let ids: Vec<usize> = left.ids.iter().chain(&right.ids).copied().collect();
        let plan = HashJoinExec::try_new(
            left.plan,
            right.plan,
            on,
            filter,
            &JoinType::Inner,
            None,
            mode,
            NullEquality::NullEqualsNothing,
            false,
        )?;
        Ok(Built { plan: Arc::new(plan), ids, relations: both })
    }
}

/// `expr` with each column `i` renumbered to `id(i)`, named after that field of `fields`.
fn renumber(
    expr: &Arc<dyn PhysicalExpr>,
    id: impl Fn(usize) -> usize,
    fields: &[FieldRef],
) -> DFResult<Arc<dyn PhysicalExpr>> {
    expr.clone()
        .transform(|e| match e.downcast_ref::<Column>() {
            Some(c) => {
                let at = id(c.index());
                Ok(Transformed::yes(Arc::new(Column::new(fields[at].name(), at)) as Arc<dyn PhysicalExpr>))
            }
            None => Ok(Transformed::no(e)),
        })
        .map(|t| t.data)
}

/// A joined part of the region: its plan, the global ids of its columns and its relations.
struct Built {
    plan: Arc<dyn ExecutionPlan>,
    ids: Vec<usize>,
    relations: u64,
}

/// A relation or a join of relations: its estimated rows and distinct counts per global column.
#[derive(Clone)]
struct Estimate {
    relations: u64,
    rows: f64,
    distinct: Vec<(usize, f64)>,
}

impl Estimate {
    fn distinct_of(&self, expr: &Arc<dyn PhysicalExpr>) -> f64 {
        match expr.downcast_ref::<Column>() {
            Some(c) => self.distinct.iter().find(|(id, _)| *id == c.index()).map_or(self.rows, |(_, n)| *n),
            None => self.rows,
        }
    }

    /// The estimated join with `other` on the keys between them, or None when no key connects
    /// them.
    fn join(&self, other: &Estimate, conjuncts: &[Conjunct]) -> Option<Estimate> {
        let mut denominator: Option<f64> = None;
        let keys = conjuncts.iter().filter_map(|c| c.key.as_ref()?.between(self.relations, other.relations));
        for (mine, theirs) in keys {
            let distinct = self.distinct_of(mine).max(other.distinct_of(theirs));
            denominator = Some(denominator.unwrap_or(1.0).max(distinct));
        }
        let rows = (self.rows * other.rows / denominator?).max(1.0);
        let distinct = self.distinct.iter().chain(&other.distinct).map(|(id, n)| (*id, n.min(rows))).collect();
        Some(Estimate { relations: self.relations | other.relations, rows, distinct })
    }
}

/// The greedy order: its steps and their estimated intermediate rows.
struct Greedy {
    steps: Vec<Step>,
    cost: f64,
}

/// Join components `a` and `b` (the result takes `a`'s place), of these estimated rows.
struct Step {
    a: usize,
    b: usize,
    rows: (f64, f64),
}

fn greedy_order(leaves: &[Estimate], conjuncts: &[Conjunct]) -> Option<Greedy> {
    let mut components: Vec<Option<Estimate>> = leaves.iter().cloned().map(Some).collect();
    let mut steps = Vec::new();
    let mut cost = 0.0;
    for _ in 1..leaves.len() {
        let mut best: Option<(usize, usize, Estimate)> = None;
        for a in 0..components.len() {
            for b in a + 1..components.len() {
                let (Some(x), Some(y)) = (&components[a], &components[b]) else { continue };
                let Some(joined) = x.join(y, conjuncts) else { continue };
                let better = best.as_ref().is_none_or(|(_, _, e)| joined.rows < e.rows);
                if better {
                    best = Some((a, b, joined));
                }
            }
        }
        // Relations no key connects: keep the written order.
        let (a, b, joined) = best?;
        let rows = (components[a].as_ref()?.rows, components[b].as_ref()?.rows);
        cost += joined.rows;
        components[a] = Some(joined);
        components[b] = None;
        steps.push(Step { a, b, rows });
    }
    Some(Greedy { steps, cost })
}

/// The written order by the same estimates: its intermediate rows, and the most any of its
/// joins multiplies the rows of its larger side (None when a side cannot be estimated).
fn written_cost(leaves: &[Estimate], conjuncts: &[Conjunct], written: &[(u64, u64)]) -> Option<(f64, f64)> {
    let mut known: Vec<Estimate> = leaves.to_vec();
    let (mut cost, mut growth) = (0.0, 0.0f64);
    for (left, right) in written {
        let l = known.iter().find(|e| e.relations == *left)?.clone();
        let r = known.iter().find(|e| e.relations == *right)?.clone();
        let joined = l.join(&r, conjuncts).unwrap_or_else(|| Estimate {
            relations: l.relations | r.relations,
            rows: l.rows * r.rows,
            distinct: l.distinct.iter().chain(&r.distinct).cloned().collect(),
        });
        cost += joined.rows;
        growth = growth.max(joined.rows / l.rows.max(r.rows));
        known.push(joined);
    }
    Some((cost, growth))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(relation: usize, rows: f64, distinct: &[(usize, f64)]) -> Estimate {
        Estimate { relations: 1 << relation, rows, distinct: distinct.to_vec() }
    }

    /// `column l of relation a = column r of relation b`.
    fn key((l, a): (usize, usize), (r, b): (usize, usize)) -> Conjunct {
        let (left, right): (Arc<dyn PhysicalExpr>, Arc<dyn PhysicalExpr>) =
            (Arc::new(Column::new("l", l)), Arc::new(Column::new("r", r)));
        let (left_relations, right_relations) = (1 << a, 1 << b);
        Conjunct {
            expr: Arc::new(BinaryExpr::new(left.clone(), Operator::Eq, right.clone())),
            relations: left_relations | right_relations,
            key: Some(Key { left, right, left_relations, right_relations }),
        }
    }

    #[test]
    fn joins_the_filtered_dimension_before_the_big_fact_table() {
        // fact(0: item, 1: date) with 1.4M rows; inventory(2: item) 11.7M; dates(3: sk) 365 of
        // 73k after a filter.
        let leaves = [
            leaf(0, 1.4e6, &[(0, 18_000.0), (1, 1_800.0)]),
            leaf(1, 11.7e6, &[(2, 18_000.0)]),
            leaf(2, 365.0, &[(3, 365.0)]),
        ];
        let conjuncts = [key((0, 0), (2, 1)), key((1, 0), (3, 2))];
        let greedy = greedy_order(&leaves, &conjuncts).unwrap();
        assert_eq!((greedy.steps[0].a, greedy.steps[0].b), (0, 2), "fact joins the dates first");
        let (written, growth) = written_cost(&leaves, &conjuncts, &[(0b001, 0b010), (0b011, 0b100)]).unwrap();
        assert!(greedy.cost < written * KEEP_BELOW, "{} vs {written}", greedy.cost);
        assert!(growth > MIN_GROWTH, "fact to inventory on the item alone multiplies rows: {growth}");
    }

    #[test]
    fn relations_no_key_connects_keep_the_written_order() {
        let leaves = [leaf(0, 10.0, &[(0, 10.0)]), leaf(1, 10.0, &[(1, 10.0)]), leaf(2, 10.0, &[(2, 10.0)])];
        assert!(greedy_order(&leaves, &[key((0, 0), (1, 1))]).is_none());
    }
}
