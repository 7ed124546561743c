//! tarn's SQL: the parser (DataFusion's with tarn's statements), the dialect, PostgreSQL result
//! names, the Redshift rewrites, and [`plan`], through which every statement is planned.

mod dialect;
pub mod names;
pub mod params;
pub mod parser;
mod planner;
pub(crate) mod redshift_ddl;
pub(crate) mod rewrite;
pub(crate) mod search_path;
pub(crate) mod timestamp_text;
pub(crate) mod tokens;

use datafusion::execution::SessionState;
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::parser::{CopyToSource, Statement as DFStatement};

pub(crate) use dialect::TarnDialect;
pub(crate) use planner::TarnExprPlanner;

use crate::error::Result;

/// `name` as a quoted SQL identifier (`"a""b"`), for SQL tarn writes itself.
pub(crate) fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `schema.name`, both quoted.
pub(crate) fn quote_name(schema: &str, name: &str) -> String {
    format!("{}.{}", quote(schema), quote(name))
}

/// Applies Redshift's rewrites to a statement (and the statements and queries it holds).
pub(crate) fn rewrite_statement(statement: &mut DFStatement) -> Result<()> {
    match statement {
        DFStatement::Statement(inner) => rewrite::rewrite(inner),
        DFStatement::Explain(explain) => rewrite_statement(&mut explain.statement),
        DFStatement::CopyTo(copy) => match &mut copy.source {
            CopyToSource::Query(query) => {
                let mut wrapped = datafusion::sql::sqlparser::ast::Statement::Query(query.clone());
                rewrite::rewrite(&mut wrapped)?;
                if let datafusion::sql::sqlparser::ast::Statement::Query(q) = wrapped {
                    *query = q;
                }
                Ok(())
            }
            CopyToSource::Relation(_) => Ok(()),
        },
        _ => Ok(()),
    }
}

/// Plans a statement as Redshift means it: rewritten, then planned by DataFusion.
pub(crate) async fn plan(state: &SessionState, mut statement: DFStatement) -> Result<LogicalPlan> {
    rewrite_statement(&mut statement)?;
    Ok(state.statement_to_plan(statement).await?)
}

/// Parses and plans one query given as text (views, MERGE's generated queries, UNLOAD).
pub(crate) async fn plan_query(state: &SessionState, sql: &str) -> Result<LogicalPlan> {
    let mut statements = parser::parse(sql)?;
    match (statements.pop(), statements.is_empty()) {
        (Some(parser::Statement::Sql(statement)), true) => plan(state, *statement).await,
        _ => Err(crate::Error::Invalid(format!("expected one query, not: {sql}"))),
    }
}
