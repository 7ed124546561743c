//! tarn's SQL parser: DataFusion's [`DFParser`] (Redshift dialect) plus the statements
//! DataFusion lacks. It never forks the grammar: it peeks at the first words and either parses
//! our extension or delegates to `DFParser`.

use std::ops::ControlFlow;

use datafusion::sql::parser::{DFParser, DFParserBuilder, Statement as DFStatement};
use datafusion::sql::sqlparser::ast::{
    Expr, LimitClause, ObjectName, Query, SetExpr, Statement as SqlStatement, TopQuantity, VisitMut, VisitorMut,
};
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::Token;

use crate::copy::offset;
use crate::error::{Error, Result};

/// One parsed statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    /// A statement of DataFusion's grammar (which includes every sqlparser statement).
    Sql(Box<DFStatement>),
    /// `BEGIN`, `START TRANSACTION`, `BEGIN TRANSACTION`.
    Begin,
    /// `BEGIN [TRANSACTION] AS OF SNAPSHOT n | AS OF TIMESTAMP '...'`: a read-only transaction
    /// that sees the warehouse as it was (time travel).
    BeginAsOf(AsOf),
    /// `COMMIT`, `END`.
    Commit,
    /// `ROLLBACK`, `ABORT`.
    Rollback,
    /// `SAVEPOINT name`.
    Savepoint(String),
    /// `ROLLBACK TO [SAVEPOINT] name`.
    RollbackTo(String),
    /// `RELEASE [SAVEPOINT] name`.
    Release(String),
    /// Redshift `COPY table [(cols)] FROM 'source' [options]`.
    CopyFrom(Box<crate::copy::CopyFrom>),
    /// Redshift `UNLOAD ('query') TO 'location' [options]`.
    Unload(Box<crate::unload::Unload>),
    /// `VACUUM [FULL | SORT ONLY | DELETE ONLY | REINDEX] [table] [RETAIN n HOURS | DAYS]`.
    Vacuum(Vacuum),
    /// `ANALYZE [VERBOSE] [table [(columns)]] [PREDICATE COLUMNS | ALL COLUMNS]`.
    Analyze(Analyze),
    /// DDL of the lake catalog: external schemas, databases, tables and partitions.
    Lake(Box<crate::lake::LakeStatement>),
    /// Redshift's `MERGE INTO t USING s ON cond REMOVE DUPLICATES`.
    MergeRemoveDuplicates(Box<crate::dml::MergeRemoveDuplicates>),
    /// Users, groups, roles, GRANT/REVOKE, default privileges, `ALTER ... OWNER TO`.
    Access(Box<crate::access::AccessStatement>),
    /// `CHECK TABLE t [PRIMARY KEY | UNIQUE | NOT NULL]`: the rows violating declared keys.
    CheckTable(CheckTable),
}

/// What `CHECK TABLE` checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckTable {
    pub table: ObjectName,
    /// The kinds of constraint to check; every kind when empty.
    pub kinds: Vec<ConstraintKind>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConstraintKind {
    PrimaryKey,
    Unique,
    NotNull,
}

/// What `VACUUM` works on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vacuum {
    /// Only this table (compaction); every table when `None`.
    pub table: Option<ObjectName>,
    /// Keep the states of this long ago and later (time travel); `None`: the default, 7 days.
    pub retain: Option<std::time::Duration>,
    /// How far tables with a sort key are re-sorted.
    pub sort: VacuumSort,
}

/// What `ANALYZE` works on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Analyze {
    /// A managed or external table; every managed table the user owns when `None`.
    pub table: Option<ObjectName>,
    /// Only these columns (all when empty).
    pub columns: Vec<String>,
}

/// What `VACUUM` does to the order of tables with a sort key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum VacuumSort {
    /// `FULL` (the default) and `SORT ONLY`: files whose sort key ranges overlap are merged
    /// into one sorted run (an interleaved key's files are left as they are).
    #[default]
    Sort,
    /// `DELETE ONLY`: no sorting.
    No,
    /// `REINDEX`: every file is rewritten in order, interleaved keys too.
    Reindex,
}

/// The past state a time-travel transaction reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AsOf {
    Snapshot(i64),
    /// The newest snapshot committed at or before this time.
    Timestamp(String),
}

