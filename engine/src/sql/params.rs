//! Parameters of prepared statements (`$1`, `$2`, ...): a server binds the values a client
//! sends by replacing each placeholder with SQL text, so every statement tarn runs, its own
//! COPY and UNLOAD included, takes parameters the same way.

use datafusion::sql::sqlparser::tokenizer::{Location, Token, Tokenizer};

use crate::error::{Error, Result};

/// `text` as a string literal of tarn's SQL: quotes doubled, backslashes escaped (Redshift
/// reads a backslash in '...' as an escape).
pub fn quote_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('\'');
    for c in text.chars() {
        match c {
            '\'' => out.push_str("''"),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// The highest placeholder number in `sql` (`$3` → 3), 0 without placeholders.
pub fn parameter_count(sql: &str) -> Result<usize> {
    Ok(placeholders(sql)?.iter().map(|(n, _, _)| *n).max().unwrap_or(0))
}

/// `sql` with each `$n` replaced by `values[n - 1]`, which must be SQL text (a literal such as
/// [`quote_literal`] makes, a number, `NULL`, a cast). Placeholders inside strings, quoted
/// names and comments are left alone.
pub fn bind_parameters(sql: &str, values: &[String]) -> Result<String> {
    let found = placeholders(sql)?;
    let mut out = String::with_capacity(sql.len() + values.iter().map(String::len).sum::<usize>());
    let mut copied = 0;
    for (number, start, end) in found {
        let value = values
            .get(number - 1)
            .ok_or_else(|| Error::Invalid(format!("there is no parameter ${number} ({} were bound)", values.len())))?;
        out.push_str(&sql[copied..start]);
        // A space apart from what precedes keeps `x=-$1` from becoming `x=--5`.
        if out.ends_with(['-', '+', '*', '/', '<', '>', '=', '~', '!', '@', '#', '%', '^', '&', '|', '`', '?']) {
            out.push(' ');
        }
        out.push_str(value);
        copied = end;
    }
    out.push_str(&sql[copied..]);
    Ok(out)
}

/// Each placeholder of `sql`: (number, start byte, end byte).
fn placeholders(sql: &str) -> Result<Vec<(usize, usize, usize)>> {
    let dialect = super::TarnDialect::default();
    let tokens = Tokenizer::new(&dialect, sql).tokenize_with_location().map_err(|e| Error::Parse(e.to_string()))?;
    let lines = line_starts(sql);
    let mut found = Vec::new();
    for token in tokens {
        if let Token::Placeholder(text) = &token.token
            && let Some(digits) = text.strip_prefix('$')
        {
            let number: usize = digits
                .parse()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| Error::Parse(format!("invalid parameter {text}")))?;
            let start = offset(sql, &lines, token.span.start);
            found.push((number, start, start + text.len()));
        }
    }
    Ok(found)
}

fn line_starts(sql: &str) -> Vec<usize> {
    std::iter::once(0).chain(sql.match_indices('\n').map(|(i, _)| i + 1)).collect()
}

/// The byte offset of a (1-based line, 1-based character column) location.
fn offset(sql: &str, lines: &[usize], location: Location) -> usize {
    let line_start = lines.get(location.line.saturating_sub(1) as usize).copied().unwrap_or(0);
    sql[line_start..]
        .char_indices()
        .nth(location.column.saturating_sub(1) as usize)
        .map_or(sql.len(), |(i, _)| line_start + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_replaced_outside_strings_and_comments() {
        let sql = "SELECT '$1', \"$2\", $1 -- $2\n, x=-$2, 'é', $2";
        let bound = bind_parameters(sql, &["'a'".into(), "5".into()]).unwrap();
        assert_eq!(bound, "SELECT '$1', \"$2\", 'a' -- $2\n, x=- 5, 'é', 5");
        assert_eq!(parameter_count(sql).unwrap(), 2);
        assert!(bind_parameters("SELECT $3", &["1".into()]).unwrap_err().to_string().contains("$3"));
    }

    #[test]
    fn literals_escape_quotes_and_backslashes() {
        assert_eq!(quote_literal("it's a\\b"), "'it''s a\\\\b'");
    }
}
