//! Redshift SQL → SQL DataFusion plans, on the syntax tree, just before planning.
//!
//! First every select item gets its PostgreSQL result name ([`super::names`]), from the SQL as
//! written; then Redshift's forms are rewritten: datepart keywords (`DATEADD(day, ...)`) become
//! strings, `SYSDATE` and `CURRENT_DATE` the transaction's start, `DECODE` and `NVL2` CASE
//! expressions, `LISTAGG ... WITHIN GROUP` and `PERCENTILE_CONT/DISC ... WITHIN GROUP` tarn's
//! ordered aggregates, `RATIO_TO_REPORT` a division by a window sum, explicit casts to
//! `varchar(n)` a truncation, `SIMILAR TO` a regular expression, `^`/`|/`/`||/`/`@` function calls.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::helpers::attached_token::AttachedToken;
use datafusion::sql::sqlparser::ast::{
    BinaryOperator, CaseWhen, CastKind, CharacterLength, DataType, DuplicateTreatment, Expr, Function, FunctionArg,
    FunctionArgExpr, FunctionArgumentList, FunctionArguments, Ident, ObjectName, ObjectNamePart, Statement,
    TimezoneInfo, UnaryOperator, Value, VisitMut, VisitorMut,
};

use crate::error::{Error, Result};
use crate::functions::not_supported;

/// Rewrites one statement in place (see the module's documentation).
pub(crate) fn rewrite(statement: &mut Statement) -> Result<()> {
    super::names::name_results(statement);
    struct Rewriter;
    impl VisitorMut for Rewriter {
        type Break = Error;
        fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<Error> {
            match rewrite_expr(expr) {
                Ok(()) => ControlFlow::Continue(()),
                Err(e) => ControlFlow::Break(e),
            }
        }
    }
    match statement.visit(&mut Rewriter) {
        ControlFlow::Break(e) => Err(e),
        ControlFlow::Continue(()) => Ok(()),
    }
}

fn ident_name(ident: &Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_lowercase(),
    }
}

/// The function's name, if it is unqualified (`pg_catalog.x` and friends are left alone).
fn simple_name(function: &Function) -> Option<String> {
    match function.name.0.as_slice() {
        [ObjectNamePart::Identifier(ident)] => Some(ident_name(ident)),
        _ => None,
    }
}

pub(crate) fn string(text: impl Into<String>) -> Expr {
    Expr::value(Value::SingleQuotedString(text.into()))
}

fn boolean(value: bool) -> Expr {
    Expr::value(Value::Boolean(value))
}

pub(crate) fn call(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Function(Function {
        name: ObjectName(vec![ObjectNamePart::Identifier(Ident::new(name))]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: args.into_iter().map(|e| FunctionArg::Unnamed(FunctionArgExpr::Expr(e))).collect(),
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    })
}

fn case(conditions: Vec<(Expr, Expr)>, else_result: Option<Expr>) -> Expr {
    Expr::Case {
        case_token: AttachedToken::empty(),
        end_token: AttachedToken::empty(),
        operand: None,
        conditions: conditions.into_iter().map(|(condition, result)| CaseWhen { condition, result }).collect(),
        else_result: else_result.map(Box::new),
    }
}

/// The plain arguments of a call (`None` when it has named or wildcard arguments).
fn plain_args(function: &Function) -> Option<Vec<Expr>> {
    match &function.args {
        FunctionArguments::List(list) => list
            .args
            .iter()
            .map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e.clone()),
                _ => None,
            })
            .collect(),
        FunctionArguments::None => Some(vec![]),
        FunctionArguments::Subquery(_) => None,
    }
}

fn set_args(function: &mut Function, args: Vec<Expr>) {
    let duplicate_treatment = match &function.args {
        FunctionArguments::List(list) => list.duplicate_treatment,
        _ => None,
    };
    function.args = FunctionArguments::List(FunctionArgumentList {
        duplicate_treatment,
        args: args.into_iter().map(|e| FunctionArg::Unnamed(FunctionArgExpr::Expr(e))).collect(),
        clauses: vec![],
    });
}

