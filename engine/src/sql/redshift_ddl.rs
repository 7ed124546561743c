//! The parts of Redshift's `CREATE TABLE` that sqlparser does not take: column attributes
//! `ENCODE codec`, `DISTKEY` and `SORTKEY`, and table attributes `COMPOUND | INTERLEAVED SORTKEY
//! (...)`, `SORTKEY AUTO` and `ENCODE AUTO` — what DDL pasted from Redshift (AWS's TPC-H DDL
//! among it) holds. They are taken out of the token stream before sqlparser parses the rest;
//! column-level keys become the table's `DISTKEY (col)` / `SORTKEY (cols)`, and an
//! `INTERLEAVED SORTKEY (cols)` becomes `SORTKEY (tarn_interleaved(cols))` for the DDL handler.
//! Compression encodings name Redshift's codecs and have no meaning for tarn's Parquet files.

use datafusion::sql::sqlparser::ast::{
    Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentList, FunctionArguments, Ident, ObjectName,
    Statement as SqlStatement,
};
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer, Whitespace};

use crate::error::{Error, Result};

/// The name an `INTERLEAVED SORTKEY`'s columns are wrapped in on the parsed statement.
pub(crate) const INTERLEAVED_MARKER: &str = "tarn_interleaved";

/// Column-level keys found while rewriting, to put on the parsed statement.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct ColumnKeys {
    distkey: Option<String>,
    sortkey: Vec<String>,
    /// The table's sort key was `INTERLEAVED`.
    interleaved: bool,
}

/// `sql` (one CREATE TABLE statement) without the attributes sqlparser refuses, or `None` when
/// it has none of them.
pub(crate) fn strip_layout(
    sql: &str,
    dialect: &dyn datafusion::sql::sqlparser::dialect::Dialect,
) -> Result<Option<(String, ColumnKeys)>> {
    let tokens = Tokenizer::new(dialect, sql).tokenize().map_err(|e| Error::Parse(e.to_string()))?;
    let significant: Vec<usize> = (0..tokens.len()).filter(|&i| !matches!(tokens[i], Token::Whitespace(_))).collect();
    let word = |n: usize| match significant.get(n).map(|&i| &tokens[i]) {
        Some(Token::Word(w)) => Some(w.value.to_ascii_uppercase()),
        _ => None,
    };
    let token = |n: usize| significant.get(n).map(|&i| &tokens[i]);
    // The column list is the parenthesis right after the table's name.
    let Some(table) = (0..significant.len().min(8)).find(|&n| word(n).as_deref() == Some("TABLE")) else {
        return Ok(None);
    };
    let mut n = table + 1;
    if word(n).as_deref() == Some("IF") {
        n += 3;
    }
    n += 1;
    while token(n) == Some(&Token::Period) {
        n += 2;
    }
    let columns_start = (token(n) == Some(&Token::LParen)).then_some(n);

    let mut removed = vec![false; significant.len()];
    let mut keys = ColumnKeys::default();
    let (mut depth, mut column, mut expecting_name) = (0usize, None::<String>, false);
    let mut i = 0;
    while i < significant.len() {
        match token(i) {
            Some(Token::LParen) => {
                depth += 1;
                expecting_name = Some(i) == columns_start;
            }
            Some(Token::RParen) => depth = depth.saturating_sub(1),
            Some(Token::Comma) if depth == 1 && columns_start.is_some() => expecting_name = true,
            Some(Token::Word(w)) if depth == 1 && columns_start.is_some() && expecting_name => {
                column = Some(if w.quote_style.is_some() { w.value.clone() } else { w.value.to_lowercase() });
                expecting_name = false;
            }
            Some(Token::Word(_)) if depth == 1 && columns_start.is_some() => match word(i).as_deref() {
                Some("ENCODE") if word(i + 1).is_some() => {
                    removed[i] = true;
                    removed[i + 1] = true;
                    i += 1;
                }
                Some("DISTKEY") => {
                    removed[i] = true;
                    keys.distkey = column.clone();
                }
                Some("SORTKEY") => {
                    removed[i] = true;
                    keys.sortkey.extend(column.clone());
                }
                _ => {}
            },
            Some(Token::Word(w)) if depth == 0 => {
                if matches!(w.keyword, Keyword::AS | Keyword::SELECT | Keyword::WITH) {
                    break;
                }
                match (word(i).as_deref(), word(i + 1).as_deref()) {
                    (Some(style @ ("COMPOUND" | "INTERLEAVED")), Some("SORTKEY")) => {
                        removed[i] = true;
                        keys.interleaved = style == "INTERLEAVED";
                    }
                    (Some("SORTKEY" | "ENCODE"), Some("AUTO")) => {
                        removed[i] = true;
                        removed[i + 1] = true;
                        i += 1;
                    }
                    _ => {}
                }
            }
            _ => {}
        }
        i += 1;
    }
    if !removed.contains(&true) {
        return Ok(None);
    }
    let dropped: std::collections::BTreeSet<usize> =
        significant.iter().zip(&removed).filter(|(_, r)| **r).map(|(&i, _)| i).collect();
    let text = tokens
        .iter()
        .enumerate()
        .map(
            |(i, t)| {
                if dropped.contains(&i) { Token::Whitespace(Whitespace::Space).to_string() } else { t.to_string() }
            },
        )
        .collect();
    Ok(Some((text, keys)))
}

