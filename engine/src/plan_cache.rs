//! Plans of repeated queries, kept per session.
//!
//! Planning a TPC-H query takes DataFusion 3 to 8 ms (SQL to logical plan, the logical
//! optimizer, the physical planner listing each scan's files, the physical optimizer): a tenth
//! of a warm query's time, most of it on small ones. Dashboards, scripts and the REPL's history
//! send the same text again and again over data that has not changed, so a session keeps the
//! physical plans of its last [`CAPACITY`] queries and runs a kept one again while nothing it
//! was planned from has changed. Its key ([`PlanKey`]) is what planning reads: the statement
//! (qualified by the search path), the catalog snapshot, the lake catalog's version, the user,
//! and every setting. Only plans that read managed tables alone are kept (their files are
//! fixed by the snapshot; a lake table's files are listed when it is planned), never those
//! with functions that are not immutable (`SYSDATE`, `RANDOM()`: planning folds some of them
//! into constants), parameters or recursion, and none inside `BEGIN ... COMMIT` (its own writes
//! change what it reads without a new snapshot).
//!
//! A physical plan holds the state of one run (hash tables, dynamic filters the joins fill in
//! for the scans below them): what is kept is the plan as the physical optimizer leaves it
//! *before* [`FilterPushdown`](datafusion::physical_optimizer::filter_pushdown::FilterPushdown)'s
//! post-optimization phase, which creates those dynamic filters. Each run resets the kept
//! plan's state (DataFusion's `reset_plan_states`, as recursive queries do) and applies that
//! phase and the rules after it ([`Deferred`]), so every run gets fresh filters. Plans whose
//! earlier nodes already carry a dynamic filter a reset would keep (an aggregate's, for `MIN`
//! or `MAX` without `GROUP BY`) are not kept.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::datasource::listing::ListingTable;
use datafusion::datasource::source_as_provider;
use datafusion::error::Result as DFResult;
use datafusion::logical_expr::{Expr, LogicalPlan, Volatility};
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::execution_plan::reset_plan_states;
use datafusion::physical_plan::sorts::sort::SortExec;
use datafusion::physical_plan::{ExecutionPlan, displayable};
use tarn_catalog::{CatalogState, SnapshotId};

/// How many plans a session keeps (least recently used go first).
pub(crate) const CAPACITY: usize = 64;

/// The name of the first rule that runs again for every run of a kept plan.
const FIRST_DEFERRED_RULE: &str = "FilterPushdown(Post)";

type Rule = Arc<dyn PhysicalOptimizerRule + Send + Sync>;

tokio::task_local! {
    /// Set while a plan to keep is optimized: [`Deferred`] rules leave it as it is.
    static PLANNING_TO_KEEP: ();
}

/// The session's physical optimizer rules with those from [`FIRST_DEFERRED_RULE`] on wrapped
/// in [`Deferred`], and those rules themselves (to apply to each run of a kept plan).
pub(crate) fn split_rules(rules: Vec<Rule>) -> (Vec<Rule>, Vec<Rule>) {
    let at = rules.iter().position(|r| r.name() == FIRST_DEFERRED_RULE).unwrap_or(rules.len());
    let deferred: Vec<Rule> = rules[at..].to_vec();
    let session = rules[..at]
        .iter()
        .cloned()
        .chain(deferred.iter().map(|rule| Arc::new(Deferred(rule.clone())) as Rule))
        .collect();
    (session, deferred)
}

/// A physical optimizer rule that does nothing while a plan to keep is optimized (see the
/// module's documentation); otherwise it is the rule it wraps.
#[derive(Debug)]
pub(crate) struct Deferred(Rule);

impl PhysicalOptimizerRule for Deferred {
    fn optimize(&self, plan: Arc<dyn ExecutionPlan>, config: &ConfigOptions) -> DFResult<Arc<dyn ExecutionPlan>> {
        if PLANNING_TO_KEEP.try_with(|_| ()).is_ok() {
            return Ok(plan);
        }
        self.0.optimize(plan, config)
    }

    fn name(&self) -> &str {
        self.0.name()
    }

    fn schema_check(&self) -> bool {
        self.0.schema_check()
    }
}

/// Runs `planning` (a call of the physical planner) so that the [`Deferred`] rules leave the
/// plan for [`KeptPlan::instantiate`].
pub(crate) async fn plan_to_keep<F: Future>(planning: F) -> F::Output {
    PLANNING_TO_KEEP.scope((), planning).await
}

/// What a kept plan was planned from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PlanKey {
    /// The statement as planned (names qualified by the search path).
    pub text: String,
    pub snapshot: SnapshotId,
    pub lake_version: i64,
    pub user: String,
    /// Every DataFusion option and client setting, as text.
    pub settings: String,
}

/// A query's plans: the logical one (its schema, the tables it reads) and the physical one up
/// to the deferred rules.
#[derive(Debug)]
pub(crate) struct KeptPlan {
    pub logical: LogicalPlan,
    physical: Arc<dyn ExecutionPlan>,
}

