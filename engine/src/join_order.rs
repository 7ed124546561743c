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
//! catalog's row counts, column ranges and ANALYZE's distinct counts, narrowed by the filters
//! above the scans: an equality with a literal keeps `1 / distinct` of the rows, as in
//! [`crate::filter_selectivity`]) and rebuilds the region in the order with the fewest
//! estimated intermediate rows: every bushy tree without cross products, by dynamic programming
//! over subsets of up to ten relations, greedily (smallest join first) beyond. Equalities make classes of equal columns, so a join may use an
//! equality the query implies but does not write (TPC-H q5's `c_nationkey = s_nationkey AND
//! s_nationkey = n_nationkey` lets the region's nations cut the customers before their orders
//! meet lineitem). Each join's size is estimated as `|L| * |R| / max(ndv(l), ndv(r))` over its
//! most selective key pair, where a column's distinct count comes from statistics (ANALYZE),
//! else from its value range, capped by its relation's rows.
//!
//! The new order is kept when its estimated intermediate rows are well below the written
//! order's, and either every join key's distinct count was counted (ANALYZE, or COPY's
//! `STATUPDATE ON`) or the written order has a join that multiplies rows (as q72's item-only
//! join does). Without counts, a foreign key's distinct values are guessed from its range
//! (`l_orderkey`: 6 M where 1.5 M orders exist), which makes joins along foreign keys look
//! selective when they are not; the written order, which probes the fact table with the
//! dimensions' hash tables and their dynamic filters, is then rarely bad. A projection on top
//! restores the region's columns. Inner joins and filters commute, so the rows are the same.
//! `SET datafusion.optimizer.join_reordering = false` keeps the written order (as it keeps
//! JoinSelection's sides).

use std::sync::Arc;

use datafusion::arrow::datatypes::{Field, FieldRef, Schema};
use datafusion::common::Result as DFResult;
use datafusion::common::config::ConfigOptions;
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
use datafusion::physical_plan::statistics::StatisticsContext;

use crate::filter_selectivity::{FilterSelectivity, MergeStackedFilters, columns_estimate};
use crate::join_keys::{BuildSmallerRows, KeysThroughAggregates};

/// Regions of fewer relations are left alone: `JoinSelection` already orders two.
const MIN_RELATIONS: usize = 3;
/// Relations are sets of bits.
const MAX_RELATIONS: usize = 64;
/// Regions of up to this many relations are ordered by trying every split of every connected
/// subset (3^n pairs); larger ones greedily.
const MAX_EXHAUSTIVE: usize = 10;
/// The greedy order replaces the written one when its estimated intermediate rows are below
/// this share of the written order's,
const KEEP_BELOW: f64 = 0.5;
/// and, unless the join keys' distinct counts were counted, only when a join of the written
/// order multiplies its larger side's rows by this much (see the module docs).
const MIN_GROWTH: f64 = 10.0;

/// DataFusion's physical optimizer rules with [`FilterSelectivity`] and [`ReorderJoins`] before
/// `JoinSelection` (which then picks each join's build side from the new order's statistics),
/// and [`BuildSmallerRows`] and [`KeysThroughAggregates`] right after it (before repartitions are
/// placed on join keys), then [`MergeStackedFilters`] (the last rule to read the estimates).
pub(crate) fn with_default_rules() -> Vec<Arc<dyn PhysicalOptimizerRule + Send + Sync>> {
    let mut rules = datafusion::physical_optimizer::optimizer::PhysicalOptimizer::new().rules;
    let at = rules.iter().position(|r| r.name() == "join_selection").unwrap_or(0);
    rules.insert(at + 1, Arc::new(MergeStackedFilters));
    rules.insert(at + 1, Arc::new(KeysThroughAggregates));
    rules.insert(at + 1, Arc::new(BuildSmallerRows));
    rules.insert(at, Arc::new(ReorderJoins));
    rules.insert(at, Arc::new(FilterSelectivity));
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
    /// The class of equal columns it belongs to, when it equates two columns (see [`Class`]).
    class: Option<usize>,
}