/// Every SQL keyword the parser knows (upper case, sorted): for highlighting and completion.
pub fn keywords() -> &'static [&'static str] {
    datafusion::sql::sqlparser::keywords::ALL_KEYWORDS
}

/// Parses `;`-separated statements.
pub fn parse(sql: &str) -> Result<Vec<Statement>> {
    Ok(parse_with_text(sql)?.into_iter().map(|(statement, _)| statement).collect())
}

/// [`parse`], each statement with its text (for the query history).
pub fn parse_with_text(sql: &str) -> Result<Vec<(Statement, String)>> {
    let dialect = super::TarnDialect::default();
    let mut parser = DFParserBuilder::new(sql).with_dialect(&dialect).build().map_err(parse_error)?;
    let mut statements = Vec::new();
    let mut expecting_delimiter = false;
    loop {
        while parser.parser.consume_token(&Token::SemiColon) {
            expecting_delimiter = false;
        }
        let next = parser.parser.peek_token();
        if next.token == Token::EOF {
            break;
        }
        if expecting_delimiter {
            return Err(Error::Parse(format!("expected ';' between statements, found {next}")));
        }
        let start = offset(sql, parser.parser.peek_token().span.start);
        let statement = parse_one(&mut parser, sql)?;
        parser.parser.prev_token();
        let end = offset(sql, parser.parser.next_token().span.end).max(start);
        statements.push((statement, sql[start..end].to_string()));
        expecting_delimiter = true;
    }
    Ok(statements)
}

/// Parses `[database.][schema.]name` as SQL writes it (quoted parts keep their case).
pub(crate) fn parse_object_name(text: &str) -> Result<datafusion::sql::sqlparser::ast::ObjectName> {
    let dialect = super::TarnDialect::default();
    let mut parser = DFParserBuilder::new(text).with_dialect(&dialect).build().map_err(parse_error)?;
    let name = parser.parser.parse_object_name(false).map_err(|e| Error::Parse(e.to_string()))?;
    if parser.parser.peek_token().token != Token::EOF {
        return Err(Error::Parse(format!("'{text}' is not a name")));
    }
    Ok(name)
}

fn parse_error(e: datafusion::error::DataFusionError) -> Error {
    match e {
        datafusion::error::DataFusionError::SQL(inner, _) => {
            Error::Parse(inner.to_string().replace("sql parser error: ", ""))
        }
        other => Error::from(other),
    }
}

