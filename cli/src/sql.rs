//! A forgiving SQL lexer for the REPL: it never fails, so it can color and complete a
//! statement while it is being typed (unterminated strings and comments run to the end).

use std::collections::HashSet;
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Keyword,
    Identifier,
    /// `"quoted identifier"`.
    Quoted,
    String,
    Number,
    Comment,
    Whitespace,
    /// Operators and punctuation, one character each.
    Punct,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    pub kind: Kind,
    pub start: usize,
    pub end: usize,
    /// Strings and comments: closed before the end of the input.
    pub closed: bool,
}

/// Upper-case SQL keywords.
pub fn keywords() -> &'static HashSet<&'static str> {
    static KEYWORDS: OnceLock<HashSet<&'static str>> = OnceLock::new();
    KEYWORDS.get_or_init(|| tarn_engine::parser::keywords().iter().copied().collect())
}

pub fn is_keyword(word: &str) -> bool {
    keywords().contains(word.to_ascii_uppercase().as_str())
}

/// Splits `text` into tokens covering every byte.
pub fn tokenize(text: &str) -> Vec<Token> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        let c = bytes[i];
        let (kind, closed) = match c {
            b' ' | b'\t' | b'\n' | b'\r' => {
                while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                (Kind::Whitespace, true)
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                (Kind::Comment, true)
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                let mut depth = 1;
                while i < bytes.len() && depth > 0 {
                    if bytes[i..].starts_with(b"*/") {
                        depth -= 1;
                        i += 2;
                    } else if bytes[i..].starts_with(b"/*") {
                        depth += 1;
                        i += 2;
                    } else {
                        i += 1;
                    }
                }
                (Kind::Comment, depth == 0)
            }
            b'\'' | b'"' => {
                i += 1;
                let mut closed = false;
                while i < bytes.len() {
                    if c == b'\'' && bytes[i] == b'\\' {
                        i += 2;
                        continue;
                    }
                    if bytes[i] == c {
                        if bytes.get(i + 1) == Some(&c) {
                            i += 2;
                            continue;
                        }
                        i += 1;
                        closed = true;
                        break;
                    }
                    i += 1;
                }
                i = i.min(bytes.len());
                (if c == b'\'' { Kind::String } else { Kind::Quoted }, closed)
            }
            b'0'..=b'9' => {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'.') {
                    i += 1;
                }
                (Kind::Number, true)
            }
            c if c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 => {
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b'$' || bytes[i] >= 0x80)
                {
                    i += 1;
                }
                let kind = if is_keyword(&text[start..i]) { Kind::Keyword } else { Kind::Identifier };
                (kind, true)
            }
            _ => {
                i += 1;
                // Stay on a character boundary.
                while i < bytes.len() && !text.is_char_boundary(i) {
                    i += 1;
                }
                (Kind::Punct, true)
            }
        };
        tokens.push(Token { kind, start, end: i, closed });
    }
    tokens
}

/// The token that contains byte `pos` or ends at it (the word being typed).
pub fn token_at(tokens: &[Token], pos: usize) -> Option<&Token> {
    tokens.iter().find(|t| t.start < pos && pos <= t.end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(Kind, &str)> {
        tokenize(text)
            .into_iter()
            .filter(|t| t.kind != Kind::Whitespace)
            .map(|t| (t.kind, &text[t.start..t.end]))
            .collect()
    }

    #[test]
    fn lexes_keywords_strings_numbers_and_comments() {
        assert_eq!(
            kinds("select a, 'it''s' -- note\nfrom t where x = 1.5 /* c */"),
            [
                (Kind::Keyword, "select"),
                (Kind::Identifier, "a"),
                (Kind::Punct, ","),
                (Kind::String, "'it''s'"),
                (Kind::Comment, "-- note"),
                (Kind::Keyword, "from"),
                (Kind::Identifier, "t"),
                (Kind::Keyword, "where"),
                (Kind::Identifier, "x"),
                (Kind::Punct, "="),
                (Kind::Number, "1.5"),
                (Kind::Comment, "/* c */"),
            ]
        );
    }

    #[test]
    fn unterminated_strings_run_to_the_end() {
        let tokens = tokenize("copy t from 's3://b/ke");
        let last = tokens.last().unwrap();
        assert_eq!((last.kind, last.closed), (Kind::String, false));
        assert_eq!(token_at(&tokens, 22).unwrap().kind, Kind::String);
    }
}
