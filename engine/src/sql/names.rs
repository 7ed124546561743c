//! Result-column names as PostgreSQL and Redshift give them.
//!
//! A select item without an alias is named after what it is: a column reference keeps the
//! column's name, a function call takes the function's name (some Redshift functions the name of
//! the internal function they stand for: `extract` → `date_part`, `dateadd` → `date_add`), a cast
//! the name of what it casts or else its type's internal name (`int4`, `varchar`), and anything
//! else is `?column?`. The names are given as aliases before any rewriting, so that they come
//! from the SQL as written.
//!
//! Results may repeat a name (`SELECT a, a`), which DataFusion's projections do not allow: the
//! second `a` gets the alias `a` + [`DUPLICATE_MARK`] + a number, and [`output_name`] takes the
//! mark off where names leave the engine.

use std::collections::HashMap;

use datafusion::logical_expr::LogicalPlan;
use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    DataType, Expr, FunctionArguments, Ident, Query, Select, SelectItem, SetExpr, VisitMut, VisitorMut,
};

/// Separates a repeated result name from the number that makes it unique inside the engine.
pub const DUPLICATE_MARK: char = '\u{1}';

/// The name a result column shows: without the mark of a repeated name.
pub fn output_name(name: &str) -> &str {
    name.split(DUPLICATE_MARK).next().unwrap_or(name)
}

/// Whether `name` is a repeated result name (see [`DUPLICATE_MARK`]).
pub fn is_repeated(name: &str) -> bool {
    name.contains(DUPLICATE_MARK)
}

/// `plan` with its result columns under their output names, for a relation others read by
/// name (a view): a name that is then repeated is an error, as PostgreSQL's.
pub(crate) fn with_output_names(plan: LogicalPlan) -> crate::Result<LogicalPlan> {
    let fields: Vec<String> = plan.schema().fields().iter().map(|f| f.name().clone()).collect();
    let mut seen = std::collections::HashSet::new();
    for name in &fields {
        if !seen.insert(output_name(name)) {
            return Err(crate::Error::Invalid(format!("column \"{}\" specified more than once", output_name(name))));
        }
    }
    if !fields.iter().any(|f| is_repeated(f)) {
        return Ok(plan);
    }
    let exprs = plan
        .schema()
        .columns()
        .into_iter()
        .map(|c| {
            let name = output_name(&c.name).to_string();
            datafusion::logical_expr::Expr::Column(c).alias(name)
        })
        .collect::<Vec<_>>();
    Ok(datafusion::logical_expr::LogicalPlanBuilder::from(plan).project(exprs)?.build()?)
}

/// Names the select items of every query in `statement` (nested ones too).
pub(crate) fn name_results<V: VisitMut>(statement: &mut V) {
    struct Namer {
        depth: usize,
    }
    impl VisitorMut for Namer {
        type Break = ();
        fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
            self.depth += 1;
            name_set_expr(&mut query.body, self.depth == 1);
            ControlFlow::Continue(())
        }
        fn post_visit_query(&mut self, _query: &mut Query) -> ControlFlow<()> {
            self.depth -= 1;
            ControlFlow::Continue(())
        }
    }
    let _ = statement.visit(&mut Namer { depth: 0 });
}

fn name_set_expr(body: &mut SetExpr, top: bool) {
    match body {
        SetExpr::Select(select) => name_select(select, top),
        SetExpr::SetOperation { left, right, .. } => {
            name_set_expr(left, top);
            name_set_expr(right, top);
        }
        _ => {}
    }
}

