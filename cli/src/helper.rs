//! The REPL's line editor helper: Tab completion (keywords, schemas, tables, columns in
//! context, functions, backslash commands, paths and `s3://` keys inside quotes), highlighting
//! (keywords, strings, numbers, comments, the bracket matching the one at the cursor), a hint
//! while a statement is unfinished, and multi-line input until the statement's `;`.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::RwLock;

use rustyline::completion::{Completer, Pair};
use rustyline::highlight::{CmdKind, Highlighter};
use rustyline::hint::Hinter;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Helper};
use tarn_engine::{Engine, RelationNames};
use tokio::runtime::Handle;

use crate::complete::statement_complete;
use crate::repl::commands;
use crate::sql::{Kind, Token, keywords, token_at, tokenize};

/// What completion offers from the catalog; refreshed after every statement.
#[derive(Debug, Default)]
pub struct Names {
    pub relations: Vec<RelationNames>,
    pub functions: Vec<String>,
}

pub struct TarnHelper {
    pub names: RwLock<Names>,
    pub color: bool,
    engine: Engine,
    runtime: Handle,
}

const KEYWORD: &str = "\x1b[1;34m";
const STRING: &str = "\x1b[32m";
const NUMBER: &str = "\x1b[33m";
const COMMENT: &str = "\x1b[90m";
const QUOTED: &str = "\x1b[36m";
const MATCH: &str = "\x1b[1;4;35m";
const HINT: &str = "\x1b[2m";
const RESET: &str = "\x1b[0m";

impl TarnHelper {
    pub fn new(engine: Engine, runtime: Handle, color: bool) -> TarnHelper {
        TarnHelper { names: RwLock::new(Names::default()), color, engine, runtime }
    }

    pub fn set_names(&self, names: Names) {
        *self.names.write().unwrap_or_else(|p| p.into_inner()) = names;
    }