/// Columns that the region's equalities make equal (`c_nationkey = s_nationkey AND
/// s_nationkey = n_nationkey`): any two of them from different sides can key a join, so
/// customer may meet nation directly. Each member is a global column id with its relation's
/// bit; a class holds at most one column per relation, so that joining two parts on one pair
/// of members makes every member of the union equal (each part's members already are).
struct Class {
    members: Vec<(usize, u64)>,
}

/// The predicates that connect the region's relations.
struct Graph {
    conjuncts: Vec<Conjunct>,
    classes: Vec<Class>,
}

impl Graph {
    /// Groups the column equalities of `conjuncts` into classes; a class that would hold two
    /// columns of one relation (or columns of different types) is left as plain conjuncts.
    fn new(mut conjuncts: Vec<Conjunct>, fields: &[FieldRef], owner: &[usize]) -> Self {
        let pair = |c: &Conjunct| {
            let key = c.key.as_ref()?;
            let (l, r) = (key.left.downcast_ref::<Column>()?, key.right.downcast_ref::<Column>()?);
            (fields[l.index()].data_type() == fields[r.index()].data_type()).then(|| (l.index(), r.index()))
        };
        // Union-find over global column ids.
        let mut parent: Vec<usize> = (0..fields.len()).collect();
        fn root(parent: &mut [usize], mut at: usize) -> usize {
            while parent[at] != at {
                parent[at] = parent[parent[at]];
                at = parent[at];
            }
            at
        }
        for (l, r) in conjuncts.iter().filter_map(pair) {
            let (a, b) = (root(&mut parent, l), root(&mut parent, r));
            parent[a] = b;
        }
        let mut by_root: Vec<Option<usize>> = vec![None; fields.len()];
        let mut classes: Vec<Class> = Vec::new();
        for conjunct in conjuncts.iter_mut() {
            let Some((l, r)) = pair(conjunct) else { continue };
            let at = root(&mut parent, l);
            let class = *by_root[at].get_or_insert_with(|| {
                classes.push(Class { members: Vec::new() });
                classes.len() - 1
            });
            for id in [l, r] {
                let member = (id, 1u64 << owner[id]);
                if !classes[class].members.contains(&member) {
                    classes[class].members.push(member);
                }
            }
            conjunct.class = Some(class);
        }
        // One column per relation, or the class is not used (its equalities stay plain keys).
        for (at, class) in classes.iter_mut().enumerate() {
            let relations = class.members.iter().fold(0u64, |set, (_, r)| set | r);
            if relations.count_ones() as usize != class.members.len() {
                class.members.clear();
                conjuncts.iter_mut().filter(|c| c.class == Some(at)).for_each(|c| c.class = None);
            }
        }
        Graph { conjuncts, classes }
    }

    /// The join keys between relations `a` and `b`, as (`a`'s side, `b`'s side): one pair per
    /// class with members on both sides, then the equalities outside classes.
    fn keys_between(&self, a: u64, b: u64) -> impl Iterator<Item = (PhysicalExprRef, PhysicalExprRef)> + '_ {
        let classes = self.classes.iter().filter_map(move |class| {
            let side = |set: u64| class.members.iter().find(|(_, r)| r & set != 0).map(|(id, _)| *id);
            let (x, y) = (side(a)?, side(b)?);
            Some((column_ref(x), column_ref(y)))
        });
        let others = self.conjuncts.iter().filter(|c| c.class.is_none()).filter_map(move |c| {
            let (x, y) = c.key.as_ref()?.between(a, b)?;
            Some((x.clone(), y.clone()))
        });
        classes.chain(others)
    }
}