/// Puts column-level keys on the parsed CREATE TABLE (table-level ones, if any, stay).
pub(crate) fn apply_keys(statement: &mut SqlStatement, keys: ColumnKeys) {
    if let SqlStatement::CreateTable(create) = statement {
        if create.distkey.is_none() {
            create.distkey = keys.distkey.map(|c| Expr::Identifier(Ident::new(c)));
        }
        if create.sortkey.is_none() && !keys.sortkey.is_empty() {
            create.sortkey = Some(keys.sortkey.into_iter().map(|c| Expr::Identifier(Ident::new(c))).collect());
        }
        if keys.interleaved
            && let Some(columns) = create.sortkey.take()
        {
            let args = columns.into_iter().map(|c| FunctionArg::Unnamed(FunctionArgExpr::Expr(c))).collect();
            create.sortkey = Some(vec![Expr::Function(Function {
                name: ObjectName::from(vec![Ident::new(INTERLEAVED_MARKER)]),
                uses_odbc_syntax: false,
                parameters: FunctionArguments::None,
                args: FunctionArguments::List(FunctionArgumentList {
                    duplicate_treatment: None,
                    args,
                    clauses: vec![],
                }),
                filter: None,
                null_treatment: None,
                over: None,
                within_group: vec![],
            })]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stripped text with whitespace normalized, and the column keys.
    fn strip(sql: &str) -> Option<(String, ColumnKeys)> {
        let (text, keys) = strip_layout(sql, &crate::sql::TarnDialect::default()).unwrap()?;
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ").replace(" ,", ",").replace(" )", ")");
        Some((text, keys))
    }

    #[test]
    fn column_attributes_become_table_keys() {
        let (text, keys) =
            strip("CREATE TABLE t (a int ENCODE az64 DISTKEY, b varchar(10) ENCODE lzo SORTKEY, c int SORTKEY)")
                .unwrap();
        assert_eq!(text, "CREATE TABLE t (a int, b varchar(10), c int)");
        assert_eq!(
            keys,
            ColumnKeys { distkey: Some("a".into()), sortkey: vec!["b".into(), "c".into()], interleaved: false }
        );
    }

    #[test]
    fn table_attributes_sqlparser_refuses_go() {
        let (text, keys) =
            strip("CREATE TABLE s.t (a int, b int) DISTSTYLE KEY DISTKEY(a) INTERLEAVED SORTKEY(a, b) ENCODE AUTO")
                .unwrap();
        assert!(keys.interleaved);
        assert_eq!(text, "CREATE TABLE s.t (a int, b int) DISTSTYLE KEY DISTKEY(a) SORTKEY(a, b)");
        let (text, _) =
            strip("CREATE TABLE IF NOT EXISTS t DISTSTYLE AUTO SORTKEY AUTO AS SELECT 1 AS encode").unwrap();
        assert_eq!(text, "CREATE TABLE IF NOT EXISTS t DISTSTYLE AUTO AS SELECT 1 AS encode");
    }

    #[test]
    fn plain_ddl_and_columns_named_like_attributes_are_left_alone() {
        assert!(strip("CREATE TABLE t (a int, b int) DISTKEY(a) SORTKEY(b)").is_none());
        assert!(strip("CREATE TABLE t (encode int, sortkey int)").is_none());
        assert!(strip("CREATE TABLE t AS SELECT 1 AS compound").is_none());
    }
}
