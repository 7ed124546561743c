//! tarn's SQL dialect: sqlparser's Redshift dialect plus the Redshift syntax it leaves to
//! PostgreSQL (`^` as power, the prefix operators `|/`, `||/` and `@`), `APPROXIMATE` before
//! `COUNT(DISTINCT ...)` and `PERCENTILE_DISC`, and `GROUP BY ROLLUP | CUBE | GROUPING SETS`.
//!
//! It reports itself as [`RedshiftSqlDialect`] (through [`Dialect::dialect`]), so that every
//! Redshift-specific rule of the parser still applies, and forwards the Redshift dialect's
//! settings.

use std::any::TypeId;

use datafusion::sql::sqlparser::ast::{BinaryOperator, Expr, UnaryOperator};
use datafusion::sql::sqlparser::dialect::{Dialect, Precedence, RedshiftSqlDialect};
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::Token;

#[derive(Debug, Default, Clone, Copy)]
pub struct TarnDialect {
    redshift: RedshiftSqlDialect,
}

impl Dialect for TarnDialect {
    fn dialect(&self) -> TypeId {
        TypeId::of::<RedshiftSqlDialect>()
    }

    fn parse_prefix(&self, parser: &mut Parser) -> Option<Result<Expr, ParserError>> {
        let op = match parser.peek_token().token {
            Token::PGSquareRoot => UnaryOperator::PGSquareRoot,
            Token::PGCubeRoot => UnaryOperator::PGCubeRoot,
            Token::AtSign => UnaryOperator::PGAbs,
            // `E'a\\b'`: PostgreSQL's escape strings, which drivers send when
            // standard_conforming_strings is off (as Redshift reports it).
            Token::EscapedStringLiteral(text) => {
                parser.next_token();
                let value = datafusion::sql::sqlparser::ast::Value::EscapedStringLiteral(text);
                return Some(Ok(Expr::Value(value.with_empty_span())));
            }
            // `APPROXIMATE COUNT(DISTINCT x)` and `APPROXIMATE PERCENTILE_DISC(p) WITHIN GROUP
            // (...)`: tarn's answers are exact, which Redshift's documentation allows for.
            Token::Word(w) if w.value.eq_ignore_ascii_case("approximate") => {
                let next = parser.peek_nth_token(1).token;
                let approximable = matches!(&next, Token::Word(f)
                    if f.value.eq_ignore_ascii_case("count") || f.value.eq_ignore_ascii_case("percentile_disc"));
                if !approximable {
                    return None;
                }
                parser.next_token();
                return Some(parser.parse_prefix());
            }
            _ => return None,
        };
        parser.next_token();
        let precedence = self.prec_value(Precedence::PlusMinus);
        Some(parser.parse_subexpr(precedence).map(|expr| Expr::UnaryOp { op, expr: Box::new(expr) }))
    }

    fn parse_infix(&self, parser: &mut Parser, expr: &Expr, precedence: u8) -> Option<Result<Expr, ParserError>> {
        // `^` is exponentiation in Redshift (as in PostgreSQL); `#` is XOR.
        if parser.peek_token().token != Token::Caret {
            return None;
        }
        parser.next_token();
        Some(parser.parse_subexpr(precedence).map(|right| Expr::BinaryOp {
            left: Box::new(expr.clone()),
            op: BinaryOperator::PGExp,
            right: Box::new(right),
        }))
    }

    fn get_next_precedence(&self, parser: &Parser) -> Option<Result<u8, ParserError>> {
        // `^` binds tighter than `*` and `/`, as in PostgreSQL.
        (parser.peek_token_ref().token == Token::Caret).then(|| Ok(self.prec_value(Precedence::MulDivModOp) + 1))
    }

    fn supports_group_by_expr(&self) -> bool {
        true
    }

    /// `{'name': 'INTEGER'}`: DuckDB's maps, as `read_csv(..., columns = {...})` takes them.
    fn supports_dictionary_syntax(&self) -> bool {
        true
    }

    /// `EXTRACT(ms FROM ...)`: any of Redshift's datepart spellings.
    fn allow_extract_custom(&self) -> bool {
        true
    }

    // What follows forwards the Redshift dialect's settings.

    fn is_delimited_identifier_start(&self, ch: char) -> bool {
        self.redshift.is_delimited_identifier_start(ch)
    }

    /// `[name]` is not a quoted name (PostgreSQL and Redshift's documentation have none):
    /// `ARRAY[E'r', x]` must stay an array.
    fn is_nested_delimited_identifier_start(&self, _ch: char) -> bool {
        false
    }

    fn is_identifier_start(&self, ch: char) -> bool {
        self.redshift.is_identifier_start(ch)
    }

    fn is_identifier_part(&self, ch: char) -> bool {
        self.redshift.is_identifier_part(ch)
    }

    fn convert_type_before_value(&self) -> bool {
        self.redshift.convert_type_before_value()
    }

    fn supports_connect_by(&self) -> bool {
        self.redshift.supports_connect_by()
    }

    fn supports_top_before_distinct(&self) -> bool {
        self.redshift.supports_top_before_distinct()
    }

    fn supports_partiql(&self) -> bool {
        self.redshift.supports_partiql()
    }

    fn supports_string_escape_constant(&self) -> bool {
        self.redshift.supports_string_escape_constant()
    }

    fn supports_geometric_types(&self) -> bool {
        self.redshift.supports_geometric_types()
    }

    fn supports_bitwise_shift_operators(&self) -> bool {
        self.redshift.supports_bitwise_shift_operators()
    }

    fn supports_array_typedef_with_brackets(&self) -> bool {
        self.redshift.supports_array_typedef_with_brackets()
    }

    fn allow_extract_single_quotes(&self) -> bool {
        self.redshift.allow_extract_single_quotes()
    }

    fn supports_string_literal_backslash_escape(&self) -> bool {
        self.redshift.supports_string_literal_backslash_escape()
    }

    fn supports_select_wildcard_exclude(&self) -> bool {
        self.redshift.supports_select_wildcard_exclude()
    }

    fn supports_select_wildcard_with_alias(&self) -> bool {
        self.redshift.supports_select_wildcard_with_alias()
    }

    fn supports_select_exclude(&self) -> bool {
        self.redshift.supports_select_exclude()
    }

    fn supports_create_table_like_parenthesized(&self) -> bool {
        self.redshift.supports_create_table_like_parenthesized()
    }

    fn supports_string_literal_concatenation_with_newline(&self) -> bool {
        self.redshift.supports_string_literal_concatenation_with_newline()
    }

    fn supports_window_function_null_treatment_arg(&self) -> bool {
        self.redshift.supports_window_function_null_treatment_arg()
    }

    fn supports_filter_during_aggregation(&self) -> bool {
        // PostgreSQL's `count(*) FILTER (WHERE ...)`: DataFusion plans it.
        true
    }

    fn is_column_alias(&self, kw: &Keyword, parser: &mut Parser) -> bool {
        self.redshift.is_column_alias(kw, parser)
    }
}