/// A reference to global column `id` (named by its id: only its index is read).
fn column_ref(id: usize) -> PhysicalExprRef {
    Arc::new(Column::new("", id))
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
        let conjuncts = self.conjuncts.iter().map(|expr| self.conjunct(expr)).collect();
        let graph = Graph::new(conjuncts, &self.fields, &self.owner);
        let statistics = StatisticsContext::new();
        let mut estimates = Vec::with_capacity(self.leaves.len());
        // Per global column: whether its distinct count was counted (ANALYZE), not guessed.
        let mut counted = Vec::with_capacity(self.fields.len());
        for (relation, leaf) in self.leaves.iter().enumerate() {
            let Some(columns) = columns_estimate(&statistics, leaf)? else { return Ok(None) };
            counted.extend(columns.distinct.iter().map(|d| d.counted));
            let first = self.starts[relation];
            let distinct = columns.distinct.iter().enumerate().map(|(at, d)| (first + at, d.value)).collect();
            estimates.push(Estimate { relations: 1 << relation, rows: columns.rows, distinct });
        }
        let Some((written, growth)) = written_cost(&estimates, &graph, &self.written) else { return Ok(None) };
        if growth < MIN_GROWTH && !keys_counted(&graph, &counted) {
            return Ok(None);
        }
        let order = if estimates.len() <= MAX_EXHAUSTIVE {
            cheapest_order(&estimates, &graph)
        } else {
            greedy_order(&estimates, &graph)
        };
        let Some(order) = order else { return Ok(None) };
        if order.cost >= written * KEEP_BELOW || order.cost.is_nan() {
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
        let mut applied = vec![false; graph.conjuncts.len()];
        let mut last = 0;
        for step in order.steps {
            let (x, y) =
                (components[step.a].take().expect("a component"), components[step.b].take().expect("a component"));
            components[step.a] = Some(self.join(x, y, step.rows, &graph, &mut applied, mode)?);
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
        Conjunct { expr: expr.clone(), relations, key, class: None }
    }

    /// Joins two built components on the keys between them, filtering with every predicate
    /// they together are the first to read.
    fn join(
        &self,
        x: Built,
        y: Built,
        (x_rows, y_rows): (f64, f64),
        graph: &Graph,
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
        for (l, r) in graph.keys_between(left.relations, right.relations) {
            on.push((local(&l, &left.ids, &left.plan)?, local(&r, &right.ids, &right.plan)?));
        }
        // Every predicate the two sides are the first to read: the keys above, and the rest as
        // the join's filter (a class's equalities hold once their relations are joined).
        let mut filters = Vec::new();
        for (at, conjunct) in graph.conjuncts.iter().enumerate() {
            if applied[at] || conjunct.relations & !both != 0 {
                continue;
            }
            applied[at] = true;
            let keyed = conjunct.class.is_some()
                || conjunct.key.as_ref().is_some_and(|key| key.between(left.relations, right.relations).is_some());
            if !keyed {
                filters.push(conjunct.expr.clone());
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

/// Whether every join key of the region is a column whose distinct count was counted (ANALYZE),
/// not guessed from its range (`counted`, per global column).
fn keys_counted(graph: &Graph, counted: &[bool]) -> bool {
    let column_counted = |expr: &PhysicalExprRef| expr.downcast_ref::<Column>().is_some_and(|c| counted[c.index()]);
    let classes = graph.classes.iter().flat_map(|class| &class.members).all(|(id, _)| counted[*id]);
    let mut keys = graph.conjuncts.iter().filter(|c| c.class.is_none()).filter_map(|c| c.key.as_ref());
    classes && keys.all(|key| column_counted(&key.left) && column_counted(&key.right))
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
    /// them: `|L| * |R|` over the largest distinct count of any key's sides.
    fn join(&self, other: &Estimate, graph: &Graph) -> Option<Estimate> {
        let mut denominator: Option<f64> = None;
        for (mine, theirs) in graph.keys_between(self.relations, other.relations) {
            let distinct = self.distinct_of(&mine).max(other.distinct_of(&theirs));
            denominator = Some(denominator.unwrap_or(1.0).max(distinct));
        }
        let rows = (self.rows * other.rows / denominator?).max(1.0);
        let distinct = self.distinct.iter().chain(&other.distinct).map(|(id, n)| (*id, n.min(rows))).collect();
        Some(Estimate { relations: self.relations | other.relations, rows, distinct })
    }
}

/// An order of the region's joins: its steps and their estimated intermediate rows.
struct Order {
    steps: Vec<Step>,
    cost: f64,
}

/// Join components `a` and `b` (the result takes `a`'s place), of these estimated rows.
struct Step {
    a: usize,
    b: usize,
    rows: (f64, f64),
}

/// The order with the fewest estimated intermediate rows among all bushy trees without cross
/// products, by dynamic programming over the subsets of relations (each connected subset's
/// cheapest split into two connected parts that a key joins).
fn cheapest_order(leaves: &[Estimate], graph: &Graph) -> Option<Order> {
    struct Best {
        estimate: Estimate,
        cost: f64,
        split: (u64, u64),
    }
    let all = (1u64 << leaves.len()) - 1;
    let mut best: Vec<Option<Best>> = (0..=all).map(|_| None).collect();
    for (relation, leaf) in leaves.iter().enumerate() {
        best[1 << relation] = Some(Best { estimate: leaf.clone(), cost: 0.0, split: (0, 0) });
    }
    // A subset's parts are numerically smaller than it: ascending order meets them first.
    for set in 1..=all {
        if set.count_ones() < 2 {
            continue;
        }
        let mut found: Option<Best> = None;
        let mut part = (set - 1) & set;
        while part > 0 {
            let rest = set ^ part;
            if part < rest
                && let (Some(x), Some(y)) = (&best[part as usize], &best[rest as usize])
                && let Some(joined) = x.estimate.join(&y.estimate, graph)
            {
                let cost = x.cost + y.cost + joined.rows;
                if found.as_ref().is_none_or(|f| cost < f.cost) {
                    found = Some(Best { estimate: joined, cost, split: (part, rest) });
                }
            }
            part = (part - 1) & set;
        }
        best[set as usize] = found;
    }
    // The steps of the cheapest tree, children first; a joined part sits at its first step's `a`.
    fn steps(best: &[Option<Best>], set: u64, out: &mut Vec<Step>) -> usize {
        let entry = best[set as usize].as_ref().expect("a connected part");
        if set.count_ones() == 1 {
            return set.trailing_zeros() as usize;
        }
        let (x, y) = entry.split;
        let (a, b) = (steps(best, x, out), steps(best, y, out));
        let rows = |part: u64| best[part as usize].as_ref().expect("a connected part").estimate.rows;
        out.push(Step { a, b, rows: (rows(x), rows(y)) });
        a
    }
    let cost = best[all as usize].as_ref()?.cost;
    let mut out = Vec::with_capacity(leaves.len() - 1);
    steps(&best, all, &mut out);
    Some(Order { steps: out, cost })
}

/// For regions too large to enumerate: joins the pair with the smallest estimated result first,
/// until one part is left.
fn greedy_order(leaves: &[Estimate], graph: &Graph) -> Option<Order> {
    let mut components: Vec<Option<Estimate>> = leaves.iter().cloned().map(Some).collect();
    let mut steps = Vec::new();
    let mut cost = 0.0;
    for _ in 1..leaves.len() {
        let mut best: Option<(usize, usize, Estimate)> = None;
        for a in 0..components.len() {
            for b in a + 1..components.len() {
                let (Some(x), Some(y)) = (&components[a], &components[b]) else { continue };
                let Some(joined) = x.join(y, graph) else { continue };
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
    Some(Order { steps, cost })
}

/// The written order by the same estimates: its intermediate rows, and the most any of its
/// joins multiplies the rows of its larger side (None when a side cannot be estimated).
fn written_cost(leaves: &[Estimate], graph: &Graph, written: &[(u64, u64)]) -> Option<(f64, f64)> {
    let mut known: Vec<Estimate> = leaves.to_vec();
    let (mut cost, mut growth) = (0.0, 0.0f64);
    for (left, right) in written {
        let l = known.iter().find(|e| e.relations == *left)?.clone();
        let r = known.iter().find(|e| e.relations == *right)?.clone();
        let joined = l.join(&r, graph).unwrap_or_else(|| Estimate {
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
            class: None,
        }
    }

    /// A graph of plain keys (no classes of equal columns).
    fn plain(conjuncts: Vec<Conjunct>) -> Graph {
        Graph { conjuncts, classes: Vec::new() }
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
        let graph = plain(vec![key((0, 0), (2, 1)), key((1, 0), (3, 2))]);
        let (written, growth) = written_cost(&leaves, &graph, &[(0b001, 0b010), (0b011, 0b100)]).unwrap();
        assert!(growth > MIN_GROWTH, "fact to inventory on the item alone multiplies rows: {growth}");
        for order in [greedy_order(&leaves, &graph).unwrap(), cheapest_order(&leaves, &graph).unwrap()] {
            assert_eq!((order.steps[0].a, order.steps[0].b), (0, 2), "fact joins the dates first");
            assert!(order.cost < written * KEEP_BELOW, "{} vs {written}", order.cost);
        }
    }

    #[test]
    fn relations_no_key_connects_keep_the_written_order() {
        let leaves = [leaf(0, 10.0, &[(0, 10.0)]), leaf(1, 10.0, &[(1, 10.0)]), leaf(2, 10.0, &[(2, 10.0)])];
        let graph = plain(vec![key((0, 0), (1, 1))]);
        assert!(greedy_order(&leaves, &graph).is_none());
        assert!(cheapest_order(&leaves, &graph).is_none());
    }

    /// TPC-H q5's shape: customer(0), orders(1), lineitem(2), supplier(3), nation(4), region(5)
    /// filtered to one row; customer meets nation only through `c_nationkey = s_nationkey AND
    /// s_nationkey = n_nationkey`.
    fn q5() -> (Vec<Estimate>, Vec<Conjunct>, Vec<FieldRef>, Vec<usize>) {
        let leaves = vec![
            leaf(0, 150_000.0, &[(0, 150_000.0), (1, 25.0)]),
            leaf(1, 228_000.0, &[(2, 228_000.0), (3, 100_000.0)]),
            leaf(2, 6.0e6, &[(4, 1.5e6), (5, 10_000.0)]),
            leaf(3, 10_000.0, &[(6, 10_000.0), (7, 25.0)]),
            leaf(4, 25.0, &[(8, 25.0), (9, 5.0)]),
            leaf(5, 1.0, &[(10, 1.0)]),
        ];
        let owner = vec![0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5];
        let fields = (0..owner.len())
            .map(|id| Arc::new(Field::new(format!("c{id}"), datafusion::arrow::datatypes::DataType::Int64, true)))
            .collect();
        let conjuncts = vec![
            key((0, 0), (3, 1)),
            key((2, 1), (4, 2)),
            key((5, 2), (6, 3)),
            key((1, 0), (7, 3)),
            key((7, 3), (8, 4)),
            key((9, 4), (10, 5)),
        ];
        (leaves, conjuncts, fields, owner)
    }

    #[test]
    fn equal_columns_let_a_dimension_filter_reach_the_table_it_cuts() {
        let (leaves, conjuncts, fields, owner) = q5();
        let graph = Graph::new(conjuncts, &fields, &owner);
        let nation_keys = graph.classes.iter().find(|c| c.members.len() == 3).expect("one class of nation keys");
        assert_eq!(nation_keys.members, [(1, 1 << 0), (7, 1 << 3), (8, 1 << 4)]);
        let order = cheapest_order(&leaves, &graph).unwrap();
        // The relations each step has joined: region to nation, then customer to those nations,
        // then orders, lineitem, supplier.
        let mut parts: Vec<u64> = (0..leaves.len()).map(|r| 1 << r).collect();
        let joined: Vec<u64> = order
            .steps
            .iter()
            .map(|step| {
                parts[step.a] |= parts[step.b];
                parts[step.a]
            })
            .collect();
        assert_eq!(joined, [0b110000, 0b110001, 0b110011, 0b110111, 0b111111]);
        let greedy = greedy_order(&leaves, &graph).unwrap();
        assert!(order.cost < greedy.cost, "{} vs greedy {}", order.cost, greedy.cost);
        let (written, _) = written_cost(&leaves, &graph, &[(1, 2), (3, 4), (7, 8), (15, 16), (31, 32)]).unwrap();
        assert!(order.cost < written * KEEP_BELOW, "{} vs written {written}", order.cost);
    }

    #[test]
    fn a_class_with_two_columns_of_one_relation_stays_plain_keys() {
        // a.x = b.y AND a.z = b.y: joining on one pair would not check a.x = a.z.
        let owner = vec![0, 0, 1];
        let fields: Vec<FieldRef> = (0..3)
            .map(|id| Arc::new(Field::new(format!("c{id}"), datafusion::arrow::datatypes::DataType::Int64, true)))
            .collect();
        let graph = Graph::new(vec![key((0, 0), (2, 1)), key((1, 0), (2, 1))], &fields, &owner);
        assert!(graph.conjuncts.iter().all(|c| c.class.is_none()));
        assert_eq!(graph.keys_between(1, 2).count(), 2, "both equalities key the join");
    }
}
