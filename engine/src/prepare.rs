//! What a prepared statement takes and returns, found without running it: the parameter
//! types and result columns a server's Describe reports.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::logical_expr::LogicalPlan;
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::Statement as SqlStatement;

use crate::error::{Error, Result};
use crate::lake::LakeStatement;
use crate::parser::{self, Statement};
use crate::session::Session;
use crate::settings::{SettingStatement, setting_statement};

/// A statement's parameters and result, as planning sees them.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The type of each parameter (`$1` first), where planning could tell.
    pub parameters: Vec<Option<DataType>>,
    /// The columns of its rows; `None` for a command, which returns none.
    pub columns: Option<SchemaRef>,
}

impl Session {
    /// Plans `sql` (one statement, `$n` parameters allowed) without running it.
    pub async fn prepare(&mut self, sql: &str) -> Result<Prepared> {
        let count = crate::sql::params::parameter_count(sql)?;
        let mut statements = parser::parse(sql)?;
        if statements.len() > 1 {
            return Err(Error::Parse("cannot insert multiple commands into a prepared statement".into()));
        }
        let mut prepared = Prepared { parameters: vec![None; count], columns: None };
        let Some(mut statement) = statements.pop() else {
            return Ok(prepared);
        };
        if self.is_transaction_aborted() && !matches!(statement, Statement::Commit | Statement::Rollback) {
            return Err(Error::TransactionAborted);
        }
        self.shared.apply_search_path();
        if let Statement::Sql(sql) = &mut statement {
            crate::lake::files::bind(self, sql).await?;
        }
        self.shared.qualify_by_search_path(&mut statement);
        let planned = match &statement {
            Statement::Sql(sql) => match sql.as_ref() {
                DFStatement::Statement(inner) => match setting_statement(sql)? {
                    Some(SettingStatement::Show(Some(name))) => {
                        prepared.columns = Some(text_columns(&[&crate::settings::display_name(&name)]));
                        false
                    }
                    Some(SettingStatement::Show(None)) => {
                        prepared.columns = Some(text_columns(&["name", "setting", "description"]));
                        false
                    }
                    Some(_) => false,
                    None => match inner.as_ref() {
                        SqlStatement::Query(_) | SqlStatement::Insert(_) | SqlStatement::Explain { .. } => true,
                        SqlStatement::Update(update) => update.from.is_none(),
                        SqlStatement::Delete(delete) => delete.using.is_none(),
                        _ => false,
                    },
                },
                DFStatement::Explain(_) => true,
                _ => false,
            },
            Statement::Lake(lake) if matches!(lake.as_ref(), LakeStatement::ShowCreateTable { .. }) => {
                prepared.columns = Some(text_columns(&["createtab_stmt"]));
                false
            }
            _ => false,
        };
        if !planned {
            return Ok(prepared);
        }
        crate::access::authorize(self, &statement).await?;
        let Statement::Sql(sql) = statement else { return Ok(prepared) };
        for (n, data_type) in cast_parameters(&sql) {
            if (1..=count).contains(&n) {
                prepared.parameters[n - 1] = Some(data_type);
            }
        }
        let plan = self.plan(*sql).await?;
        let types = plan.get_parameter_types()?;
        for (name, data_type) in types {
            if let Some(n) = name.strip_prefix('$').and_then(|d| d.parse::<usize>().ok())
                && (1..=count).contains(&n)
                && data_type.is_some()
            {
                prepared.parameters[n - 1] = data_type;
            }
        }
        prepared.columns = match plan {
            LogicalPlan::Dml(_) | LogicalPlan::Ddl(_) | LogicalPlan::Statement(_) | LogicalPlan::Copy(_) => None,
            plan => {
                let schema = plan.schema().as_arrow();
                Some(Arc::new(Schema::new_with_metadata(
                    schema
                        .fields()
                        .iter()
                        .map(|f| f.as_ref().clone().with_name(crate::sql::names::output_name(f.name())))
                        .collect::<Vec<_>>(),
                    schema.metadata().clone(),
                )))
            }
        };
        Ok(prepared)
    }
}

/// The types of parameters the statement casts (`$1::int`, `CAST($2 AS date)`), which
/// DataFusion does not infer.
fn cast_parameters(statement: &DFStatement) -> Vec<(usize, DataType)> {
    use datafusion::sql::sqlparser::ast::{Expr, Value, Visit, Visitor};
    struct Casts(Vec<(usize, DataType)>);
    impl Visitor for Casts {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &Expr) -> std::ops::ControlFlow<()> {
            if let Expr::Cast { expr: inner, data_type, .. } = expr
                && let Expr::Value(v) = inner.as_ref()
                && let Value::Placeholder(name) = &v.value
                && let Some(n) = name.strip_prefix('$').and_then(|d| d.parse().ok())
                && let Ok(sql_type) = tarn_catalog::SqlType::parse(&data_type.to_string())
            {
                self.0.push((n, sql_type.to_arrow()));
            }
            std::ops::ControlFlow::Continue(())
        }
    }
    let mut casts = Casts(Vec::new());
    if let DFStatement::Statement(inner) = statement {
        let _ = inner.visit(&mut casts);
    }
    casts.0
}

fn text_columns(names: &[&str]) -> SchemaRef {
    Arc::new(Schema::new(names.iter().map(|n| Field::new(*n, DataType::Utf8, true)).collect::<Vec<_>>()))
}