fn is_distinct(function: &Function) -> bool {
    matches!(&function.args, FunctionArguments::List(l) if l.duplicate_treatment == Some(DuplicateTreatment::Distinct))
}

fn rename(function: &mut Function, name: &str) {
    function.name = ObjectName(vec![ObjectNamePart::Identifier(Ident::new(name))]);
}

/// Words that name the session's users, called without parentheses.
pub(crate) const SESSION_KEYWORDS: [&str; 4] = ["current_user", "session_user", "user", "current_role"];

/// Functions whose first argument is a datepart, which Redshift also writes as a keyword.
const DATEPART_FUNCTIONS: &[&str] =
    &["dateadd", "date_add", "datediff", "date_diff", "date_part", "pgdate_part", "datepart", "date_trunc"];

fn rewrite_expr(expr: &mut Expr) -> Result<()> {
    let replacement = match expr {
        // `1e3` is a DOUBLE PRECISION (a DECIMAL cannot hold 1e308).
        Expr::Value(v) if matches!(&v.value, Value::Number(n, _) if n.contains(['e', 'E'])) => {
            let Value::Number(n, _) = &v.value else { unreachable!() };
            Some(Expr::Cast {
                kind: CastKind::Cast,
                expr: Box::new(string(n.clone())),
                data_type: DataType::DoublePrecision,
                array: false,
                format: None,
            })
        }
        Expr::Identifier(ident) if ident.quote_style.is_none() && ident.value.eq_ignore_ascii_case("sysdate") => {
            Some(call("sysdate", vec![]))
        }
        // Composite columns (`ROLLUP ((a, b), c)`) as the grouping sets they stand for: ROLLUP's
        // prefixes, CUBE's subsets (DataFusion plans single columns only).
        Expr::Rollup(lists) if lists.iter().any(|l| l.len() > 1) => {
            Some(Expr::GroupingSets((0..=lists.len()).rev().map(|n| lists[..n].concat()).collect()))
        }
        Expr::Cube(lists) if lists.iter().any(|l| l.len() > 1) => {
            if lists.len() > 12 {
                return Err(Error::Invalid(format!("CUBE of {} columns has too many grouping sets", lists.len())));
            }
            let all = (1u32 << lists.len()) - 1;
            // Most columns first, as DataFusion orders CUBE's sets.
            let mut masks: Vec<u32> = (0..=all).collect();
            masks.sort_by_key(|m| std::cmp::Reverse(m.count_ones()));
            let sets = masks
                .into_iter()
                .map(|mask| {
                    lists
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| mask & (1 << i) != 0)
                        .flat_map(|(_, l)| l.clone())
                        .collect()
                })
                .collect();
            Some(Expr::GroupingSets(sets))
        }
        // `current_user`, `user`, `session_user` and `current_role` are calls without parentheses.
        Expr::Identifier(ident)
            if ident.quote_style.is_none() && SESSION_KEYWORDS.iter().any(|k| ident.value.eq_ignore_ascii_case(k)) =>
        {
            Some(call(&ident.value.to_lowercase(), vec![]))
        }
        Expr::Function(function) => rewrite_function(function)?,
        Expr::Subquery(query) => {
            single_row_subquery(query);
            outer_conditions_first(query)
        }
        Expr::Extract { field, expr: inner, .. } => {
            let field = field.to_string().trim_matches(['\'', '"']).to_string();
            Some(call("redshift_extract", vec![string(field), (**inner).clone()]))
        }
        Expr::Convert { expr: inner, data_type: Some(data_type), charset: None, .. } => {
            let data_type = if is_datetime_name(data_type) {
                DataType::Timestamp(None, TimezoneInfo::None)
            } else {
                data_type.clone()
            };
            let mut cast =
                Expr::Cast { kind: CastKind::Cast, expr: inner.clone(), data_type, array: false, format: None };
            rewrite_expr(&mut cast)?;
            Some(cast)
        }
        // PostgreSQL's catalog types: `'t'::regclass` is the relation's oid, `oid` a number,
        // `name` and `"char"` text.
        Expr::Cast { expr: inner, data_type: DataType::Regclass, .. } => {
            let mut inner = (**inner).clone();
            rewrite_expr(&mut inner)?;
            Some(call("tarn_regclass", vec![inner]))
        }
        Expr::Cast { expr: inner, data_type: DataType::Custom(name, _), .. } if catalog_type(name).is_some() => {
            let mut inner = (**inner).clone();
            rewrite_expr(&mut inner)?;
            Some(match catalog_type(name) {
                Some(CatalogType::Regclass) => call("tarn_regclass", vec![inner]),
                Some(CatalogType::Regtype) => call("tarn_regtype", vec![inner]),
                Some(CatalogType::Oid) => Expr::Cast {
                    kind: CastKind::Cast,
                    expr: Box::new(inner),
                    data_type: DataType::BigInt(None),
                    array: false,
                    format: None,
                },
                _ => Expr::Cast {
                    kind: CastKind::Cast,
                    expr: Box::new(inner),
                    data_type: DataType::Varchar(None),
                    array: false,
                    format: None,
                },
            })
        }
        Expr::Cast { kind, expr: inner, data_type, array, format } if is_datetime_name(data_type) => {
            let mut cast = Expr::Cast {
                kind: kind.clone(),
                expr: inner.clone(),
                data_type: DataType::Timestamp(None, TimezoneInfo::None),
                array: *array,
                format: format.clone(),
            };
            rewrite_expr(&mut cast)?;
            Some(cast)
        }
        Expr::TypedString(typed) => {
            if let Value::SingleQuotedString(text) = &mut typed.value.value
                && let Some(normalized) = datetime_text(&typed.data_type, text)
            {
                *text = normalized;
            }
            None
        }
        Expr::Cast { expr: inner, data_type, format: None, .. }
            if matches!(inner.as_ref(), Expr::Value(v) if matches!(v.value, Value::SingleQuotedString(_)))
                && datetime_type(data_type) =>
        {
            if let Expr::Value(v) = inner.as_mut()
                && let Value::SingleQuotedString(text) = &mut v.value
                && let Some(normalized) = datetime_text(data_type, text)
            {
                *text = normalized;
            }
            None
        }
        Expr::Cast { expr: inner, data_type, kind, format: None, .. } => match character_length(data_type) {
            Some(length) => {
                let text = Expr::Cast {
                    kind: kind.clone(),
                    expr: inner.clone(),
                    data_type: DataType::Varchar(None),
                    array: false,
                    format: None,
                };
                Some(call("tarn_varchar", vec![text, Expr::value(Value::Number(length.to_string(), false))]))
            }
            None => None,
        },
        Expr::SimilarTo { negated, expr: inner, pattern, escape_char } => {
            let mut regex_args = vec![(**pattern).clone()];
            if let Some(escape) = escape_char {
                regex_args.push(Expr::Value(escape.clone()));
            }
            let matched = call("tarn_regexp_match", vec![(**inner).clone(), call("tarn_similar_to_regex", regex_args)]);
            Some(if *negated {
                Expr::UnaryOp { op: UnaryOperator::Not, expr: Box::new(Expr::Nested(Box::new(matched))) }
            } else {
                matched
            })
        }
        Expr::Like { escape_char: Some(escape), pattern, .. }
        | Expr::ILike { escape_char: Some(escape), pattern, .. } => {
            // DataFusion's LIKE escapes with a backslash only: rewrite the pattern to that.
            let Value::SingleQuotedString(esc) = &escape.value else { return Ok(()) };
            let mut chars = esc.chars();
            let (Some(esc_char), None) = (chars.next(), chars.next()) else {
                return Err(Error::Invalid(format!("invalid escape string '{esc}': it must be one character")));
            };
            if esc_char != '\\' {
                match pattern.as_mut() {
                    Expr::Value(v) => {
                        let Value::SingleQuotedString(text) = &mut v.value else { return Ok(()) };
                        *text = backslash_escaped(text, esc_char);
                    }
                    // A pattern computed when the query runs is rewritten then.
                    other => *other = call("tarn_like_escape", vec![other.clone(), string(esc_char.to_string())]),
                }
            }
            let (Expr::Like { escape_char, .. } | Expr::ILike { escape_char, .. }) = expr else { unreachable!() };
            *escape_char = None;
            None
        }
        Expr::BinaryOp { left, op: BinaryOperator::PGExp, right } => {
            Some(call("power", vec![(**left).clone(), (**right).clone()]))
        }
        Expr::UnaryOp {
            op: op @ (UnaryOperator::PGSquareRoot | UnaryOperator::PGCubeRoot | UnaryOperator::PGAbs),
            expr: inner,
        } => {
            let name = match op {
                UnaryOperator::PGSquareRoot => "sqrt",
                UnaryOperator::PGCubeRoot => "cbrt",
                _ => "abs",
            };
            Some(call(name, vec![(**inner).clone()]))
        }
        Expr::AtTimeZone { timestamp, time_zone } => {
            Some(call("timezone", vec![(**time_zone).clone(), (**timestamp).clone()]))
        }
        _ => None,
    };
    if let Some(replacement) = replacement {
        *expr = replacement;
    }
    Ok(())
}

