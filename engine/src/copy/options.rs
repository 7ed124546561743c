//! Parsing Redshift's `COPY table [(cols)] FROM 'source' [options]`.
//!
//! sqlparser's `parse_copy` reads the table, columns, source and every option it knows
//! (`CopyLegacyOption`); its option loop stops at the first word it does not know. tarn parses
//! those (MAXERROR, FILLRECORD, TRIMBLANKS, IGNOREBLANKLINES, NOLOAD, ACCESS_KEY_ID, ...) and
//! hands what follows back to sqlparser, until the statement ends. An option neither knows is
//! an error naming it.

use datafusion::sql::sqlparser::ast::{
    CopyLegacyCsvOption, CopyLegacyOption, CopySource, CopyTarget, IamRoleKind, Statement as SqlStatement,
};
use datafusion::sql::sqlparser::dialect::RedshiftSqlDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::{Location, Token};

use crate::error::{Error, Result};

/// A parsed `COPY ... FROM`.
#[derive(Debug, Clone, PartialEq)]
pub struct CopyFrom {
    /// `[schema.]table` as written.
    pub table: datafusion::sql::sqlparser::ast::ObjectName,
    /// Target columns, in the order of the input fields; empty: all, in table order.
    pub columns: Vec<String>,
    pub source: String,
    pub options: CopyOptions,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputFormat {
    /// Delimited text (Redshift's default; `|` unless DELIMITER says otherwise).
    Text,
    Csv {
        quote: char,
    },
    Parquet,
    Json(Option<String>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Bzip2,
    Zstd,
}

impl Compression {
    /// The compression a file name's extension says (`.gz`, `.gzip`, `.bz2`, `.zst`, `.zstd`).
    pub fn of_file(name: &str) -> Option<Compression> {
        let name = name.to_ascii_lowercase();
        match name.rsplit_once('.').map(|(_, e)| e).unwrap_or_default() {
            "gz" | "gzip" => Some(Compression::Gzip),
            "bz2" => Some(Compression::Bzip2),
            "zst" | "zstd" => Some(Compression::Zstd),
            _ => None,
        }
    }
}

/// The auth clauses of a COPY or UNLOAD. `Debug` never shows the secrets.
#[derive(Clone, PartialEq, Default)]
pub struct Credentials {
    pub iam_role: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("iam_role", &self.iam_role)
            .field("access_key_id", &self.access_key_id.as_ref().map(|_| "<set>"))
            .field("secret_access_key", &self.secret_access_key.as_ref().map(|_| "<set>"))
            .field("session_token", &self.session_token.as_ref().map(|_| "<set>"))
            .finish()
    }
}

impl Credentials {
    /// Applies an auth clause sqlparser parsed (`IAM_ROLE`, `CREDENTIALS '...'`); false for
    /// other options.
    pub(crate) fn apply(&mut self, option: CopyLegacyOption) -> Result<bool> {
        match option {
            CopyLegacyOption::IamRole(role) => {
                self.iam_role = Some(match role {
                    IamRoleKind::Default => "default".to_string(),
                    IamRoleKind::Arn(arn) => arn,
                })
            }
            CopyLegacyOption::Credentials(text) => {
                for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
                    let (key, value) = part.split_once('=').ok_or_else(|| {
                        Error::Invalid("CREDENTIALS takes 'key=value;...' (aws_iam_role=... or aws_access_key_id=...;aws_secret_access_key=...)".into())
                    })?;
                    let value = Some(value.trim().to_string());
                    match key.trim().to_ascii_lowercase().as_str() {
                        "aws_iam_role" => self.iam_role = value,
                        "aws_access_key_id" => self.access_key_id = value,
                        "aws_secret_access_key" => self.secret_access_key = value,
                        "token" | "aws_session_token" => self.session_token = value,
                        other => return Err(Error::Invalid(format!("unknown CREDENTIALS key '{other}'"))),
                    }
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Parses `ACCESS_KEY_ID | SECRET_ACCESS_KEY | SESSION_TOKEN [AS] 'value'` (sqlparser does
    /// not know them); false when the next word is none of them.
    pub(crate) fn parse_key_clause(&mut self, parser: &mut Parser<'_>) -> Result<bool> {
        let Token::Word(word) = parser.peek_token().token else { return Ok(false) };
        let slot = match word.value.to_ascii_uppercase().as_str() {
            "ACCESS_KEY_ID" => &mut self.access_key_id,
            "SECRET_ACCESS_KEY" => &mut self.secret_access_key,
            "SESSION_TOKEN" => &mut self.session_token,
            _ => return Ok(false),
        };
        parser.next_token();
        let _ = parser.parse_keyword(Keyword::AS);
        *slot = Some(parser.parse_literal_string().map_err(syntax)?);
        Ok(true)
    }

    /// The S3 settings these clauses give over the environment's. An IAM role is resolved
    /// through the standard credential chain, so it adds nothing here.
    pub(crate) fn overrides(&self, region: Option<&str>) -> Result<crate::storage::S3Overrides> {
        if self.access_key_id.is_some() != self.secret_access_key.is_some() {
            return Err(Error::Invalid(
                "ACCESS_KEY_ID and SECRET_ACCESS_KEY (or aws_access_key_id and aws_secret_access_key) must be given together"
                    .into(),
            ));
        }
        Ok(crate::storage::S3Overrides {
            access_key_id: self.access_key_id.clone(),
            secret_access_key: self.secret_access_key.clone(),
            session_token: self.session_token.clone(),
            region: region.map(str::to_string),
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct CopyOptions {
    pub format: InputFormat,
    pub delimiter: Option<char>,
    pub ignore_header: u64,
    pub remove_quotes: bool,
    pub escape: bool,
    pub null_as: Option<String>,
    pub empty_as_null: bool,
    pub blanks_as_null: bool,
    pub trim_blanks: bool,
    pub fill_record: bool,
    pub truncate_columns: bool,
    pub accept_inv_chars: Option<char>,
    pub accept_any_date: bool,
    pub date_format: Option<String>,
    pub time_format: Option<String>,
    pub compression: Option<Compression>,
    pub max_error: u64,
    pub ignore_blank_lines: bool,
    pub no_load: bool,
    pub manifest: bool,
    /// `STATUPDATE ON`: the loaded files get distinct-value estimates (as ANALYZE gives).
    pub stat_update: bool,
    pub credentials: Credentials,
    pub region: Option<String>,
}

impl Default for CopyOptions {
    fn default() -> Self {
        CopyOptions {
            format: InputFormat::Text,
            delimiter: None,
            ignore_header: 0,
            remove_quotes: false,
            escape: false,
            null_as: None,
            empty_as_null: false,
            blanks_as_null: false,
            trim_blanks: false,
            fill_record: false,
            truncate_columns: false,
            accept_inv_chars: None,
            accept_any_date: false,
            date_format: None,
            time_format: None,
            compression: None,
            max_error: 0,
            ignore_blank_lines: false,
            no_load: false,
            manifest: false,
            stat_update: false,
            credentials: Credentials::default(),
            region: None,
        }
    }
}

impl CopyOptions {
    /// The field delimiter: DELIMITER, or `,` for CSV and `|` for text.
    pub fn field_delimiter(&self) -> char {
        self.delimiter.unwrap_or(if self.csv_quote().is_some() { ',' } else { '|' })
    }

    /// The quote character of CSV input; `None` for other formats.
    pub fn csv_quote(&self) -> Option<char> {
        match self.format {
            InputFormat::Csv { quote } => Some(quote),
            _ => None,
        }
    }

    /// Checks what options are set together; delimiters and quotes are single ASCII characters
    /// (as in Redshift), so input can be split into records without decoding it.
    fn validate(&self) -> Result<()> {
        for (name, c) in [("DELIMITER", Some(self.field_delimiter())), ("QUOTE", self.csv_quote())] {
            if let Some(c) = c
                && (!c.is_ascii() || c == '\n' || c == '\r')
            {
                return Err(Error::Invalid(format!(
                    "COPY {name} must be a single ASCII character other than a line end, not {c:?}"
                )));
            }
        }
        if self.csv_quote().is_some() && (self.remove_quotes || self.escape) {
            let option = if self.remove_quotes { "REMOVEQUOTES" } else { "ESCAPE" };
            return Err(Error::Invalid(format!("COPY option {option} cannot be used with CSV")));
        }
        if !matches!(self.format, InputFormat::Text | InputFormat::Csv { .. }) {
            let text_only = [
                ("DELIMITER", self.delimiter.is_some()),
                ("IGNOREHEADER", self.ignore_header > 0),
                ("REMOVEQUOTES", self.remove_quotes),
                ("ESCAPE", self.escape),
                ("FILLRECORD", self.fill_record),
                ("IGNOREBLANKLINES", self.ignore_blank_lines),
            ];
            if let Some((option, _)) = text_only.iter().find(|(_, set)| *set) {
                let format = if self.format == InputFormat::Parquet { "PARQUET" } else { "JSON" };
                return Err(Error::Invalid(format!("COPY option {option} cannot be used with FORMAT {format}")));
            }
        }
        Ok(())
    }
}

fn syntax(e: ParserError) -> Error {
    Error::Parse(e.to_string().replace("sql parser error: ", ""))
}

/// Byte offset of a token location in `text`.
pub(crate) fn offset(text: &str, location: Location) -> usize {
    let mut line = 1;
    for (index, ch) in text.char_indices() {
        if line == location.line {
            return text[index..]
                .char_indices()
                .nth(location.column as usize - 1)
                .map_or(text.len(), |(i, _)| index + i);
        }
        if ch == '\n' {
            line += 1;
        }
    }
    text.len()
}

/// Parses one `COPY ... FROM ...` statement (`text` starts at `COPY`, ends before `;`).
pub fn parse_copy_from(text: &str) -> Result<CopyFrom> {
    let mut copy = parse_statement(text)?;
    if copy.options.null_as.is_some() {
        copy.options.null_as = raw_null_as(text).or(copy.options.null_as);
    }
    copy.options.validate()?;
    Ok(copy)
}

/// The `NULL AS` string as Redshift reads it: as written, backslashes included (`'\N'` is
/// backslash-N, the text format's own null marker), but for `'\0'`, the NUL character. The
/// SQL tokenizer would unescape it (`'\N'` → `N`), so it is taken from the raw text.
fn raw_null_as(text: &str) -> Option<String> {
    use datafusion::sql::sqlparser::tokenizer::Tokenizer;
    let dialect = RedshiftSqlDialect {};
    let tokens = Tokenizer::new(&dialect, text).with_unescape(false).tokenize().ok()?;
    let mut words = tokens.iter().filter(|t| !matches!(t, Token::Whitespace(_)));
    while let Some(token) = words.next() {
        if !matches!(token, Token::Word(w) if w.keyword == Keyword::NULL) {
            continue;
        }
        let mut next = words.next()?;
        if matches!(next, Token::Word(w) if w.keyword == Keyword::AS) {
            next = words.next()?;
        }
        if let Token::SingleQuotedString(raw) = next {
            return Some(match raw.as_str() {
                "\\0" => "\0".to_string(),
                raw => raw.replace("''", "'").replace("\\'", "'"),
            });
        }
    }
    None
}

fn parse_statement(text: &str) -> Result<CopyFrom> {
    let dialect = RedshiftSqlDialect {};
    let mut parser = Parser::new(&dialect).try_with_sql(text).map_err(syntax)?;
    parser.expect_keyword(Keyword::COPY).map_err(syntax)?;
    let SqlStatement::Copy { source, to: false, target, options, legacy_options, .. } =
        parser.parse_copy().map_err(syntax)?
    else {
        return Err(Error::Parse("expected COPY table FROM 'source'".into()));
    };
    let CopySource::Table { table_name, columns } = source else {
        return Err(Error::Parse("COPY ... FROM loads into a table, not a query".into()));
    };
    let CopyTarget::File { filename } = target else {
        return Err(Error::Unsupported("COPY FROM STDIN or PROGRAM".into()));
    };
    if !options.is_empty() {
        return Err(Error::Unsupported("PostgreSQL COPY ... WITH (...) options (use Redshift's)".into()));
    }
    let mut copy = CopyFrom {
        table: table_name,
        columns: columns.iter().map(crate::ddl::normalize).collect(),
        source: filename,
        options: CopyOptions::default(),
    };
    apply_legacy(&mut copy.options, legacy_options)?;
    loop {
        if parser.peek_token().token == Token::EOF {
            break;
        }
        if parse_extension(&mut parser, &mut copy.options)? {
            continue;
        }
        // An option sqlparser knows, after one of ours: let sqlparser parse the rest.
        let rest = &text[offset(text, parser.peek_token().span.start)..];
        let word = parser.peek_token().to_string();
        let resumed = format!("COPY t FROM '' {rest}");
        let mut sub = Parser::new(&dialect).try_with_sql(&resumed).map_err(syntax)?;
        sub.expect_keyword(Keyword::COPY).map_err(syntax)?;
        let SqlStatement::Copy { legacy_options, .. } = sub.parse_copy().map_err(syntax)? else {
            return Err(Error::Parse(format!("cannot parse COPY options from {word}")));
        };
        if legacy_options.is_empty() {
            return Err(Error::Unsupported(format!("COPY option {word}")));
        }
        apply_legacy(&mut copy.options, legacy_options)?;
        let consumed = offset(&resumed, sub.peek_token().span.start) - "COPY t FROM '' ".len();
        let remaining = &rest[consumed.min(rest.len())..];
        return finish_with(copy, remaining);
    }
    Ok(copy)
}

/// Continues parsing options from `remaining` (after a hand-back to sqlparser).
fn finish_with(copy: CopyFrom, remaining: &str) -> Result<CopyFrom> {
    if remaining.trim().is_empty() {
        return Ok(copy);
    }
    let text = format!("COPY t FROM '' {remaining}");
    let mut rest = parse_statement(&text)?;
    let defaults = CopyOptions::default();
    merge_options(&mut rest.options, copy.options, &defaults);
    Ok(CopyFrom { options: rest.options, ..copy })
}

/// Options set in `earlier` (those differing from the defaults) win over unset ones in `later`.
fn merge_options(later: &mut CopyOptions, earlier: CopyOptions, defaults: &CopyOptions) {
    macro_rules! keep {
        ($($field:ident),*) => {$(
            if earlier.$field != defaults.$field {
                later.$field = earlier.$field.clone();
            }
        )*};
    }
    keep!(
        format,
        delimiter,
        ignore_header,
        remove_quotes,
        escape,
        null_as,
        empty_as_null,
        blanks_as_null,
        trim_blanks,
        fill_record,
        truncate_columns,
        accept_inv_chars,
        accept_any_date,
        date_format,
        time_format,
        compression,
        max_error,
        ignore_blank_lines,
        no_load,
        manifest,
        stat_update,
        region
    );
    if earlier.credentials != defaults.credentials {
        let c = &mut later.credentials;
        let e = earlier.credentials;
        c.iam_role = c.iam_role.take().or(e.iam_role);
        c.access_key_id = c.access_key_id.take().or(e.access_key_id);
        c.secret_access_key = c.secret_access_key.take().or(e.secret_access_key);
        c.session_token = c.session_token.take().or(e.session_token);
    }
}

/// Options sqlparser does not parse. Returns false when the next word is not one of them.
fn parse_extension(parser: &mut Parser<'_>, options: &mut CopyOptions) -> Result<bool> {
    let Token::Word(word) = parser.peek_token().token else {
        return Err(Error::Parse(format!("unexpected {} in COPY options", parser.peek_token())));
    };
    let name = word.value.to_ascii_uppercase();
    let number = |parser: &mut Parser<'_>| -> Result<u64> {
        let _ = parser.parse_keyword(Keyword::AS);
        match parser.next_token().token {
            Token::Number(n, _) => n.parse().map_err(|_| Error::Parse(format!("{name} takes a whole number, not {n}"))),
            other => Err(Error::Parse(format!("{name} takes a number, found {other}"))),
        }
    };
    match name.as_str() {
        "MAXERROR" => {
            parser.next_token();
            options.max_error = number(parser)?;
        }
        "COMPROWS" => {
            parser.next_token();
            number(parser)?; // Sampling for compression analysis: no meaning for Parquet files.
        }
        "FILLRECORD" => {
            parser.next_token();
            options.fill_record = true;
        }
        "TRIMBLANKS" => {
            parser.next_token();
            options.trim_blanks = true;
        }
        "IGNOREBLANKLINES" => {
            parser.next_token();
            options.ignore_blank_lines = true;
        }
        "NOLOAD" => {
            parser.next_token();
            options.no_load = true;
        }
        "ACCESS_KEY_ID" | "SECRET_ACCESS_KEY" | "SESSION_TOKEN" => {
            options.credentials.parse_key_clause(parser)?;
        }
        "FORMAT"
            if matches!(parser.peek_nth_token(1).token, Token::Word(ref w) if ["AVRO", "ORC"].contains(&w.value.to_ascii_uppercase().as_str()))
                || matches!(parser.peek_nth_token(2).token, Token::Word(ref w) if ["AVRO", "ORC"].contains(&w.value.to_ascii_uppercase().as_str())) =>
        {
            return Err(Error::Unsupported("COPY FORMAT AVRO and ORC".into()));
        }
        _ => return Ok(false),
    }
    Ok(true)
}

fn apply_legacy(options: &mut CopyOptions, legacy: Vec<CopyLegacyOption>) -> Result<()> {
    for option in legacy {
        match option {
            CopyLegacyOption::AcceptAnyDate => options.accept_any_date = true,
            CopyLegacyOption::AcceptInvChars(c) => {
                options.accept_inv_chars = Some(c.and_then(|c| c.chars().next()).unwrap_or('?'))
            }
            CopyLegacyOption::BlankAsNull => options.blanks_as_null = true,
            CopyLegacyOption::EmptyAsNull => options.empty_as_null = true,
            CopyLegacyOption::Bzip2 => options.compression = Some(Compression::Bzip2),
            CopyLegacyOption::Gzip => options.compression = Some(Compression::Gzip),
            CopyLegacyOption::Zstd => options.compression = Some(Compression::Zstd),
            // Redshift's automatic compression analysis: Parquet files choose their encodings.
            CopyLegacyOption::CompUpdate { .. } => {}
            // Row counts, null counts, minima and maxima are always recorded; ON adds the
            // distinct-value estimates of ANALYZE (a second read of what was loaded).
            CopyLegacyOption::StatUpdate(enabled) => options.stat_update = enabled.unwrap_or(true),
            CopyLegacyOption::Csv(csv) => {
                let mut quote = '"';
                for o in csv {
                    match o {
                        CopyLegacyCsvOption::Quote(q) => quote = q,
                        other => return Err(Error::Unsupported(format!("COPY CSV option {other}"))),
                    }
                }
                options.format = InputFormat::Csv { quote };
            }
            CopyLegacyOption::DateFormat(f) => options.date_format = f,
            CopyLegacyOption::TimeFormat(f) => options.time_format = f,
            CopyLegacyOption::Delimiter(c) => options.delimiter = Some(c),
            CopyLegacyOption::Escape => options.escape = true,
            CopyLegacyOption::IamRole(_) | CopyLegacyOption::Credentials(_) => {
                options.credentials.apply(option)?;
            }
            CopyLegacyOption::IgnoreHeader(n) => options.ignore_header = n,
            CopyLegacyOption::Json(path) => options.format = InputFormat::Json(path),
            CopyLegacyOption::Parquet => options.format = InputFormat::Parquet,
            CopyLegacyOption::Manifest { .. } => options.manifest = true,
            CopyLegacyOption::Null(s) => options.null_as = Some(s),
            CopyLegacyOption::Region(r) => options.region = Some(r),
            CopyLegacyOption::RemoveQuotes => options.remove_quotes = true,
            CopyLegacyOption::TruncateColumns => options.truncate_columns = true,
            other => return Err(Error::Unsupported(format!("COPY option {other}"))),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_seed_copy() {
        let copy = parse_copy_from(
            "COPY raw_data.user_session_channel\nFROM 's3://keeyong-test-bucket/test_data/user_session_channel.csv'\n\
             credentials 'aws_iam_role=arn:aws:iam:xxxxxxx:role/redshift.read.s3'\n\
             delimiter ',' dateformat 'auto' timeformat 'auto' IGNOREHEADER 1 removequotes",
        )
        .unwrap();
        assert_eq!(copy.table.to_string(), "raw_data.user_session_channel");
        assert_eq!(copy.source, "s3://keeyong-test-bucket/test_data/user_session_channel.csv");
        let o = &copy.options;
        assert_eq!(o.delimiter, Some(','));
        assert_eq!(o.ignore_header, 1);
        assert!(o.remove_quotes);
        assert_eq!(o.date_format.as_deref(), Some("auto"));
        assert_eq!(o.credentials.iam_role.as_deref(), Some("arn:aws:iam:xxxxxxx:role/redshift.read.s3"));
    }

    #[test]
    fn parses_options_sqlparser_lacks_between_known_ones() {
        let copy = parse_copy_from(
            "COPY t (a, b) FROM '/data/x.csv.gz' FORMAT AS CSV QUOTE AS '''' MAXERROR AS 5 GZIP FILLRECORD \
             TRIMBLANKS NULL AS 'nil' IGNOREBLANKLINES NOLOAD DELIMITER '\\t' ACCESS_KEY_ID 'k' SECRET_ACCESS_KEY 's'",
        )
        .unwrap();
        assert_eq!(copy.columns, ["a", "b"]);
        let o = &copy.options;
        assert_eq!(o.format, InputFormat::Csv { quote: '\'' });
        assert_eq!(o.max_error, 5);
        assert_eq!(o.compression, Some(Compression::Gzip));
        assert!(o.fill_record && o.trim_blanks && o.ignore_blank_lines && o.no_load);
        assert_eq!(o.null_as.as_deref(), Some("nil"));
        assert_eq!(o.delimiter, Some('\t'));
        assert_eq!(o.credentials.access_key_id.as_deref(), Some("k"));
        assert_eq!(o.credentials.secret_access_key.as_deref(), Some("s"));
    }

    #[test]
    fn unknown_options_are_named() {
        let err = parse_copy_from("COPY t FROM '/x' MAXERROR 1 BOGUS 3").unwrap_err().to_string();
        assert!(err.contains("not supported yet: COPY option BOGUS"), "{err}");
        let bad_delimiter = CopyOptions { delimiter: Some('§'), ..CopyOptions::default() };
        let err = bad_delimiter.validate().unwrap_err().to_string();
        assert!(err.contains("COPY DELIMITER must be a single ASCII character"), "{err}");
        let err = parse_copy_from("COPY t FROM '/x' FORMAT AS AVRO 'auto'").unwrap_err().to_string();
        assert!(err.contains("AVRO"), "{err}");
    }
}