impl KeptPlan {
    pub(crate) fn new(logical: LogicalPlan, physical: Arc<dyn ExecutionPlan>) -> KeptPlan {
        KeptPlan { logical, physical }
    }

    /// A plan ready to run: the kept one with the state of earlier runs reset and the
    /// `deferred` rules applied.
    pub(crate) fn instantiate(&self, deferred: &[Rule], config: &ConfigOptions) -> DFResult<Arc<dyn ExecutionPlan>> {
        let mut plan = reset_plan_states(self.physical.clone())?;
        for rule in deferred {
            plan = rule.optimize(plan, config)?;
        }
        Ok(plan)
    }

    /// Whether the physical plan can run again after a reset: no node before the deferred
    /// rules holds a dynamic filter that a reset keeps (an aggregate's `MIN`/`MAX` bounds; a
    /// sort's TopK filter is made anew) or has one pushed into it already.
    pub(crate) fn reusable(&self) -> bool {
        let mut kept_state = false;
        let _ = self.physical.apply(|node| {
            kept_state = !node.dynamic_expressions_produced().is_empty() && node.downcast_ref::<SortExec>().is_none();
            Ok(if kept_state { TreeNodeRecursion::Stop } else { TreeNodeRecursion::Continue })
        });
        !kept_state && !displayable(self.physical.as_ref()).indent(true).to_string().contains("DynamicFilter")
    }
}

/// Whether `plan` (a query's logical plan, before optimization) may be kept: it reads only
/// managed tables of `state` (`schema` qualifies unqualified names) and holds no function that
/// is not immutable, no parameter, no session variable and no recursion.
pub(crate) fn cacheable(plan: &LogicalPlan, state: &CatalogState, schema: &str) -> bool {
    let mut ok = true;
    let _ = plan.apply_with_subqueries(|node| {
        ok = match node {
            LogicalPlan::TableScan(scan) => {
                let managed =
                    state.table_by_name(scan.table_name.schema().unwrap_or(schema), scan.table_name.table()).is_some();
                let listing = source_as_provider(&scan.source).is_ok_and(|p| p.is::<ListingTable>());
                managed && listing
            }
            LogicalPlan::RecursiveQuery(_)
            | LogicalPlan::Extension(_)
            | LogicalPlan::Explain(_)
            | LogicalPlan::Analyze(_)
            | LogicalPlan::Copy(_)
            | LogicalPlan::Dml(_)
            | LogicalPlan::Ddl(_)
            | LogicalPlan::Statement(_)
            | LogicalPlan::DescribeTable(_) => false,
            _ => true,
        } && immutable_expressions(node);
        Ok(if ok { TreeNodeRecursion::Continue } else { TreeNodeRecursion::Stop })
    });
    ok
}

fn immutable_expressions(node: &LogicalPlan) -> bool {
    let mut ok = true;
    let _ = node.apply_expressions(|expr| {
        expr.apply(|e| {
            ok = match e {
                Expr::ScalarFunction(f) => f.func.signature().volatility == Volatility::Immutable,
                Expr::AggregateFunction(f) => f.func.signature().volatility == Volatility::Immutable,
                Expr::WindowFunction(f) => f.fun.signature().volatility == Volatility::Immutable,
                Expr::Placeholder(_) | Expr::ScalarVariable(..) => false,
                _ => true,
            };
            Ok(if ok { TreeNodeRecursion::Continue } else { TreeNodeRecursion::Stop })
        })
    });
    ok
}

/// A session's kept plans, most recently used last.
#[derive(Debug, Default)]
pub(crate) struct PlanCache {
    entries: parking_lot::Mutex<Vec<(PlanKey, Arc<KeptPlan>)>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// What `tarn_plan_cache` shows: the plans a session keeps, and how often its queries found
/// theirs (hits) or were planned afresh (misses, whether or not their plan could then be
/// kept). Statements other than queries, and queries inside `BEGIN ... COMMIT`, count as
/// neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PlanCacheStats {
    pub entries: u64,
    pub hits: u64,
    pub misses: u64,
}

impl PlanCache {
    pub(crate) fn stats(&self) -> PlanCacheStats {
        PlanCacheStats {
            entries: self.entries.lock().len() as u64,
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn get(&self, key: &PlanKey) -> Option<Arc<KeptPlan>> {
        let mut entries = self.entries.lock();
        let Some(at) = entries.iter().position(|(k, _)| k == key) else {
            self.misses.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        self.hits.fetch_add(1, Ordering::Relaxed);
        let entry = entries.remove(at);
        let plan = entry.1.clone();
        entries.push(entry);
        Some(plan)
    }

    pub(crate) fn insert(&self, key: PlanKey, plan: Arc<KeptPlan>) {
        let mut entries = self.entries.lock();
        entries.retain(|(k, _)| k != &key);
        if entries.len() >= CAPACITY {
            entries.remove(0);
        }
        entries.push((key, plan));
    }
}