/// A LIKE pattern that escapes with `escape`, rewritten to escape with a backslash.
pub(crate) fn backslash_escaped(pattern: &str, escape: char) -> String {
    let mut out = String::with_capacity(pattern.len() + 4);
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c == escape {
            out.push('\\');
            if let Some(next) = chars.next() {
                out.push(next);
            }
        } else if c == '\\' {
            out.push_str("\\\\");
        } else {
            out.push(c);
        }
    }
    out
}

/// Aggregates: a scalar subquery selecting one is left as it is.
const AGGREGATES: &[&str] = &[
    "count",
    "sum",
    "avg",
    "min",
    "max",
    "listagg",
    "string_agg",
    "array_agg",
    "bool_and",
    "bool_or",
    "every",
    "stddev",
    "stddev_samp",
    "stddev_pop",
    "variance",
    "var_samp",
    "var_pop",
    "median",
    "percentile_cont",
    "percentile_disc",
    "tarn_percentile_cont",
    "tarn_percentile_disc",
    "approx_distinct",
    "approx_median",
    "approx_percentile_cont",
    "bit_and",
    "bit_or",
    "bit_xor",
    "any_value",
    "first_value",
    "last_value",
    "corr",
    "covar_pop",
    "covar_samp",
    "regr_slope",
    "regr_intercept",
    "regr_count",
    "regr_r2",
    "regr_avgx",
    "regr_avgy",
    "regr_sxx",
    "regr_syy",
    "regr_sxy",
    "tarn_single",
    "json_agg",
];