    /// Completions for the word ending at `pos`: where it starts, and the candidates.
    pub fn candidates(&self, line: &str, pos: usize) -> (usize, Vec<String>) {
        let before = &line[..pos];
        let trimmed = before.trim_start();
        if trimmed.starts_with('\\') {
            let start = before.len() - trimmed.len();
            return match trimmed.split_once(' ') {
                None => {
                    let mut commands: Vec<String> =
                        commands().filter(|c| c.starts_with(trimmed)).map(str::to_string).collect();
                    commands.sort();
                    (start, commands)
                }
                Some(("\\i" | "\\o", argument)) => {
                    let argument = argument.trim_start();
                    (pos - argument.len(), self.locations(argument))
                }
                Some(_) => (pos, Vec::new()),
            };
        }
        let tokens = tokenize(line);
        if let Some(token) = token_at(&tokens, pos)
            && token.kind == Kind::String
            && (!token.closed || pos < token.end)
        {
            let start = token.start + 1;
            return (start, self.locations(&line[start..pos]));
        }
        let start = before
            .rfind(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.' || c == '$'))
            .map_or(0, |i| i + before[i..].chars().next().map_or(1, char::len_utf8));
        let word = &before[start..];
        let names = self.names.read().unwrap_or_else(|p| p.into_inner());
        let matches = |candidate: &str, partial: &str| candidate.to_lowercase().starts_with(&partial.to_lowercase());
        let mut out: Vec<String> = Vec::new();
        if let Some((qualifier, partial)) = word.rsplit_once('.') {
            // schema.table
            for r in names.relations.iter().filter(|r| r.schema.eq_ignore_ascii_case(qualifier)) {
                if matches(&r.name, partial) {
                    out.push(format!("{qualifier}.{}", r.name));
                }
            }
            // table.column or alias.column
            let aliases = aliases(line, &tokens);
            let target = aliases.get(&qualifier.to_lowercase()).cloned().unwrap_or((None, qualifier.to_lowercase()));
            for r in names.relations.iter().filter(|r| refers_to(r, &target)) {
                for column in r.columns.iter().filter(|c| matches(c, partial)) {
                    out.push(format!("{qualifier}.{column}"));
                }
            }
        } else {
            let previous = tokens
                .iter()
                .rev()
                .filter(|t| t.end <= start && !matches!(t.kind, Kind::Whitespace | Kind::Comment))
                .map(|t| line[t.start..t.end].to_ascii_uppercase())
                .next()
                .unwrap_or_default();
            let wants_relation = matches!(
                previous.as_str(),
                "FROM" | "JOIN" | "INTO" | "UPDATE" | "TABLE" | "DESCRIBE" | "TRUNCATE" | "\\D"
            );
            if wants_relation {
                let mut schemas: Vec<&str> = names.relations.iter().map(|r| r.schema.as_str()).collect();
                schemas.dedup();
                out.extend(schemas.iter().filter(|s| matches(s, word)).map(|s| format!("{s}.")));
                for r in &names.relations {
                    if r.schema == "public" && matches(&r.name, word) {
                        out.push(r.name.clone());
                    }
                }
            } else if !word.is_empty() {
                // Columns of the relations the statement names, then functions and keywords.
                let mentioned: Vec<(Option<String>, String)> = aliases(line, &tokens).into_values().collect();
                for r in names.relations.iter().filter(|r| mentioned.iter().any(|m| refers_to(r, m))) {
                    out.extend(r.columns.iter().filter(|c| matches(c, word)).cloned());
                }
                out.extend(names.functions.iter().filter(|f| matches(f, word)).cloned());
                let upper = word.chars().next().is_some_and(char::is_uppercase);
                let mut words: Vec<&&str> = keywords().iter().filter(|k| matches(k, word)).collect();
                words.sort();
                out.extend(words.into_iter().map(|k| if upper { k.to_string() } else { k.to_lowercase() }));
            }
        }
        let mut seen = std::collections::HashSet::new();
        out.retain(|c| seen.insert(c.clone()));
        (start, out)
    }

    fn locations(&self, prefix: &str) -> Vec<String> {
        self.runtime.block_on(self.engine.complete_location(prefix)).unwrap_or_default()
    }
}

/// Does relation `r` match `(schema, name)` (no schema: any)?
fn refers_to(r: &RelationNames, (schema, name): &(Option<String>, String)) -> bool {
    r.name.eq_ignore_ascii_case(name) && schema.as_ref().is_none_or(|s| r.schema.eq_ignore_ascii_case(s))
}

/// Relations the statement names after FROM, JOIN, UPDATE or INTO, by alias and by name
/// (lower case) → (schema, table).
fn aliases(line: &str, tokens: &[Token]) -> HashMap<String, (Option<String>, String)> {
    let words: Vec<(Kind, String)> = tokens
        .iter()
        .filter(|t| !matches!(t.kind, Kind::Whitespace | Kind::Comment))
        .map(|t| (t.kind, line[t.start..t.end].trim_matches('"').to_lowercase()))
        .collect();
    let mut out = HashMap::new();
    let mut i = 0;
    while i < words.len() {
        let starts = matches!(words[i].1.as_str(), "from" | "join" | "update" | "into") || (words[i].1 == "," && i > 0);
        i += 1;
        if !starts || i >= words.len() || !matches!(words[i].0, Kind::Identifier | Kind::Quoted) {
            continue;
        }
        let mut name = (None, words[i].1.clone());
        if words.get(i + 1).is_some_and(|w| w.1 == ".") && words.get(i + 2).is_some() {
            name = (Some(words[i].1.clone()), words[i + 2].1.clone());
            i += 2;
        }
        out.insert(name.1.clone(), name.clone());
        i += 1;
        if words.get(i).is_some_and(|w| w.1 == "as") {
            i += 1;
        }
        if let Some((Kind::Identifier | Kind::Quoted, alias)) = words.get(i) {
            out.insert(alias.clone(), name);
        }
    }
    out
}

impl Completer for TarnHelper {
    type Candidate = Pair;