fn parse_one(p: &mut DFParser<'_>, sql: &str) -> Result<Statement> {
    if let Some(access) = crate::access::parse_access_statement(p)? {
        expect_end(p)?;
        return Ok(Statement::Access(Box::new(access)));
    }
    if let Some(lake) = crate::lake::parse::parse_lake_statement(p)? {
        return Ok(Statement::Lake(Box::new(lake)));
    }
    if let Token::Word(w) = p.parser.peek_token().token {
        match w.keyword {
            Keyword::END | Keyword::ABORT => {
                p.parser.next_token();
                let _ = p.parser.parse_one_of_keywords(&[Keyword::TRANSACTION, Keyword::WORK]);
                expect_end(p)?;
                return Ok(if w.keyword == Keyword::END { Statement::Commit } else { Statement::Rollback });
            }
            Keyword::BEGIN | Keyword::START if begins_as_of(p) => return parse_begin_as_of(p),
            Keyword::VACUUM => {
                p.parser.next_token();
                return parse_vacuum(p);
            }
            Keyword::ANALYZE => {
                p.parser.next_token();
                return parse_analyze(p);
            }
            Keyword::CHECK if matches!(p.parser.peek_nth_token(1).token, Token::Word(ref t) if t.keyword == Keyword::TABLE) =>
            {
                p.parser.next_token();
                p.parser.next_token();
                return parse_check_table(p);
            }
            // Redshift has COMMENT ON; sqlparser only routes it for some dialects.
            Keyword::COMMENT if matches!(p.parser.peek_nth_token(1).token, Token::Word(ref on) if on.keyword == Keyword::ON) =>
            {
                p.parser.next_token();
                let comment = p.parser.parse_comment().map_err(|e| Error::Parse(e.to_string()))?;
                return Ok(Statement::Sql(Box::new(DFStatement::Statement(Box::new(comment)))));
            }
            Keyword::COPY if is_redshift_copy_from(p) => {
                let text = statement_text(p, sql);
                return Ok(Statement::CopyFrom(Box::new(crate::copy::parse_copy_from(text)?)));
            }
            Keyword::MERGE if ends_with_remove_duplicates(p) => return parse_merge_remove_duplicates(p),
            Keyword::UNLOAD => {
                let text = statement_text(p, sql);
                return Ok(Statement::Unload(Box::new(crate::unload::parse_unload(text)?)));
            }
            _ => {}
        }
    }
    refuse_layout_alters(p)?;
    let statement = match redshift_create_table(p, sql)? {
        Some(statement) => statement,
        None => p.parse_statement().map_err(parse_error)?,
    };
    Ok(match statement {
        DFStatement::Statement(s) => match *s {
            SqlStatement::StartTransaction { .. } => Statement::Begin,
            SqlStatement::Commit { chain: false, .. } => Statement::Commit,
            SqlStatement::Rollback { chain: false, savepoint: None } => Statement::Rollback,
            SqlStatement::Rollback { chain: false, savepoint: Some(name) } => Statement::RollbackTo(name.value),
            SqlStatement::Savepoint { name } => Statement::Savepoint(name.value),
            SqlStatement::ReleaseSavepoint { name } => Statement::Release(name.value),
            SqlStatement::Commit { .. } | SqlStatement::Rollback { .. } => {
                return Err(Error::Unsupported("COMMIT AND CHAIN and ROLLBACK AND CHAIN".into()));
            }
            mut other => {
                rewrite_top(&mut other);
                Statement::Sql(Box::new(DFStatement::Statement(Box::new(other))))
            }
        },
        other => Statement::Sql(Box::new(other)),
    })
}

impl Statement {
    /// For `DEALLOCATE [PREPARE] name | ALL`: `Some(Some(name))`, or `Some(None)` for ALL. A
    /// server forgets its clients' prepared statements with it.
    pub fn deallocation(&self) -> Option<Option<String>> {
        let Statement::Sql(sql) = self else { return None };
        let DFStatement::Statement(inner) = sql.as_ref() else { return None };
        match inner.as_ref() {
            SqlStatement::Deallocate { name, .. } => {
                let all = name.quote_style.is_none() && name.value.eq_ignore_ascii_case("all");
                Some((!all).then(|| name.value.clone()))
            }
            _ => None,
        }
    }
}

/// Whether `statement` names Athena's `"$path"` or `"$size"` pseudo-columns: external tables
/// planned for it show them (and only then, so that `SELECT *` stays the table's columns).
pub(crate) fn uses_pseudo_columns(statement: &DFStatement) -> bool {
    let DFStatement::Statement(statement) = statement else { return false };
    let found = datafusion::sql::sqlparser::ast::visit_expressions(statement.as_ref(), |expr| {
        let ident = match expr {
            Expr::Identifier(ident) => Some(ident),
            Expr::CompoundIdentifier(parts) => parts.last(),
            _ => None,
        };
        match ident {
            Some(ident) if PSEUDO_COLUMNS.contains(&ident.value.as_str()) => ControlFlow::Break(()),
            _ => ControlFlow::Continue(()),
        }
    });
    found.is_break()
}

/// Athena's pseudo-columns of external tables: each row's file and that file's size in bytes.
pub(crate) const PSEUDO_COLUMNS: [&str; 2] = ["$path", "$size"];