/// `(SELECT x FROM ... WHERE ...)` as an expression: its one row's value. DataFusion
/// decorrelates only aggregating subqueries, so the value is taken by `tarn_single`, which
/// fails on a second row as PostgreSQL does ("more than one row returned by a subquery").
fn single_row_subquery(query: &mut datafusion::sql::sqlparser::ast::Query) {
    use datafusion::sql::sqlparser::ast::{GroupByExpr, SelectItem, SetExpr, Visit, Visitor};
    if query.order_by.is_some() || query.limit_clause.is_some() || query.fetch.is_some() || query.with.is_some() {
        return;
    }
    let SetExpr::Select(select) = query.body.as_mut() else { return };
    let grouped = !matches!(&select.group_by, GroupByExpr::Expressions(e, m) if e.is_empty() && m.is_empty());
    if grouped || select.having.is_some() || select.distinct.is_some() || select.top.is_some() || select.from.is_empty()
    {
        return;
    }
    let [item] = select.projection.as_mut_slice() else { return };
    let (SelectItem::UnnamedExpr(value) | SelectItem::ExprWithAlias { expr: value, .. }) = item else { return };
    struct Aggregating(bool);
    impl Visitor for Aggregating {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
            if let Expr::Function(f) = expr {
                let name = f.name.0.last().and_then(|p| p.as_ident()).map(|i| i.value.to_ascii_lowercase());
                if f.over.is_some() || name.is_some_and(|n| AGGREGATES.contains(&n.as_str())) {
                    self.0 = true;
                    return ControlFlow::Break(());
                }
            }
            // A nested query is its own scope.
            if matches!(expr, Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. }) {
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        }
    }
    let mut check = Aggregating(false);
    let _ = Visit::visit(&*value, &mut check);
    if !check.0 {
        *value = call("tarn_single", vec![value.clone()]);
    }
}