/// Gives each select item its name. Marked aliases (see [`DUPLICATE_MARK`]) keep apart what
/// DataFusion must not see twice: repeated names, columns that `*` also lists, and, in the
/// statement's own result, names taken from a column (`cast(a AS text)` is `a`), which would
/// otherwise clash with that column when ORDER BY needs it.
fn name_select(select: &mut Select, top: bool) {
    let has_wildcard =
        select.projection.iter().any(|i| matches!(i, SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)));
    let mut seen: HashMap<String, usize> = HashMap::new();
    for item in &mut select.projection {
        let (expr, name, is_column, from_column) = match item {
            SelectItem::UnnamedExpr(expr) => {
                let name = named(expr);
                let is_column = match expr {
                    Expr::Identifier(ident) => {
                        ident.quote_style.is_some()
                            || !super::rewrite::SESSION_KEYWORDS.iter().any(|k| ident.value.eq_ignore_ascii_case(k))
                    }
                    Expr::CompoundIdentifier(_) => true,
                    _ => false,
                };
                let from_column = name.as_ref().is_some_and(|n| n.from_column);
                (expr.clone(), name.map_or_else(|| UNNAMED.to_string(), |n| n.text), is_column, from_column)
            }
            SelectItem::ExprWithAlias { expr, alias } => (expr.clone(), normalize(alias), false, false),
            _ => continue,
        };
        let count = seen.entry(name.clone()).or_insert(0);
        *count += 1;
        let alias = if *count > 1 || (is_column && has_wildcard) || (top && from_column && !is_column) {
            format!("{name}{DUPLICATE_MARK}{count}")
        } else if is_column {
            continue;
        } else {
            name
        };
        *item = SelectItem::ExprWithAlias { expr, alias: Ident::with_quote('"', alias) };
    }
}

/// An identifier as SQL means it: unquoted names fold to lower case.
fn normalize(ident: &Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_lowercase(),
    }
}

const UNNAMED: &str = "?column?";

/// A result name, and whether it is a column's name (a column, or a cast of one).
struct Name {
    text: String,
    from_column: bool,
}

impl From<String> for Name {
    fn from(text: String) -> Name {
        Name { text, from_column: false }
    }
}

/// The name PostgreSQL (and Redshift, where it differs) gives an unaliased select item, if it
/// is not `?column?`.
fn named(expr: &Expr) -> Option<Name> {
    let column = |text: String| Some(Name { text, from_column: true });
    Some(Name::from(match expr {
        // `user` is `current_user` to Redshift.
        Expr::Identifier(ident) if ident.quote_style.is_none() && ident.value.eq_ignore_ascii_case("user") => {
            "current_user".into()
        }
        Expr::Identifier(ident)
            if ident.quote_style.is_none()
                && super::rewrite::SESSION_KEYWORDS.iter().any(|k| ident.value.eq_ignore_ascii_case(k)) =>
        {
            ident.value.to_lowercase()
        }
        Expr::Identifier(ident) => return column(normalize(ident)),
        Expr::CompoundIdentifier(parts) => return column(normalize(parts.last()?)),
        Expr::Nested(inner) | Expr::Collate { expr: inner, .. } => return named(inner),
        Expr::Cast { expr, data_type, .. } => return named(expr).or_else(|| Some(type_name(data_type).into())),
        Expr::Convert { expr, data_type, .. } => {
            return named(expr).or_else(|| data_type.as_ref().map(|t| type_name(t).into()));
        }
        Expr::TypedString(typed) => type_name(&typed.data_type),
        Expr::Interval(_) => "interval".into(),
        Expr::Extract { .. } => "date_part".into(),
        Expr::Trim { .. } => "btrim".into(),
        Expr::Substring { .. } => "substring".into(),
        Expr::Position { .. } => "position".into(),
        Expr::Overlay { .. } => "overlay".into(),
        Expr::Ceil { .. } => "ceil".into(),
        Expr::Floor { .. } => "floor".into(),
        Expr::AtTimeZone { .. } => "timezone".into(),
        Expr::Case { .. } => "case".into(),
        Expr::Exists { .. } => "exists".into(),
        Expr::Array(_) => "array".into(),
        Expr::Tuple(_) => "row".into(),
        Expr::Subquery(query) => return first_item_name(query).map(Name::from),
        Expr::Function(function) => {
            let name = function.name.0.last()?.as_ident().map(normalize)?;
            return Some(Name::from(match name.as_str() {
                // Redshift names these after the internal functions they stand for.
                "date_part" => "pgdate_part".into(),
                "dateadd" => "date_add".into(),
                "datediff" => "date_diff".into(),
                "getdate" | "sysdate" => "timestamp".into(),
                "current_date" => "date".into(),
                "current_timestamp" | "localtimestamp" => "timestamptz".into(),
                "nvl" => "coalesce".into(),
                "decode" if argument_count(&function.args) > 2 => "case".into(),
                // NULLIF takes the name of its first argument.
                "nullif" => match &function.args {
                    FunctionArguments::List(list) => match list.args.first() {
                        Some(datafusion::sql::sqlparser::ast::FunctionArg::Unnamed(
                            datafusion::sql::sqlparser::ast::FunctionArgExpr::Expr(first),
                        )) => return named(first).or(Some(UNNAMED.to_string().into())),
                        _ => name,
                    },
                    _ => name,
                },
                _ => name,
            }));
        }
        _ => return None,
    }))
}

