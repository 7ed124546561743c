//! Small helpers for parsing tarn's own statements on top of sqlparser's token stream.

use datafusion::sql::parser::DFParser;
use datafusion::sql::sqlparser::ast::{Ident, ObjectName, ObjectNamePart};
use datafusion::sql::sqlparser::parser::ParserError;
use datafusion::sql::sqlparser::tokenizer::Token;

use crate::error::{Error, Result};

pub(crate) type P<'a, 'b> = &'b mut DFParser<'a>;

pub(crate) fn syntax(e: ParserError) -> Error {
    Error::Parse(e.to_string().replace("sql parser error: ", ""))
}

pub(crate) fn word_is(token: &Token, word: &str) -> bool {
    matches!(token, Token::Word(w) if w.value.eq_ignore_ascii_case(word))
}

pub(crate) fn peek_is(p: &DFParser<'_>, n: usize, word: &str) -> bool {
    word_is(&p.parser.peek_nth_token(n).token, word)
}

/// Consumes `words` if they come next, in order.
pub(crate) fn eat(p: P, words: &[&str]) -> bool {
    if words.iter().enumerate().all(|(i, w)| peek_is(p, i, w)) {
        for _ in words {
            p.parser.next_token();
        }
        return true;
    }
    false
}

pub(crate) fn expect(p: P, words: &[&str]) -> Result<()> {
    if eat(p, words) {
        return Ok(());
    }
    Err(Error::Parse(format!("expected {}, found {}", words.join(" "), p.parser.peek_token())))
}

pub(crate) fn string(p: P) -> Result<String> {
    p.parser.parse_literal_string().map_err(syntax)
}

/// An identifier as Redshift folds it: lower case unless quoted.
pub(crate) fn folded(ident: &Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_lowercase(),
    }
}

pub(crate) fn identifier(p: P) -> Result<String> {
    Ok(folded(&p.parser.parse_identifier().map_err(syntax)?))
}

pub(crate) fn object_name(p: P) -> Result<ObjectName> {
    let name = p.parser.parse_object_name(false).map_err(syntax)?;
    Ok(ObjectName(
        name.0
            .into_iter()
            .map(|part| match part {
                ObjectNamePart::Identifier(ident) => ObjectNamePart::Identifier(Ident::new(folded(&ident))),
                other => other,
            })
            .collect(),
    ))
}