/// `(SELECT v FROM f WHERE outer.c AND inner.x = outer.y)` → `CASE WHEN outer.c THEN
/// (SELECT v FROM f WHERE inner.x = outer.y) END`: conditions on the outer query's columns
/// alone (qualified by a table the subquery does not read) are tested first, which keeps the
/// subquery decorrelatable by DataFusion. The value is the same: no row, or NULL.
fn outer_conditions_first(query: &mut datafusion::sql::sqlparser::ast::Query) -> Option<Expr> {
    use datafusion::sql::sqlparser::ast::{SetExpr, TableFactor, Visit, Visitor};
    let SetExpr::Select(select) = query.body.as_mut() else { return None };
    let selection = select.selection.take()?;
    let mut inner_names: Vec<String> = Vec::new();
    for from in &select.from {
        for factor in std::iter::once(&from.relation).chain(from.joins.iter().map(|j| &j.relation)) {
            match factor {
                TableFactor::Table { name, alias, .. } => {
                    if let Some(last) = name.0.last().and_then(|p| p.as_ident()) {
                        inner_names.push(last.value.to_ascii_lowercase());
                    }
                    if let Some(alias) = alias {
                        inner_names.push(alias.name.value.to_ascii_lowercase());
                    }
                }
                // Anything else (derived tables, functions): nothing is moved.
                _ => {
                    select.selection = Some(selection);
                    return None;
                }
            }
        }
    }
    /// Whether an expression reads only columns qualified by tables not in `inner`.
    struct OuterOnly<'a> {
        inner: &'a [String],
        outer_columns: usize,
        other: bool,
    }
    impl Visitor for OuterOnly<'_> {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
            match expr {
                Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
                    let table = parts[parts.len() - 2].value.to_ascii_lowercase();
                    if self.inner.contains(&table) {
                        self.other = true;
                        return ControlFlow::Break(());
                    }
                    self.outer_columns += 1;
                }
                Expr::Identifier(_) | Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. } => {
                    self.other = true;
                    return ControlFlow::Break(());
                }
                _ => {}
            }
            ControlFlow::Continue(())
        }
    }
    let mut conjuncts = Vec::new();
    split_and(selection, &mut conjuncts);
    let (outer, kept): (Vec<Expr>, Vec<Expr>) = conjuncts.into_iter().partition(|c| {
        let mut check = OuterOnly { inner: &inner_names, outer_columns: 0, other: false };
        let _ = Visit::visit(c, &mut check);
        !check.other && check.outer_columns > 0
    });
    select.selection = kept.into_iter().reduce(|a, b| Expr::BinaryOp {
        left: Box::new(a),
        op: BinaryOperator::And,
        right: Box::new(b),
    });
    let condition = outer.into_iter().reduce(|a, b| Expr::BinaryOp {
        left: Box::new(a),
        op: BinaryOperator::And,
        right: Box::new(b),
    })?;
    Some(Expr::Case {
        case_token: AttachedToken::empty(),
        end_token: AttachedToken::empty(),
        operand: None,
        conditions: vec![CaseWhen { condition, result: Expr::Subquery(Box::new(query.clone())) }],
        else_result: None,
    })
}

fn split_and(expr: Expr, out: &mut Vec<Expr>) {
    match expr {
        Expr::BinaryOp { left, op: BinaryOperator::And, right } => {
            split_and(*left, out);
            split_and(*right, out);
        }
        Expr::Nested(inner) if matches!(inner.as_ref(), Expr::BinaryOp { op: BinaryOperator::And, .. }) => {
            split_and(*inner, out)
        }
        other => out.push(other),
    }
}

enum CatalogType {
    Regclass,
    Regtype,
    Oid,
    Text,
}