/// After `ANALYZE` (Redshift's form): `[VERBOSE] [table [(columns)]] [PREDICATE COLUMNS | ALL COLUMNS]`.
/// tarn always analyzes every named column (predicate columns are not tracked, and Redshift
/// analyzes all columns when none are marked).
fn parse_analyze(p: &mut DFParser<'_>) -> Result<Statement> {
    let syntax = |e: datafusion::sql::sqlparser::parser::ParserError| Error::Parse(e.to_string());
    let is_word = |p: &DFParser<'_>, n: usize, word: &str| matches!(p.parser.peek_nth_token(n).token, Token::Word(ref w) if w.value.eq_ignore_ascii_case(word));
    let at_end = |p: &DFParser<'_>| matches!(p.parser.peek_token().token, Token::SemiColon | Token::EOF);
    let columns_clause =
        |p: &DFParser<'_>| (is_word(p, 0, "predicate") || is_word(p, 0, "all")) && is_word(p, 1, "columns");
    if is_word(p, 0, "compression") {
        return Err(Error::Unsupported(
            "ANALYZE COMPRESSION (tarn's Parquet files choose their encodings themselves)".into(),
        ));
    }
    let _verbose = p.parser.parse_keyword(Keyword::VERBOSE);
    let mut table = None;
    let mut columns = Vec::new();
    if !at_end(p) && !columns_clause(p) {
        table = Some(p.parser.parse_object_name(false).map_err(syntax)?);
        if p.parser.consume_token(&Token::LParen) {
            columns = p.parser.parse_comma_separated(|p| p.parse_identifier()).map_err(syntax)?;
            p.parser.expect_token(&Token::RParen).map_err(syntax)?;
        }
    }
    if columns_clause(p) {
        p.parser.next_token();
        p.parser.next_token();
    }
    if !at_end(p) {
        return Err(Error::Parse(format!(
            "unexpected {} in ANALYZE (expected ANALYZE [VERBOSE] [table [(columns)]] [PREDICATE COLUMNS | ALL COLUMNS])",
            p.parser.peek_token()
        )));
    }
    let columns = columns.into_iter().map(|c| crate::ddl::normalize(&c)).collect();
    Ok(Statement::Analyze(Analyze { table, columns }))
}

/// After `CHECK TABLE`: `name [PRIMARY KEY | UNIQUE | NOT NULL [, ...]]`.
fn parse_check_table(p: &mut DFParser<'_>) -> Result<Statement> {
    let syntax = |e: datafusion::sql::sqlparser::parser::ParserError| Error::Parse(e.to_string());
    let table = p.parser.parse_object_name(false).map_err(syntax)?;
    let mut kinds = Vec::new();
    loop {
        let kind = if p.parser.parse_keywords(&[Keyword::PRIMARY, Keyword::KEY]) {
            ConstraintKind::PrimaryKey
        } else if p.parser.parse_keyword(Keyword::UNIQUE) {
            ConstraintKind::Unique
        } else if p.parser.parse_keywords(&[Keyword::NOT, Keyword::NULL]) {
            ConstraintKind::NotNull
        } else {
            break;
        };
        kinds.push(kind);
        if !p.parser.consume_token(&Token::Comma) {
            break;
        }
    }
    if !matches!(p.parser.peek_token().token, Token::SemiColon | Token::EOF) {
        return Err(Error::Parse(format!(
            "unexpected {} in CHECK TABLE (expected CHECK TABLE name [PRIMARY KEY | UNIQUE | NOT NULL])",
            p.parser.peek_token()
        )));
    }
    Ok(Statement::CheckTable(CheckTable { table, kinds }))
}