fn argument_count(args: &FunctionArguments) -> usize {
    match args {
        FunctionArguments::List(list) => list.args.len(),
        _ => 0,
    }
}

/// `(SELECT max(a) FROM t)` is named `max`, as its one column.
fn first_item_name(query: &Query) -> Option<String> {
    let SetExpr::Select(select) = query.body.as_ref() else { return None };
    match select.projection.first()? {
        SelectItem::UnnamedExpr(expr) => named(expr).map(|n| n.text),
        SelectItem::ExprWithAlias { alias, .. } => Some(normalize(alias)),
        _ => None,
    }
}

/// PostgreSQL's internal name of a type, as a cast result is named.
fn type_name(data_type: &DataType) -> String {
    use DataType as T;
    match data_type {
        T::SmallInt(_) | T::Int2(_) => "int2",
        T::Int(_) | T::Integer(_) | T::Int4(_) => "int4",
        T::BigInt(_) | T::Int8(_) => "int8",
        T::Real | T::Float4 => "float4",
        T::Double(_) | T::DoublePrecision | T::Float8 | T::Float(_) => "float8",
        T::Decimal(_) | T::Numeric(_) | T::Dec(_) => "numeric",
        T::Boolean | T::Bool => "bool",
        T::Char(_) | T::Character(_) => "bpchar",
        T::Varchar(_) | T::CharacterVarying(_) | T::CharVarying(_) | T::Nvarchar(_) => "varchar",
        T::Text | T::String(_) => "text",
        T::Date => "date",
        T::Timestamp(_, tz) => match tz {
            datafusion::sql::sqlparser::ast::TimezoneInfo::WithTimeZone
            | datafusion::sql::sqlparser::ast::TimezoneInfo::Tz => "timestamptz",
            _ => "timestamp",
        },
        T::Time(..) => "time",
        T::Interval { .. } => "interval",
        other => return other.to_string().to_lowercase(),
    }
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::{Statement, parse};

    fn names(sql: &str) -> Vec<String> {
        let mut statements = parse(sql).unwrap();
        let Statement::Sql(statement) = &mut statements[0] else { panic!() };
        let datafusion::sql::parser::Statement::Statement(s) = statement.as_mut() else { panic!() };
        name_results(s.as_mut());
        let datafusion::sql::sqlparser::ast::Statement::Query(q) = s.as_ref() else { panic!() };
        let SetExpr::Select(select) = q.body.as_ref() else { panic!() };
        select
            .projection
            .iter()
            .map(|i| match i {
                SelectItem::UnnamedExpr(e) => format!("={e}"),
                SelectItem::ExprWithAlias { alias, .. } => alias.value.replace(DUPLICATE_MARK, "#"),
                other => other.to_string(),
            })
            .collect()
    }

    #[test]
    fn items_are_named_as_postgresql_names_them() {
        assert_eq!(
            names(
                "select count(*), 1, extract(year from d), a, t.B, a + 1, upper(b), cast(a as text), 1::int, 'x'::varchar(3) from t"
            ),
            ["count", "?column?", "date_part", "=a", "=t.B", "?column?#2", "upper", "a#2", "int4", "varchar"]
        );
        assert_eq!(
            names(
                "select dateadd(day, 1, d), datediff(day, d, d), date_part(dow, d), getdate(), nullif(a, 0), decode(a, 1, 'x', 'y'), case when a then 1 end, trim(b), (select max(a) from t) from t"
            ),
            ["date_add", "date_diff", "pgdate_part", "timestamp", "a#1", "case", "case#2", "btrim", "max"]
        );
    }

    #[test]
    fn repeated_names_are_marked() {
        assert_eq!(names("select a, a, count(*), count(*) as count from t"), ["=a", "a#2", "count", "count#2"]);
        assert_eq!(names("select *, a from t"), ["*", "a#1"]);
        assert_eq!(output_name("a\u{1}2"), "a");
    }
}