/// PostgreSQL's catalog types that casts name (`::regclass`, `::oid`, `::name`).
fn catalog_type(name: &ObjectName) -> Option<CatalogType> {
    let name = name.to_string().trim_matches('"').to_ascii_lowercase();
    let name = name.strip_prefix("pg_catalog.").unwrap_or(&name).to_string();
    Some(match name.as_str() {
        "regclass" => CatalogType::Regclass,
        "regtype" => CatalogType::Regtype,
        "oid" | "regproc" | "regnamespace" | "xid" => CatalogType::Oid,
        "name" | "char" | "int2vector" | "oidvector" => CatalogType::Text,
        _ => return None,
    })
}

/// `DATETIME`, Redshift's other name of TIMESTAMP.
fn is_datetime_name(data_type: &DataType) -> bool {
    match data_type {
        DataType::Datetime(_) => true,
        DataType::Custom(name, _) => name.to_string().eq_ignore_ascii_case("datetime"),
        _ => false,
    }
}

fn datetime_type(data_type: &DataType) -> bool {
    matches!(data_type, DataType::Date | DataType::Timestamp(..) | DataType::Datetime(_))
}

/// A date or timestamp literal in a layout DataFusion does not read (`'20230104 04:05:06'`,
/// `'Jan 4 2023'`) rewritten as ISO text, for `DATE '...'`, `TIMESTAMP '...'` and casts of
/// string literals. `None`: leave the text as it is.
fn datetime_text(data_type: &DataType, text: &str) -> Option<String> {
    use datafusion::arrow::compute::kernels::cast_utils::string_to_timestamp_nanos;
    if !datetime_type(data_type) || string_to_timestamp_nanos(text.trim()).is_ok() {
        return None;
    }
    let micros = crate::datefmt::auto_date_or_timestamp(text)?;
    let t = chrono::DateTime::from_timestamp_micros(micros)?.naive_utc();
    Some(match data_type {
        DataType::Date => t.format("%Y-%m-%d").to_string(),
        _ => t.format("%Y-%m-%d %H:%M:%S%.f").to_string(),
    })
}

/// The length of `varchar(n)`, `char(n)` and their spellings.
fn character_length(data_type: &DataType) -> Option<u64> {
    let length = match data_type {
        DataType::Varchar(l) | DataType::CharacterVarying(l) | DataType::CharVarying(l) | DataType::Nvarchar(l) => {
            l.as_ref()
        }
        DataType::Char(l) | DataType::Character(l) => l.as_ref(),
        _ => None,
    }?;
    match length {
        CharacterLength::IntegerLength { length, .. } => Some(*length),
        CharacterLength::Max => None,
    }
}