/// After `VACUUM`: `[FULL | SORT ONLY | DELETE ONLY | REINDEX] [table] [RETAIN n HOURS | DAYS]`.
/// Every kind reclaims space and compacts small files; all but DELETE ONLY also re-sort.
fn parse_vacuum(p: &mut DFParser<'_>) -> Result<Statement> {
    let syntax = |e: datafusion::sql::sqlparser::parser::ParserError| Error::Parse(e.to_string());
    let is_word = |p: &DFParser<'_>, n: usize, word: &str| matches!(p.parser.peek_nth_token(n).token, Token::Word(ref w) if w.value.eq_ignore_ascii_case(word));
    // FULL (the default) and SORT ONLY both sort; tarn always reclaims space.
    let sort = if p.parser.parse_keyword(Keyword::FULL) {
        VacuumSort::Sort
    } else if p.parser.parse_keyword(Keyword::DELETE) {
        p.parser.expect_keyword(Keyword::ONLY).map_err(syntax)?;
        VacuumSort::No
    } else if is_word(p, 0, "sort") && is_word(p, 1, "only") {
        p.parser.next_token();
        p.parser.next_token();
        VacuumSort::Sort
    } else if is_word(p, 0, "reindex") {
        p.parser.next_token();
        VacuumSort::Reindex
    } else {
        VacuumSort::Sort
    };
    let at_end = |p: &DFParser<'_>| matches!(p.parser.peek_token().token, Token::SemiColon | Token::EOF);
    let is_retain = |p: &DFParser<'_>| matches!(p.parser.peek_token().token, Token::Word(ref w) if w.value.eq_ignore_ascii_case("retain"));
    let table = if at_end(p) || is_retain(p) { None } else { Some(p.parser.parse_object_name(false).map_err(syntax)?) };
    let mut retain = None;
    if is_retain(p) {
        p.parser.next_token();
        let amount: u64 = match p.parser.next_token().token {
            Token::Number(n, _) => n.parse().map_err(|_| Error::Parse(format!("invalid RETAIN amount {n}")))?,
            other => return Err(Error::Parse(format!("expected a number after RETAIN, found {other}"))),
        };
        let unit = match p.parser.next_token().token {
            Token::Word(w) if w.value.eq_ignore_ascii_case("hours") || w.value.eq_ignore_ascii_case("hour") => 3600,
            Token::Word(w) if w.value.eq_ignore_ascii_case("days") || w.value.eq_ignore_ascii_case("day") => 86400,
            other => return Err(Error::Parse(format!("expected HOURS or DAYS after RETAIN {amount}, found {other}"))),
        };
        retain = Some(std::time::Duration::from_secs(amount * unit));
    }
    if !at_end(p) {
        return Err(Error::Unsupported(format!(
            "VACUUM option {} (tarn's VACUUM takes [FULL | SORT ONLY | DELETE ONLY | REINDEX] [table] [RETAIN n HOURS | DAYS])",
            p.parser.peek_token()
        )));
    }
    Ok(Statement::Vacuum(Vacuum { table, retain, sort }))
}

/// Whether the statement at the parser's position ends with `REMOVE DUPLICATES`.
fn ends_with_remove_duplicates(p: &DFParser<'_>) -> bool {
    let mut words = Vec::new();
    for n in 0..100_000 {
        match p.parser.peek_nth_token(n).token {
            Token::SemiColon | Token::EOF => break,
            Token::Word(w) => words.push(w.value.to_ascii_uppercase()),
            _ => words.push(String::new()),
        }
    }
    words.len() >= 2 && words[words.len() - 2] == "REMOVE" && words[words.len() - 1] == "DUPLICATES"
}

/// `MERGE INTO target USING source [[AS] alias] ON cond REMOVE DUPLICATES`.
fn parse_merge_remove_duplicates(p: &mut DFParser<'_>) -> Result<Statement> {
    let syntax = |e: datafusion::sql::sqlparser::parser::ParserError| Error::Parse(e.to_string());
    p.parser.expect_keyword(Keyword::MERGE).map_err(syntax)?;
    let _ = p.parser.parse_keyword(Keyword::INTO);
    let target = p.parser.parse_table_factor().map_err(syntax)?;
    p.parser.expect_keyword(Keyword::USING).map_err(syntax)?;
    let source = p.parser.parse_table_factor().map_err(syntax)?;
    p.parser.expect_keyword(Keyword::ON).map_err(syntax)?;
    let on = p.parser.parse_expr().map_err(syntax)?;
    for word in ["REMOVE", "DUPLICATES"] {
        match p.parser.next_token().token {
            Token::Word(w) if w.value.eq_ignore_ascii_case(word) => {}
            other => return Err(Error::Parse(format!("expected {word}, found {other}"))),
        }
    }
    expect_end(p)?;
    Ok(Statement::MergeRemoveDuplicates(Box::new(crate::dml::MergeRemoveDuplicates { target, source, on })))
}

/// `BEGIN [TRANSACTION|WORK] AS ...` or `START TRANSACTION AS ...`.
fn begins_as_of(p: &DFParser<'_>) -> bool {
    let mut n = 1;
    if matches!(p.parser.peek_nth_token(n).token, Token::Word(ref w) if matches!(w.keyword, Keyword::TRANSACTION | Keyword::WORK))
    {
        n += 1;
    }
    matches!(p.parser.peek_nth_token(n).token, Token::Word(ref w) if w.keyword == Keyword::AS)
}