    fn complete(&self, line: &str, pos: usize, _ctx: &Context<'_>) -> rustyline::Result<(usize, Vec<Pair>)> {
        let (start, candidates) = self.candidates(line, pos);
        let pairs = candidates.into_iter().map(|c| Pair { display: c.clone(), replacement: c }).collect();
        Ok((start, pairs))
    }
}

/// `line` with ANSI colors; the bracket at (or just before) `pos` and its match stand out.
pub fn highlight(line: &str, pos: usize) -> String {
    let tokens = tokenize(line);
    let brackets = matching_brackets(line, &tokens, pos);
    let mut out = String::with_capacity(line.len() * 2);
    for token in &tokens {
        let text = &line[token.start..token.end];
        let color = match token.kind {
            Kind::Keyword => KEYWORD,
            Kind::String => STRING,
            Kind::Number => NUMBER,
            Kind::Comment => COMMENT,
            Kind::Quoted => QUOTED,
            Kind::Punct if brackets.contains(&token.start) => MATCH,
            _ => "",
        };
        if color.is_empty() {
            out.push_str(text);
        } else {
            out.push_str(color);
            out.push_str(text);
            out.push_str(RESET);
        }
    }
    out
}

/// Byte offsets of the bracket at the cursor and of its match.
fn matching_brackets(line: &str, tokens: &[Token], pos: usize) -> Vec<usize> {
    let bracket_at =
        |at: usize| tokens.iter().find(|t| t.kind == Kind::Punct && t.start == at && "()[]".contains(&line[at..t.end]));
    let Some(cursor) = bracket_at(pos).or_else(|| pos.checked_sub(1).and_then(bracket_at)) else {
        return Vec::new();
    };
    let mut stack = Vec::new();
    for token in tokens.iter().filter(|t| t.kind == Kind::Punct) {
        match &line[token.start..token.end] {
            "(" | "[" => stack.push(token.start),
            ")" | "]" => {
                if let Some(open) = stack.pop()
                    && (open == cursor.start || token.start == cursor.start)
                {
                    return vec![open, token.start];
                }
            }
            _ => {}
        }
    }
    Vec::new()
}

impl Highlighter for TarnHelper {
    fn highlight<'l>(&self, line: &'l str, pos: usize) -> Cow<'l, str> {
        if !self.color || line.trim_start().starts_with('\\') {
            return Cow::Borrowed(line);
        }
        Cow::Owned(highlight(line, pos))
    }

    fn highlight_hint<'h>(&self, hint: &'h str) -> Cow<'h, str> {
        if self.color { Cow::Owned(format!("{HINT}{hint}{RESET}")) } else { Cow::Borrowed(hint) }
    }

    fn highlight_char(&self, _line: &str, _pos: usize, _kind: CmdKind) -> bool {
        self.color
    }
}

/// What is still missing from an unfinished statement, shown after the cursor.
pub fn hint(line: &str, pos: usize) -> Option<String> {
    let trimmed = line.trim();
    if pos < line.len() || trimmed.is_empty() || trimmed.starts_with('\\') || statement_complete(line) {
        return None;
    }
    let tokens = tokenize(line);
    if let Some(open) = tokens.iter().rev().find(|t| !t.closed) {
        return Some(match open.kind {
            Kind::String => "  … the string is still open (')".to_string(),
            Kind::Quoted => "  … the quoted name is still open (\")".to_string(),
            _ => "  … the comment is still open (*/)".to_string(),
        });
    }
    let depth: i64 = tokens
        .iter()
        .filter(|t| t.kind == Kind::Punct)
        .map(|t| match &line[t.start..t.end] {
            "(" => 1,
            ")" => -1,
            _ => 0,
        })
        .sum();
    if depth > 0 {
        return Some(format!("  … {depth} bracket{} to close", if depth == 1 { "" } else { "s" }));
    }
    line.ends_with('\n').then(|| "  … end the statement with ;".to_string())
}

impl Hinter for TarnHelper {
    type Hint = String;

    fn hint(&self, line: &str, pos: usize, _ctx: &Context<'_>) -> Option<String> {
        hint(line, pos)
    }
}

impl Validator for TarnHelper {
    fn validate(&self, ctx: &mut ValidationContext) -> rustyline::Result<ValidationResult> {
        let input = ctx.input();
        let trimmed = input.trim();
        if trimmed.is_empty() || trimmed.starts_with('\\') || statement_complete(input) {
            Ok(ValidationResult::Valid(None))
        } else {
            Ok(ValidationResult::Incomplete)
        }
    }
}