/// A rewritten call, or `None` to keep it (possibly changed in place).
fn rewrite_function(function: &mut Function) -> Result<Option<Expr>> {
    // `pg_catalog.version()` is `version()`: PostgreSQL's functions live in pg_catalog.
    if let [ObjectNamePart::Identifier(schema), ObjectNamePart::Identifier(name)] = function.name.0.as_slice()
        && schema.value.eq_ignore_ascii_case("pg_catalog")
    {
        function.name = ObjectName(vec![ObjectNamePart::Identifier(name.clone())]);
    }
    let Some(name) = simple_name(function) else { return Ok(None) };
    if let Some(why) = not_supported(&name) {
        return Err(Error::Unsupported(format!("function {name}: {why}")));
    }
    let Some(mut args) = plain_args(function) else { return Ok(None) };
    let plain_call = function.over.is_none() && function.within_group.is_empty() && function.filter.is_none();
    match name.as_str() {
        n if DATEPART_FUNCTIONS.contains(&n) => {
            if let Some(Expr::Identifier(part)) = args.first() {
                args[0] = string(part.value.clone());
                set_args(function, args);
            }
            Ok(None)
        }
        // PostgreSQL's set-returning `generate_subscripts(array, 1)`: the array's indexes.
        "generate_subscripts" if (1..=2).contains(&args.len()) && plain_call => {
            let bigint = |e: Expr| Expr::Cast {
                kind: CastKind::Cast,
                expr: Box::new(e),
                data_type: DataType::BigInt(None),
                array: false,
                format: None,
            };
            let one = || bigint(Expr::value(Value::Number("1".into(), false)));
            let length = bigint(call("cardinality", vec![args[0].clone()]));
            let stop = Expr::BinaryOp { left: Box::new(length), op: BinaryOperator::Plus, right: Box::new(one()) };
            Ok(Some(call("unnest", vec![call("range", vec![one(), stop])])))
        }
        "current_date" if args.is_empty() && plain_call => Ok(Some(Expr::Cast {
            kind: CastKind::Cast,
            expr: Box::new(call("sysdate", vec![])),
            data_type: DataType::Date,
            array: false,
            format: None,
        })),
        "decode" if args.len() >= 3 && plain_call => {
            // A simple CASE in which NULL matches NULL.
            let subject = args.remove(0);
            let default = (args.len() % 2 == 1).then(|| args.pop()).flatten();
            let conditions = args
                .chunks(2)
                .map(|pair| {
                    (Expr::IsNotDistinctFrom(Box::new(subject.clone()), Box::new(pair[0].clone())), pair[1].clone())
                })
                .collect();
            Ok(Some(case(conditions, default)))
        }
        "nvl" if plain_call => {
            rename(function, "coalesce");
            Ok(None)
        }
        "nvl2" if plain_call => {
            let [value, if_not_null, if_null] =
                args.try_into().map_err(|_| Error::Invalid("function nvl2 takes 3 arguments".into()))?;
            Ok(Some(case(vec![(Expr::IsNotNull(Box::new(value)), if_not_null)], Some(if_null))))
        }
        "charindex" if plain_call => {
            let [needle, haystack] =
                args.try_into().map_err(|_| Error::Invalid("function charindex takes 2 arguments".into()))?;
            Ok(Some(call("strpos", vec![haystack, needle])))
        }
        "concat" if args.len() == 2 && plain_call => {
            // Redshift's CONCAT is `||`: NULL when either side is.
            let text = |e: Expr| Expr::Cast {
                kind: CastKind::Cast,
                expr: Box::new(e),
                data_type: DataType::Varchar(None),
                array: false,
                format: None,
            };
            let right = args.pop().expect("two arguments");
            let left = args.pop().expect("two arguments");
            Ok(Some(Expr::Nested(Box::new(Expr::BinaryOp {
                left: Box::new(text(left)),
                op: BinaryOperator::StringConcat,
                right: Box::new(text(right)),
            }))))
        }
        "mod" if args.len() == 2 && plain_call => {
            let right = args.pop().expect("two arguments");
            let left = args.pop().expect("two arguments");
            Ok(Some(Expr::Nested(Box::new(Expr::BinaryOp {
                left: Box::new(left),
                op: BinaryOperator::Modulo,
                right: Box::new(right),
            }))))
        }
        "fnv_hash" if plain_call => {
            // Integer literals are Redshift INTEGERs (4 bytes), DataFusion's are BIGINTs.
            if let Some(Expr::Value(v)) = args.first()
                && let Value::Number(n, false) = &v.value
                && n.parse::<i32>().is_ok()
            {
                args[0] = Expr::Cast {
                    kind: CastKind::Cast,
                    expr: Box::new(args[0].clone()),
                    data_type: DataType::Int(None),
                    array: false,
                    format: None,
                };
                set_args(function, args);
            }
            Ok(None)
        }
        "ratio_to_report" => {
            let (Some(over), [value]) = (function.over.clone(), args.as_slice()) else {
                return Err(Error::Invalid(
                    "ratio_to_report takes one argument and an OVER (PARTITION BY ...) clause".into(),
                ));
            };
            let double = |e: Expr| Expr::Cast {
                kind: CastKind::Cast,
                expr: Box::new(e),
                data_type: DataType::DoublePrecision,
                array: false,
                format: None,
            };
            let mut total = Function { over: Some(over), ..function_of(call("sum", vec![double(value.clone())])) };
            total.within_group = vec![];
            Ok(Some(Expr::Nested(Box::new(Expr::BinaryOp {
                left: Box::new(double(value.clone())),
                op: BinaryOperator::Divide,
                right: Box::new(Expr::Function(total)),
            }))))
        }
        "listagg" => {
            let distinct = is_distinct(function);
            let mut spec = String::from(if distinct { "D" } else { "-" });
            let (value, delimiter) = match args.len() {
                1 => (args.remove(0), string("")),
                2 => {
                    let delimiter = args.pop().expect("two arguments");
                    (args.pop().expect("two arguments"), delimiter)
                }
                _ => return Err(Error::Invalid("listagg takes a value and an optional delimiter".into())),
            };
            let mut call_args = vec![value, delimiter];
            let mut keys = Vec::new();
            for order in std::mem::take(&mut function.within_group) {
                let ascending = order.options.asc.unwrap_or(true);
                // Redshift: NULLs sort last ascending, first descending.
                let nulls_first = order.options.nulls_first.unwrap_or(!ascending);
                spec.push(if ascending { 'a' } else { 'd' });
                spec.push(if nulls_first { 'f' } else { 'l' });
                keys.push(order.expr);
            }
            call_args.push(string(spec));
            call_args.extend(keys);
            set_args(function, call_args);
            if let FunctionArguments::List(list) = &mut function.args {
                list.duplicate_treatment = None;
            }
            Ok(None)
        }
        "percentile_cont" | "percentile_disc" if !function.within_group.is_empty() => {
            let [fraction] = args.as_slice() else {
                return Err(Error::Invalid(format!("{name} takes one fraction between 0 and 1")));
            };
            let [order] = function.within_group.as_slice() else {
                return Err(Error::Invalid(format!("{name} orders by one value (WITHIN GROUP (ORDER BY x))")));
            };
            let descending = order.options.asc == Some(false);
            let value = order.expr.clone();
            function.within_group.clear();
            rename(function, if name == "percentile_cont" { "tarn_percentile_cont" } else { "tarn_percentile_disc" });
            set_args(function, vec![value, fraction.clone(), boolean(descending)]);
            Ok(None)
        }
        _ => Ok(None),
    }
}