fn parse_begin_as_of(p: &mut DFParser<'_>) -> Result<Statement> {
    let syntax = |e: datafusion::sql::sqlparser::parser::ParserError| Error::Parse(e.to_string());
    p.parser.next_token();
    let _ = p.parser.parse_one_of_keywords(&[Keyword::TRANSACTION, Keyword::WORK]);
    p.parser.expect_keywords(&[Keyword::AS, Keyword::OF]).map_err(syntax)?;
    let as_of = match p.parser.next_token().token {
        Token::Word(w) if w.value.eq_ignore_ascii_case("snapshot") => match p.parser.next_token().token {
            Token::Number(n, _) => {
                AsOf::Snapshot(n.parse().map_err(|_| Error::Parse(format!("invalid snapshot id {n}")))?)
            }
            other => return Err(Error::Parse(format!("expected a snapshot id after AS OF SNAPSHOT, found {other}"))),
        },
        Token::Word(w) if w.keyword == Keyword::TIMESTAMP => {
            AsOf::Timestamp(p.parser.parse_literal_string().map_err(syntax)?)
        }
        other => return Err(Error::Parse(format!("expected SNAPSHOT or TIMESTAMP after AS OF, found {other}"))),
    };
    expect_end(p)?;
    Ok(Statement::BeginAsOf(as_of))
}

fn expect_end(p: &DFParser<'_>) -> Result<()> {
    match p.parser.peek_token().token {
        Token::SemiColon | Token::EOF => Ok(()),
        other => Err(Error::Parse(format!("expected end of statement, found {other}"))),
    }
}

/// Redshift's `ALTER TABLE t ALTER DISTKEY | DISTSTYLE | COMPOUND SORTKEY | INTERLEAVED SORTKEY |
/// SORTKEY AUTO | SORTKEY NONE | ENCODE ...`, which sqlparser would misread as `ALTER COLUMN`:
/// a clear `not supported yet` (`ALTER SORTKEY (cols)` is supported).
fn refuse_layout_alters(p: &DFParser<'_>) -> Result<()> {
    let word = |n: usize| match p.parser.peek_nth_token(n).token {
        Token::Word(w) => w.value.to_ascii_uppercase(),
        _ => String::new(),
    };
    if word(0) != "ALTER" || word(1) != "TABLE" {
        return Ok(());
    }
    // ALTER TABLE [IF EXISTS] name[.name] ALTER ...
    let mut n = 2;
    if word(n) == "IF" {
        n += 2;
    }
    n += 1;
    while p.parser.peek_nth_token(n).token == Token::Period {
        n += 2;
    }
    if word(n) != "ALTER" {
        return Ok(());
    }
    let what = match (word(n + 1).as_str(), word(n + 2).as_str()) {
        ("DISTKEY" | "DISTSTYLE" | "ENCODE", _) => word(n + 1),
        ("COMPOUND" | "INTERLEAVED", "SORTKEY") => format!("{} SORTKEY", word(n + 1)),
        ("SORTKEY", second @ ("AUTO" | "NONE")) => format!("SORTKEY {second}"),
        _ => return Ok(()),
    };
    Err(Error::Unsupported(format!(
        "ALTER TABLE ... ALTER {what} (tarn takes ALTER TABLE ... ALTER SORTKEY (columns))"
    )))
}

/// A CREATE TABLE with Redshift attributes sqlparser refuses (see [`super::redshift_ddl`]),
/// parsed without them; `None` (nothing consumed) for any other statement.
fn redshift_create_table(p: &mut DFParser<'_>, sql: &str) -> Result<Option<DFStatement>> {
    if !matches!(p.parser.peek_token().token, Token::Word(ref w) if w.keyword == Keyword::CREATE) {
        return Ok(None);
    }
    let is_table =
        (1..5).any(|n| matches!(p.parser.peek_nth_token(n).token, Token::Word(ref w) if w.keyword == Keyword::TABLE));
    if !is_table {
        return Ok(None);
    }
    let start = p.parser.peek_token().span.start;
    let mut end = start;
    let mut n = 0;
    loop {
        let token = p.parser.peek_nth_token(n);
        if matches!(token.token, Token::SemiColon | Token::EOF) {
            break;
        }
        end = token.span.end;
        n += 1;
    }
    let text = &sql[offset(sql, start)..offset(sql, end)];
    let dialect = super::TarnDialect::default();
    let Some((stripped, keys)) = super::redshift_ddl::strip_layout(text, &dialect)? else {
        return Ok(None);
    };
    for _ in 0..n {
        p.parser.next_token();
    }
    let mut inner = DFParserBuilder::new(stripped.as_str()).with_dialect(&dialect).build().map_err(parse_error)?;
    let mut statement = inner.parse_statement().map_err(parse_error)?;
    expect_end(&inner)?;
    if let DFStatement::Statement(create) = &mut statement {
        super::redshift_ddl::apply_keys(create, keys);
    }
    Ok(Some(statement))
}