impl Helper for TarnHelper {}

#[cfg(test)]
mod tests {
    use super::*;

    fn helper() -> TarnHelper {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let engine = Engine::open(dir.path().join("w")).unwrap();
        let helper = TarnHelper::new(engine, runtime.handle().clone(), false);
        std::mem::forget(runtime);
        std::mem::forget(dir);
        helper.set_names(Names {
            relations: vec![
                RelationNames {
                    schema: "public".into(),
                    name: "users".into(),
                    columns: vec!["id".into(), "email".into()],
                },
                RelationNames {
                    schema: "raw_data".into(),
                    name: "user_session_channel".into(),
                    columns: vec!["userid".into(), "sessionid".into(), "channel".into()],
                },
            ],
            functions: vec!["upper".into(), "sum".into()],
        });
        helper
    }

    fn complete(line: &str) -> Vec<String> {
        let helper = helper();
        let (start, candidates) = helper.candidates(line, line.len());
        candidates.into_iter().map(|c| format!("{}{c}", &line[..start])).collect()
    }

    #[test]
    fn completes_tables_after_from_and_schemas() {
        assert_eq!(complete("select * from us"), ["select * from users"]);
        assert_eq!(complete("select * from ra"), ["select * from raw_data."]);
        assert_eq!(complete("select * from raw_data.u"), ["select * from raw_data.user_session_channel"]);
        assert!(complete("SELECT * FROM ").contains(&"SELECT * FROM raw_data.".to_string()));
    }

    #[test]
    fn completes_columns_of_tables_and_aliases_in_context() {
        assert_eq!(complete("select u.e"), Vec::<String>::new());
        let line = "select c.ch";
        let full = format!("{line} from raw_data.user_session_channel c");
        let helper = helper();
        let (start, candidates) = helper.candidates(&full, line.len());
        assert_eq!((start, candidates), (7, vec!["c.channel".to_string()]));
        let (_, candidates) = helper.candidates("select em from users", 9);
        assert!(candidates.contains(&"email".to_string()), "{candidates:?}");
    }

    #[test]
    fn completes_functions_keywords_and_commands() {
        let out = complete("select up");
        assert!(out.contains(&"select upper".to_string()), "{out:?}");
        assert!(complete("SEL").contains(&"SELECT".to_string()));
        assert!(complete("sel").contains(&"select".to_string()));
        assert_eq!(complete("\\ti"), ["\\timing"]);
        assert_eq!(complete("\\ex"), ["\\explain"]);
    }

    #[test]
    fn completes_paths_inside_quotes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sales")).unwrap();
        std::fs::write(dir.path().join("sales.csv"), "x").unwrap();
        let prefix = format!("{}/sal", dir.path().display());
        let out = complete(&format!("copy t from '{prefix}"));
        let base = dir.path().display();
        assert_eq!(out, [format!("copy t from '{base}/sales.csv"), format!("copy t from '{base}/sales/")]);
    }

    #[test]
    fn highlights_tokens_and_matching_brackets() {
        let out = highlight("select 'a', 1 -- c", 0);
        assert_eq!(out, format!("{KEYWORD}select{RESET} {STRING}'a'{RESET}, {NUMBER}1{RESET} {COMMENT}-- c{RESET}"));
        let out = highlight("sum((a))", 4);
        assert_eq!(out.matches(MATCH).count(), 2, "{out:?}");
        assert!(out.ends_with(&format!("({MATCH}({RESET}a{MATCH}){RESET})")), "{out:?}");
    }

    #[test]
    fn hints_say_what_an_unfinished_statement_lacks() {
        assert_eq!(hint("select 'abc", 11).as_deref(), Some("  … the string is still open (')"));
        assert_eq!(hint("select sum(", 11).as_deref(), Some("  … 1 bracket to close"));
        assert_eq!(hint("select 1\n", 9).as_deref(), Some("  … end the statement with ;"));
        assert_eq!(hint("select 1;", 9), None);
    }
}