fn function_of(expr: Expr) -> Function {
    match expr {
        Expr::Function(f) => f,
        _ => unreachable!("call() builds a function"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parser::{Statement as Parsed, parse};

    fn rewritten(sql: &str) -> String {
        let mut statements = parse(sql).unwrap();
        let Parsed::Sql(statement) = &mut statements[0] else { panic!() };
        let datafusion::sql::parser::Statement::Statement(s) = statement.as_mut() else { panic!() };
        rewrite(s).unwrap();
        s.to_string()
    }

    #[test]
    fn redshift_forms_become_datafusion_ones() {
        assert_eq!(rewritten("select dateadd(day, 1, d) from t"), "SELECT dateadd('day', 1, d) AS \"date_add\" FROM t");
        assert_eq!(
            rewritten("select decode(a, 1, 'one', 'other') as x from t"),
            "SELECT CASE WHEN a IS NOT DISTINCT FROM 1 THEN 'one' ELSE 'other' END AS \"x\" FROM t"
        );
        assert_eq!(rewritten("select sysdate as s"), "SELECT sysdate() AS \"s\"");
        assert_eq!(rewritten("select 'x'::varchar(1) as v"), "SELECT tarn_varchar('x'::VARCHAR, 1) AS \"v\"");
        assert_eq!(rewritten("select 2 ^ 3 as p"), "SELECT power(2, 3) AS \"p\"");
        assert_eq!(
            rewritten("select listagg(b, ',') within group (order by a desc) as l from t"),
            "SELECT listagg(b, ',', '-df', a) AS \"l\" FROM t"
        );
    }

    #[test]
    fn cluster_functions_are_refused() {
        let mut statements = parse("select slice_num()").unwrap();
        let Parsed::Sql(statement) = &mut statements[0] else { panic!() };
        let datafusion::sql::parser::Statement::Statement(s) = statement.as_mut() else { panic!() };
        assert!(rewrite(s).unwrap_err().to_string().starts_with("not supported yet: function slice_num"));
    }
}