/// `COPY name [(cols)] FROM ...` (Redshift), as opposed to DataFusion's `COPY ... TO`.
/// The text of the statement at the parser's position, up to `;` (consumed from the parser),
/// for the statements whose options tarn parses itself.
fn statement_text<'a>(p: &mut DFParser<'_>, sql: &'a str) -> &'a str {
    let start = p.parser.peek_token().span.start;
    let mut end = start;
    while !matches!(p.parser.peek_token().token, Token::SemiColon | Token::EOF) {
        end = p.parser.next_token().span.end;
    }
    &sql[offset(sql, start)..offset(sql, end)]
}

fn is_redshift_copy_from(p: &DFParser<'_>) -> bool {
    let mut depth = 0usize;
    for n in 1..256 {
        match p.parser.peek_nth_token(n).token {
            Token::LParen => depth += 1,
            Token::RParen => depth = depth.saturating_sub(1),
            Token::Word(w) if depth == 0 && w.keyword == Keyword::FROM => return true,
            Token::Word(w) if depth == 0 && w.keyword == Keyword::TO => return false,
            Token::SemiColon | Token::EOF => return false,
            _ => {}
        }
    }
    false
}

/// Rewrites Redshift's `SELECT TOP n ...` into `SELECT ... LIMIT n` everywhere in a statement.
fn rewrite_top(statement: &mut SqlStatement) {
    struct TopToLimit;
    impl VisitorMut for TopToLimit {
        type Break = ();
        fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
            if let SetExpr::Select(select) = query.body.as_mut()
                && let Some(top) = &select.top
                && !top.percent
                && !top.with_ties
                && query.limit_clause.is_none()
                && let Some(quantity) = &top.quantity
            {
                let limit = match quantity {
                    TopQuantity::Expr(e) => e.clone(),
                    TopQuantity::Constant(n) => {
                        Expr::value(datafusion::sql::sqlparser::ast::Value::Number(n.to_string(), false))
                    }
                };
                select.top = None;
                query.limit_clause =
                    Some(LimitClause::LimitOffset { limit: Some(limit), offset: None, limit_by: vec![] });
            }
            ControlFlow::Continue(())
        }
    }
    let _ = statement.visit(&mut TopToLimit);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_statements_and_recognises_transactions() {
        let stmts = parse("BEGIN; select 1; ; END TRANSACTION; abort; start transaction; commit; rollback").unwrap();
        assert_eq!(stmts.len(), 7);
        assert_eq!(stmts[0], Statement::Begin);
        assert!(matches!(stmts[1], Statement::Sql(_)));
        assert_eq!(stmts[2], Statement::Commit);
        assert_eq!(stmts[3], Statement::Rollback);
        assert_eq!(stmts[4], Statement::Begin);
        assert_eq!(stmts[5], Statement::Commit);
        assert_eq!(stmts[6], Statement::Rollback);
    }

    #[test]
    fn top_becomes_limit() {
        let stmts = parse("select top 10 a from t order by 1 desc").unwrap();
        let Statement::Sql(s) = &stmts[0] else { panic!() };
        assert_eq!(s.to_string(), "SELECT a FROM t ORDER BY 1 DESC LIMIT 10");
    }

    #[test]
    fn statements_need_separators() {
        assert!(parse("select 1 select 2").is_err());
    }

    #[test]
    fn redshift_copy_from_and_datafusion_copy_to_are_told_apart() {
        let stmts = parse("COPY t FROM 's3://b/k' iam_role 'x' csv; select 1").unwrap();
        assert!(matches!(&stmts[0], Statement::CopyFrom(c) if c.source == "s3://b/k"));
        assert!(matches!(stmts[1], Statement::Sql(_)));
        assert!(matches!(parse("COPY (select 1) TO '/tmp/x.csv'").unwrap()[0], Statement::Sql(_)));
    }

    #[test]
    fn time_travel_transactions() {
        assert_eq!(parse("BEGIN AS OF SNAPSHOT 3").unwrap(), vec![Statement::BeginAsOf(AsOf::Snapshot(3))]);
        assert_eq!(
            parse("start transaction as of timestamp '2024-01-01 10:00:00'").unwrap(),
            vec![Statement::BeginAsOf(AsOf::Timestamp("2024-01-01 10:00:00".into()))]
        );
        assert!(parse("BEGIN AS OF YESTERDAY").is_err());
        assert_eq!(parse("BEGIN TRANSACTION").unwrap(), vec![Statement::Begin]);
    }

    #[test]
    fn access_control_statements_and_what_is_not_supported_yet() {
        for sql in [
            "UNLOAD ('select 1') TO 's3://b/p/' ENCRYPTED",
            "GRANT EXECUTE ON FUNCTION f TO u",
            "GRANT DROP ON t TO u",
            "ALTER ROLE r RENAME TO s",
        ] {
            let err = parse(sql).unwrap_err().to_string();
            assert!(err.starts_with("not supported yet: "), "{sql}: {err}");
        }
        for sql in [
            "CREATE USER keeyong PASSWORD '...'",
            "CREATE GROUP analytics_users",
            "ALTER GROUP analytics_authors ADD USER keeyong",
            "CREATE ROLE staff",
            "GRANT ROLE staff TO keeyong",
            "GRANT USAGE ON SCHEMA analytics TO GROUP analytics_users",
            "GRANT SELECT ON ALL TABLES IN SCHEMA analytics TO GROUP analytics_users",
            "ALTER DEFAULT PRIVILEGES IN SCHEMA s GRANT SELECT ON TABLES TO PUBLIC",
            "REVOKE ALL ON t FROM GROUP g",
            "ALTER TABLE s.t OWNER TO u",
        ] {
            assert!(matches!(parse(sql).unwrap()[0], Statement::Access(_)), "{sql}");
        }
    }

    #[test]
    fn pseudo_columns_are_found_anywhere_in_a_query() {
        let uses = |sql: &str| match &parse(sql).unwrap()[0] {
            Statement::Sql(statement) => uses_pseudo_columns(statement),
            other => panic!("{other:?}"),
        };
        assert!(uses("SELECT \"$path\", count(*) FROM spectrum.sales GROUP BY 1"));
        assert!(uses("SELECT count(*) FROM s.t WHERE s.t.\"$size\" > 10"));
        assert!(!uses("SELECT path, \"size\" FROM t"));
    }

    #[test]
    fn vacuum() {
        assert_eq!(
            parse("vacuum").unwrap(),
            vec![Statement::Vacuum(Vacuum { table: None, retain: None, sort: VacuumSort::Sort })]
        );
        assert!(matches!(
            &parse("VACUUM SORT ONLY t").unwrap()[0],
            Statement::Vacuum(Vacuum { table: Some(_), sort: VacuumSort::Sort, .. })
        ));
        assert!(matches!(
            &parse("vacuum reindex t").unwrap()[0],
            Statement::Vacuum(Vacuum { table: Some(_), sort: VacuumSort::Reindex, .. })
        ));
        assert!(matches!(
            &parse("VACUUM s.t;").unwrap()[0],
            Statement::Vacuum(Vacuum { table: Some(_), retain: None, .. })
        ));
        assert!(matches!(
            &parse("VACUUM FULL t RETAIN 0 HOURS").unwrap()[0],
            Statement::Vacuum(Vacuum { table: Some(_), retain: Some(d), .. }) if d.as_secs() == 0
        ));
        assert!(matches!(
            &parse("VACUUM DELETE ONLY RETAIN 2 days").unwrap()[0],
            Statement::Vacuum(Vacuum { table: None, retain: Some(d), sort: VacuumSort::No }) if d.as_secs() == 172800
        ));
        assert!(parse("VACUUM RETAIN 2 weeks").is_err());
        assert!(parse("vacuum full t to 99 percent").is_err());
    }
}
