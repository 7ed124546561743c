//! `search_path` as PostgreSQL and Redshift resolve names: an unqualified table or view that a
//! statement reads or changes is the first one found along the path. Names are qualified on the
//! syntax tree before access checks and planning, so everything after sees where they live.
//! Objects a statement creates go to the path's first schema (DataFusion's default schema).

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{
    Ident, ObjectName, ObjectNamePart, Query, Statement, TableFactor, TableObject, Visit, VisitMut, Visitor, VisitorMut,
};

/// Qualifies the unqualified relation names of `statement` with the schema `find` returns for
/// them (`None`: left alone). Names of common table expressions are never qualified.
pub(crate) fn qualify(statement: &mut DFStatement, find: &dyn Fn(&str) -> Option<String>) {
    match statement {
        DFStatement::Statement(inner) => qualify_statement(inner, find),
        DFStatement::Explain(explain) => qualify(&mut explain.statement, find),
        _ => {}
    }
}

fn qualify_statement(statement: &mut Statement, find: &dyn Fn(&str) -> Option<String>) {
    struct Ctes(BTreeSet<String>);
    impl Visitor for Ctes {
        type Break = ();
        fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<()> {
            if let Some(with) = &query.with {
                self.0.extend(with.cte_tables.iter().map(|cte| normalize(&cte.alias.name)));
            }
            ControlFlow::Continue(())
        }
    }
    let mut ctes = Ctes(BTreeSet::new());
    let _ = Visit::visit(&*statement, &mut ctes);

    struct Qualifier<'a> {
        ctes: BTreeSet<String>,
        find: &'a dyn Fn(&str) -> Option<String>,
    }
    impl Qualifier<'_> {
        fn qualify(&self, name: &mut ObjectName) {
            let [ObjectNamePart::Identifier(ident)] = name.0.as_slice() else { return };
            let unqualified = normalize(ident);
            if self.ctes.contains(&unqualified) {
                return;
            }
            if let Some(schema) = (self.find)(&unqualified) {
                name.0.insert(0, ObjectNamePart::Identifier(Ident::with_quote('"', schema)));
            }
        }
    }
    impl VisitorMut for Qualifier<'_> {
        type Break = ();
        fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
            if let TableFactor::Table { name, args: None, .. } = factor {
                self.qualify(name);
            }
            ControlFlow::Continue(())
        }
        fn pre_visit_statement(&mut self, statement: &mut Statement) -> ControlFlow<()> {
            if let Statement::Insert(insert) = statement
                && let TableObject::TableName(name) = &mut insert.table
            {
                self.qualify(name);
            }
            ControlFlow::Continue(())
        }
    }
    let _ = statement.visit(&mut Qualifier { ctes: ctes.0, find });
}

/// An identifier as the catalog stores it: unquoted ones fold to lower case.
fn normalize(ident: &Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_lowercase(),
    }
}
