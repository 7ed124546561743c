//! Does a REPL buffer hold a complete statement? True when it ends with `;` outside quotes
//! and comments.

/// True when `buffer` ends with a `;` that terminates a statement.
pub fn statement_complete(buffer: &str) -> bool {
    #[derive(PartialEq)]
    enum State {
        Code,
        Single,
        Double,
        Line,
        Block(usize),
    }
    let mut state = State::Code;
    let mut last_code_char = None;
    let chars: Vec<char> = buffer.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match state {
            State::Code => match (c, next) {
                ('\'', _) => state = State::Single,
                ('"', _) => state = State::Double,
                ('-', Some('-')) => {
                    state = State::Line;
                    i += 1;
                }
                ('/', Some('*')) => {
                    state = State::Block(1);
                    i += 1;
                }
                (c, _) if !c.is_whitespace() => last_code_char = Some(c),
                _ => {}
            },
            State::Single => match (c, next) {
                // Redshift strings take backslash escapes; '' is a quote.
                ('\\', Some(_)) => i += 1,
                ('\'', Some('\'')) => i += 1,
                ('\'', _) => {
                    state = State::Code;
                    last_code_char = Some('\'');
                }
                _ => {}
            },
            State::Double => {
                if c == '"' {
                    state = State::Code;
                    last_code_char = Some('"');
                }
            }
            State::Line => {
                if c == '\n' {
                    state = State::Code;
                }
            }
            State::Block(depth) => match (c, next) {
                ('*', Some('/')) => {
                    state = if depth == 1 { State::Code } else { State::Block(depth - 1) };
                    i += 1;
                }
                ('/', Some('*')) => {
                    state = State::Block(depth + 1);
                    i += 1;
                }
                _ => {}
            },
        }
        i += 1;
    }
    matches!(state, State::Code | State::Line) && last_code_char == Some(';')
}

#[cfg(test)]
mod tests {
    use super::statement_complete;

    #[test]
    fn detects_terminated_statements() {
        assert!(statement_complete("select 1;"));
        assert!(statement_complete("select 1;  -- trailing comment"));
        assert!(statement_complete("select\n 'a;b'\n;"));
        assert!(!statement_complete("select 1"));
        assert!(!statement_complete("select ';"));
        assert!(!statement_complete("select 'it''s;"));
        assert!(!statement_complete("select 1 -- ;"));
        assert!(!statement_complete("select /* ; */ 1"));
        assert!(statement_complete("select /* ; /* nested */ */ 1;"));
        assert!(!statement_complete("select \"a;"));
        assert!(statement_complete("select 'a\\'b';"));
    }
}
