//! Files queried in place, as DuckDB and Athena users ask ad hoc questions: `FROM 'path'` and
//! DuckDB's table functions `read_parquet`, `read_csv` (`read_csv_auto`) and `read_json`
//! (`read_json_auto`, `read_ndjson`), with DuckDB's option names.
//!
//! A path is local or `s3://`, may hold globs (`*` within a folder, `**` across folders, `?`,
//! `[abc]`, `{a,b}`) and may be a list. The format comes from the function or the extension
//! (after a `.gz`/`.bz2`/`.zst` one). Before planning, each such reference in the statement is
//! replaced by a name in the session's `"$files"` schema, bound for that statement to a file
//! scan over the files listed then; the scan is a DataFusion file scan, so EXPLAIN, pruning and
//! statistics work as for tables. Key=value folders become columns (`hive_partitioning`,
//! detected by default) whose filters prune files before any is opened; `filename` adds the
//! file as a column. Listings are taken per statement (files change between statements);
//! schemas and Parquet footers are kept per session while the listed files are unchanged.

use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::{Session as CatalogSession, TableProvider};
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::file_format::csv::CsvFormat;
use datafusion::datasource::file_format::file_compression_type::FileCompressionType;
use datafusion::datasource::file_format::json::JsonFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::error::Result as DFResult;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::ast::{
    Expr as SqlExpr, FunctionArg, FunctionArgExpr, Ident, ObjectName, ObjectNamePart, Statement as SqlStatement,
    TableAlias, TableFactor, UnaryOperator, Value, VisitMut, VisitorMut,
};
use object_store::ObjectStoreExt;

use super::scan::{FileScan, compression_of, footer_statistics, select_rows, store_path};
use crate::error::{Error, Result};
use crate::session::{Session, SessionShared};
use crate::storage::{Location, ObjectInfo, S3Overrides};

/// The schema whose names stand for the files a statement reads in place.
pub(crate) const FILES_SCHEMA: &str = "$files";

/// How many bytes of a text file are read to detect its delimiter and header.
const SNIFF_BYTES: u64 = 256 * 1024;
/// How many file references a session keeps scans of.
const CACHED_REFERENCES: usize = 64;
/// How many rows the type of a CSV or JSON column is inferred from.
const INFER_ROWS: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Parquet,
    Csv,
    Json,
}

/// One reference to files: what `'path'` or `read_xxx(...)` asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub(crate) struct FileQuery {
    patterns: Vec<String>,
    /// From the function; `None`: from each pattern's extension.
    kind: Option<Kind>,
    /// `Some(true|false)` as given; `None`: detected from the first file's path.
    hive_partitioning: Option<bool>,
    /// The name of the column carrying each row's file.
    filename: Option<String>,
    union_by_name: bool,
    csv: CsvOptions,
    /// JSON: `auto`, `newline_delimited` or `array`.
    json_format: Option<String>,
    compression: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
struct CsvOptions {
    delimiter: Option<u8>,
    header: Option<bool>,
    quote: Option<u8>,
    escape: Option<u8>,
    nullstr: Vec<String>,
    /// `columns = {'name': 'TYPE', ...}`: the whole schema, in order.
    columns: Option<Vec<(String, String)>>,
    /// `types = {'name': 'TYPE'}` (or `dtypes`): some columns' types.
    types: Vec<(String, String)>,
    dateformat: Option<String>,
    timestampformat: Option<String>,
    all_varchar: bool,
    skip: usize,
}

impl FileQuery {
    /// How the reference is named in plans: its path, or its function and path.
    fn display(&self, function: Option<&str>) -> String {
        let paths = match self.patterns.as_slice() {
            [one] => one.clone(),
            many => format!("[{}]", many.join(", ")),
        };
        match function {
            Some(f) => format!("{f}({paths})"),
            None => paths,
        }
    }
}

/// The file reference `factor` makes, with the relation name it has when it has no alias
/// (DuckDB's: the file's stem for a path, the function's name for a function).
fn file_reference(factor: &TableFactor) -> Result<Option<(FileQuery, String, String)>> {
    let TableFactor::Table { name, args, .. } = factor else { return Ok(None) };
    let [ObjectNamePart::Identifier(ident)] = name.0.as_slice() else { return Ok(None) };
    let Some(args) = args else {
        // `FROM 'path'`: a single-quoted name is a file, never a table.
        if ident.quote_style != Some('\'') {
            return Ok(None);
        }
        let query = FileQuery { patterns: vec![ident.value.clone()], ..Default::default() };
        Location::parse(&ident.value)?;
        let display = query.display(None);
        return Ok(Some((query, relation_name(&ident.value), display)));
    };
    let function = match ident.quote_style {
        None => ident.value.to_ascii_lowercase(),
        Some(_) => return Ok(None),
    };
    let kind = match function.as_str() {
        "read_parquet" | "parquet_scan" => Kind::Parquet,
        "read_csv" | "read_csv_auto" => Kind::Csv,
        "read_json" | "read_json_auto" | "read_ndjson" | "read_ndjson_auto" => Kind::Json,
        _ => return Ok(None),
    };
    let mut query = FileQuery { kind: Some(kind), ..Default::default() };
    if function.starts_with("read_ndjson") {
        query.json_format = Some("newline_delimited".into());
    }
    let mut positional = 0;
    for arg in &args.args {
        let (name, value) = match arg {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(SqlExpr::BinaryOp {
                left,
                op: datafusion::sql::sqlparser::ast::BinaryOperator::Eq,
                right,
            })) if positional > 0 || matches!(left.as_ref(), SqlExpr::Identifier(_)) => match left.as_ref() {
                SqlExpr::Identifier(name) => (Some(name.value.to_ascii_lowercase()), right.as_ref()),
                _ => return Err(option_error(&function, "an option is written name = value")),
            },
            FunctionArg::Unnamed(FunctionArgExpr::Expr(expr)) => (None, expr),
            FunctionArg::Named { name, arg: FunctionArgExpr::Expr(expr), .. } => {
                (Some(name.value.to_ascii_lowercase()), expr)
            }
            _ => return Err(option_error(&function, "unexpected argument")),
        };
        match name {
            None if positional == 0 => {
                positional += 1;
                query.patterns = match OptionValue::of(value)? {
                    OptionValue::Text(path) => vec![path],
                    OptionValue::List(paths) => paths,
                    _ => return Err(option_error(&function, "the first argument is a path or a list of paths")),
                };
            }
            None => return Err(option_error(&function, "options after the path are written name = value")),
            Some(name) => set_option(&mut query, &function, &name, OptionValue::of(value)?)?,
        }
    }
    if query.patterns.is_empty() {
        return Err(option_error(&function, "a path is needed"));
    }
    let display = query.display(Some(&function));
    Ok(Some((query, function, display)))
}

/// The relation name of a path: its file's stem, or for a pattern the last folder without
/// globs or key=value (`s3://b/events/*/*.parquet` → `events`).
fn relation_name(path: &str) -> String {
    path.trim_end_matches('/')
        .rsplit('/')
        .filter(|segment| !segment.contains(['*', '?', '[', '{', '=']) && !segment.is_empty())
        .map(|segment| segment.split('.').next().unwrap_or_default())
        .find(|stem| !stem.is_empty() && !stem.ends_with(':'))
        .unwrap_or("file")
        .to_string()
}

fn option_error(function: &str, message: &str) -> Error {
    Error::Invalid(format!("{function}: {message}"))
}

/// An option's value as written: `'text'`, a number, `true`, `['a', 'b']`, `{'a': 'INT'}`.
#[derive(Debug)]
enum OptionValue {
    Text(String),
    Number(String),
    Bool(bool),
    List(Vec<String>),
    Map(Vec<(String, String)>),
}

impl OptionValue {
    fn of(expr: &SqlExpr) -> Result<OptionValue> {
        let text = |e: &SqlExpr| match OptionValue::of(e)? {
            OptionValue::Text(t) | OptionValue::Number(t) => Ok(t),
            _ => Err(Error::Invalid(format!("expected a string, found {e}"))),
        };
        Ok(match expr {
            SqlExpr::Value(v) => match &v.value {
                Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) | Value::EscapedStringLiteral(s) => {
                    OptionValue::Text(s.clone())
                }
                Value::Number(n, _) => OptionValue::Number(n.clone()),
                Value::Boolean(b) => OptionValue::Bool(*b),
                other => return Err(Error::Invalid(format!("unexpected option value {other}"))),
            },
            SqlExpr::UnaryOp { op: UnaryOperator::Minus, expr } => match OptionValue::of(expr)? {
                OptionValue::Number(n) => OptionValue::Number(format!("-{n}")),
                _ => return Err(Error::Invalid(format!("unexpected option value {expr}"))),
            },
            SqlExpr::Identifier(ident) => OptionValue::Text(ident.value.clone()),
            SqlExpr::Array(array) => OptionValue::List(array.elem.iter().map(text).collect::<Result<_>>()?),
            SqlExpr::Dictionary(fields) => OptionValue::Map(
                fields.iter().map(|f| Ok((f.key.value.clone(), text(&f.value)?))).collect::<Result<_>>()?,
            ),
            other => return Err(Error::Invalid(format!("unexpected option value {other}"))),
        })
    }
}

fn set_option(query: &mut FileQuery, function: &str, name: &str, value: OptionValue) -> Result<()> {
    let bad = |expected: &str| Error::Invalid(format!("{function}: option {name} takes {expected}"));
    let flag = |value: &OptionValue| match value {
        OptionValue::Bool(b) => Ok(*b),
        OptionValue::Number(n) if n == "0" || n == "1" => Ok(n == "1"),
        OptionValue::Text(t) if t.eq_ignore_ascii_case("true") || t.eq_ignore_ascii_case("false") => {
            Ok(t.eq_ignore_ascii_case("true"))
        }
        _ => Err(bad("true or false")),
    };
    let text = |value: OptionValue| match value {
        OptionValue::Text(t) => Ok(t),
        _ => Err(bad("a string")),
    };
    let byte = |value: OptionValue| -> Result<Option<u8>> {
        let text = text(value)?;
        let text = match text.as_str() {
            "\\t" => "\t".to_string(),
            _ => text,
        };
        match text.as_bytes() {
            [] => Ok(None),
            [b] => Ok(Some(*b)),
            _ => Err(bad("one ASCII character")),
        }
    };
    let map = |value: OptionValue| match value {
        OptionValue::Map(m) => Ok(m),
        _ => Err(bad("a map, as {'name': 'TYPE', ...}")),
    };
    let kind = query.kind;
    let csv_only = || match kind {
        Some(Kind::Csv) => Ok(()),
        _ => Err(Error::Invalid(format!("{function}: option {name} is an option of read_csv"))),
    };
    match name {
        "hive_partitioning" => query.hive_partitioning = Some(flag(&value)?),
        "filename" => {
            query.filename = match value {
                OptionValue::Text(column) => Some(column),
                other => flag(&other)?.then(|| "filename".to_string()),
            }
        }
        "union_by_name" => query.union_by_name = flag(&value)?,
        "compression" => query.compression = Some(text(value)?.to_ascii_lowercase()),
        "binary_as_string" | "auto_detect" | "sample_size" | "maximum_object_size" | "parallel" => {}
        "format" if kind == Some(Kind::Json) => query.json_format = Some(text(value)?.to_ascii_lowercase()),
        "delim" | "sep" | "delimiter" => {
            csv_only()?;
            query.csv.delimiter = Some(byte(value)?.ok_or_else(|| bad("one ASCII character"))?);
        }
        "header" => {
            csv_only()?;
            query.csv.header = Some(flag(&value)?);
        }
        "quote" => {
            csv_only()?;
            query.csv.quote = Some(byte(value)?.unwrap_or(0));
        }
        "escape" => {
            csv_only()?;
            query.csv.escape = byte(value)?;
        }
        "nullstr" | "null_padding_str" => {
            csv_only()?;
            query.csv.nullstr = match value {
                OptionValue::Text(t) => vec![t],
                OptionValue::List(l) => l,
                _ => return Err(bad("a string or a list of strings")),
            };
        }
        "columns" => {
            csv_only()?;
            query.csv.columns = Some(map(value)?);
        }
        "types" | "dtypes" | "column_types" => {
            csv_only()?;
            query.csv.types = map(value)?;
        }
        "dateformat" | "date_format" => {
            csv_only()?;
            query.csv.dateformat = Some(text(value)?);
        }
        "timestampformat" | "timestamp_format" => {
            csv_only()?;
            query.csv.timestampformat = Some(text(value)?);
        }
        "all_varchar" => {
            csv_only()?;
            query.csv.all_varchar = flag(&value)?;
        }
        "skip" => {
            csv_only()?;
            query.csv.skip = match value {
                OptionValue::Number(n) => n.parse().map_err(|_| bad("a row count"))?,
                _ => return Err(bad("a row count")),
            };
        }
        _ => return Err(Error::Invalid(format!("{function}: unknown option {name}"))),
    }
    Ok(())
}

/// The file references of one statement and the tables they stand for.
#[derive(Debug, Default)]
pub(crate) struct FilesInPlace {
    /// The statement being planned: `"$files"` names → their paths or patterns and scans.
    current: HashMap<String, (Vec<String>, Arc<dyn TableProvider>)>,
    /// Scans of earlier statements, by reference, with the listing they were made from.
    cache: HashMap<FileQuery, (Vec<FileSignature>, Arc<FileTable>)>,
}

/// What identifies a listed file's version.
type FileSignature = (String, u64, Option<chrono::DateTime<chrono::Utc>>, Option<String>);

impl FilesInPlace {
    pub fn table(&self, name: &str) -> Option<Arc<dyn TableProvider>> {
        self.current.get(name).map(|(_, table)| table.clone())
    }

    /// The paths or patterns the `"$files"` name `name` reads.
    pub fn patterns(&self, name: &str) -> Option<&[String]> {
        self.current.get(name).map(|(patterns, _)| patterns.as_slice())
    }

    pub fn names(&self) -> Vec<String> {
        self.current.keys().cloned().collect()
    }
}

/// The `"$files"` schema: the running statement's file references.
#[derive(Debug)]
pub(crate) struct FilesSchema {
    pub shared: Arc<SessionShared>,
}

#[async_trait]
impl datafusion::catalog::SchemaProvider for FilesSchema {
    fn table_names(&self) -> Vec<String> {
        self.shared.files.lock().names()
    }

    async fn table(&self, name: &str) -> DFResult<Option<Arc<dyn TableProvider>>> {
        Ok(self.shared.files.lock().table(name))
    }

    fn table_exist(&self, name: &str) -> bool {
        self.shared.files.lock().table(name).is_some()
    }
}

/// Replaces the file references of `statement` by `"$files"` names and binds those to scans
/// of the files they match now. Views keep SQL, not listings: a view over files is refused.
pub(crate) async fn bind(session: &Session, statement: &mut DFStatement) -> Result<()> {
    let mut found: Vec<(String, FileQuery)> = Vec::new();
    let mut error = None;
    let mut visit = |sql: &mut SqlStatement| {
        let mut visitor = Binder { found: &mut found, error: &mut error };
        let _ = sql.visit(&mut visitor);
        if let SqlStatement::ExplainTable { table_name, .. } = sql {
            visitor.describe(table_name);
        }
    };
    match statement {
        DFStatement::Statement(sql) => visit(sql),
        DFStatement::Explain(explain) => {
            if let DFStatement::Statement(sql) = explain.statement.as_mut() {
                visit(sql)
            }
        }
        _ => {}
    }
    if let Some(e) = error {
        return Err(e);
    }
    let shared = &session.shared;
    shared.files.lock().current.clear();
    if found.is_empty() {
        return Ok(());
    }
    if let DFStatement::Statement(sql) = statement
        && matches!(sql.as_ref(), SqlStatement::CreateView(_))
    {
        return Err(Error::Unsupported(
            "views over files read in place (create an external table over them, then a view)".into(),
        ));
    }
    for (name, query) in found {
        let table = open(shared, &query).await?;
        shared.files.lock().current.insert(name, (query.patterns.clone(), table));
    }
    Ok(())
}

struct Binder<'a> {
    found: &'a mut Vec<(String, FileQuery)>,
    error: &'a mut Option<Error>,
}

impl Binder<'_> {
    /// The `"$files"` name of `query` in this statement.
    fn name(&mut self, query: FileQuery, display: String) -> ObjectName {
        let name = match self.found.iter().find(|(_, q)| *q == query) {
            Some((name, _)) => name.clone(),
            None => {
                let taken = |n: &String| self.found.iter().any(|(name, _)| name == n);
                let mut name = display.clone();
                let mut n = 1;
                while taken(&name) {
                    n += 1;
                    name = format!("{display} #{n}");
                }
                self.found.push((name.clone(), query));
                name
            }
        };
        ObjectName(vec![
            ObjectNamePart::Identifier(Ident::with_quote('"', FILES_SCHEMA)),
            ObjectNamePart::Identifier(Ident::with_quote('"', name)),
        ])
    }

    /// `DESCRIBE 'path'`.
    fn describe(&mut self, table_name: &mut ObjectName) {
        let factor = TableFactor::Table {
            name: table_name.clone(),
            alias: None,
            args: None,
            with_hints: vec![],
            version: None,
            with_ordinality: false,
            partitions: vec![],
            json_path: None,
            sample: None,
            index_hints: vec![],
        };
        match file_reference(&factor) {
            Ok(Some((query, _, display))) => *table_name = self.name(query, display),
            Ok(None) => {}
            Err(e) => *self.error = Some(e),
        }
    }
}

impl VisitorMut for Binder<'_> {
    type Break = ();

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        let (query, alias_name, display) = match file_reference(factor) {
            Ok(Some(found)) => found,
            Ok(None) => return ControlFlow::Continue(()),
            Err(e) => {
                *self.error = Some(e);
                return ControlFlow::Break(());
            }
        };
        let object = self.name(query, display);
        if let TableFactor::Table { name, alias, args, .. } = factor {
            *name = object;
            *args = None;
            if alias.is_none() {
                *alias = Some(TableAlias {
                    explicit: true,
                    name: Ident::with_quote('"', alias_name),
                    columns: vec![],
                    at: None,
                });
            }
        }
        ControlFlow::Continue(())
    }
}

/// The scan of the files `query` matches now: the session's earlier one while the files are
/// unchanged, else a new one (schema inferred, footers read as planning needs them).
async fn open(shared: &SessionShared, query: &FileQuery) -> Result<Arc<dyn TableProvider>> {
    let objects = list(shared, query).await?;
    let signature: Vec<FileSignature> =
        objects.iter().map(|o| (o.location.to_string(), o.size, o.last_modified, o.e_tag.clone())).collect();
    if let Some((listed, table)) = shared.files.lock().cache.get(query)
        && *listed == signature
    {
        return Ok(table.clone());
    }
    let table = Arc::new(FileTable::new(shared, query, objects).await?);
    let mut files = shared.files.lock();
    if files.cache.len() >= CACHED_REFERENCES {
        files.cache.clear();
    }
    files.cache.insert(query.clone(), (signature, table.clone()));
    Ok(table)
}

/// Every file the patterns of `query` match, in pattern order, each once.
async fn list(shared: &SessionShared, query: &FileQuery) -> Result<Vec<ObjectInfo>> {
    let stores = &shared.engine.stores;
    let mut files = Vec::new();
    let mut seen = HashSet::new();
    for written in &query.patterns {
        let mut matched = Vec::new();
        for pattern in expand_braces(written) {
            let Some(glob_at) = pattern.find(['*', '?', '[']) else {
                // A plain path: that one file.
                let location = Location::parse(&pattern)?;
                let found = stores.list_prefix(&location, &S3Overrides::default()).await?;
                let shown = location.to_string();
                matched.extend(found.into_iter().filter(|o| {
                    let s = o.location.to_string();
                    s == shown || s.trim_start_matches("./") == shown.trim_start_matches("./")
                }));
                continue;
            };
            let folder = &pattern[..pattern[..glob_at].rfind('/').map_or(0, |i| i + 1)];
            let (listed, strip_dot) = match folder {
                "" => (stores.list_prefix(&Location::parse(".")?, &S3Overrides::default()).await?, true),
                folder => (stores.list_prefix(&Location::parse(folder)?, &S3Overrides::default()).await?, false),
            };
            let glob = glob::Pattern::new(&pattern)
                .map_err(|e| Error::Invalid(format!("invalid file pattern '{written}': {e}")))?;
            let options =
                glob::MatchOptions { case_sensitive: true, require_literal_separator: true, ..Default::default() };
            matched.extend(listed.into_iter().filter(|o| {
                let shown = o.location.to_string();
                let shown = if strip_dot { shown.trim_start_matches("./").to_string() } else { shown };
                // Names Hive and Spark leave beside data (`_SUCCESS`, `.crc`) match no glob.
                let name = o.location.file_name();
                !(name.starts_with('_') || name.starts_with('.')) && glob.matches_with(&shown, options)
            }));
        }
        if matched.is_empty() {
            return Err(Error::Invalid(format!("no files found that match the pattern '{written}'")));
        }
        matched.sort_by_key(|o| o.location.to_string());
        for object in matched {
            if seen.insert(object.location.to_string()) {
                files.push(object);
            }
        }
    }
    Ok(files)
}

/// `a{b,c}d` → `abd`, `acd` (nested and several groups too).
fn expand_braces(pattern: &str) -> Vec<String> {
    let Some(open) = pattern.find('{') else { return vec![pattern.to_string()] };
    let mut depth = 0;
    let mut close = None;
    let mut splits = Vec::new();
    for (i, c) in pattern[open..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    close = Some(open + i);
                    break;
                }
            }
            ',' if depth == 1 => splits.push(open + i),
            _ => {}
        }
    }
    let Some(close) = close else { return vec![pattern.to_string()] };
    let mut bounds = vec![open];
    bounds.extend(splits);
    bounds.push(close);
    let (head, tail) = (&pattern[..open], &pattern[close + 1..]);
    bounds.windows(2).flat_map(|w| expand_braces(&format!("{head}{}{tail}", &pattern[w[0] + 1..w[1]]))).collect()
}

/// The format of `path` by its extension (after a compression one).
fn kind_of(path: &str) -> Result<Kind> {
    let name = path.rsplit('/').next().unwrap_or(path).to_ascii_lowercase();
    let name = match crate::copy::Compression::of_file(&name) {
        Some(_) => name.rsplit_once('.').map_or(name.as_str(), |(stem, _)| stem).to_string(),
        None => name,
    };
    match name.rsplit_once('.').map(|(_, e)| e).unwrap_or_default() {
        "parquet" | "parq" => Ok(Kind::Parquet),
        "csv" | "tsv" | "txt" | "tbl" | "dat" | "psv" => Ok(Kind::Csv),
        "json" | "jsonl" | "ndjson" => Ok(Kind::Json),
        _ => Err(Error::Invalid(format!(
            "cannot tell the format of '{path}' from its extension (.parquet, .csv, .tsv, .txt, .json, .jsonl, \
             .ndjson, optionally .gz, .bz2 or .zst): use read_parquet, read_csv or read_json"
        ))),
    }
}

/// A CSV column read as text and converted after reading: parsed with a date or timestamp
/// format, or cast once the null strings are NULL (DataFusion's CSV reader applies null strings
/// only when inferring types).
#[derive(Debug, Clone)]
struct Conversion {
    column: String,
    target: DataType,
    format: Option<String>,
}

/// The files of one reference, listed, with their schema.
#[derive(Debug)]
pub(crate) struct FileTable {
    display: String,
    kind: Kind,
    /// Data columns, then partition keys, then the file name column.
    schema: SchemaRef,
    /// The data columns as read (converted columns as text).
    file_schema: SchemaRef,
    /// Partition keys and the file name column.
    per_file: Vec<Field>,
    files: Vec<PartitionedFile>,
    /// Per-file values of `per_file`, for pruning.
    values: Vec<Vec<ScalarValue>>,
    store_url: String,
    format: Arc<dyn FileFormat>,
    conversions: Vec<Conversion>,
    /// Values that are NULL in converted columns (`nullstr`).
    nulls: Vec<String>,
    /// Footer statistics, once read (Parquet).
    statistics: tokio::sync::OnceCell<Vec<PartitionedFile>>,
}

impl FileTable {
    async fn new(shared: &SessionShared, query: &FileQuery, objects: Vec<ObjectInfo>) -> Result<FileTable> {
        let display = query.display(None);
        let first = &objects[0];
        let kind = match query.kind {
            Some(kind) => kind,
            None => {
                let kind = kind_of(&first.location.to_string())?;
                if let Some(other) = objects.iter().find(|o| kind_of(&o.location.to_string()).ok() != Some(kind)) {
                    return Err(Error::Invalid(format!(
                        "'{display}' matches files of different formats ({} and {}): read them separately",
                        first.location, other.location
                    )));
                }
                kind
            }
        };
        let compression = match &query.compression {
            None => None,
            Some(c) => Some(match c.as_str() {
                "auto" => None,
                "none" | "uncompressed" => Some(FileCompressionType::UNCOMPRESSED),
                "gzip" | "gz" => Some(FileCompressionType::GZIP),
                "bz2" | "bzip2" => Some(FileCompressionType::BZIP2),
                "zstd" | "zst" => Some(FileCompressionType::ZSTD),
                other => return Err(Error::Unsupported(format!("compression '{other}' (gzip, bzip2, zstd or none)"))),
            }),
        }
        .flatten();
        let compression = match compression {
            Some(c) => c,
            None => {
                let c = compression_of(first.location.file_name());
                if let Some(other) = objects.iter().find(|o| compression_of(o.location.file_name()) != c) {
                    return Err(Error::Unsupported(format!(
                        "'{display}' mixes compressed and uncompressed files ({} and {})",
                        first.location, other.location
                    )));
                }
                c
            }
        };
        // Where each file is, and its key=value folders.
        let mut store_url = None;
        let mut paths = Vec::new();
        for object in &objects {
            let (url, path, shown) = store_path(&object.location)
                .map_err(|e| Error::Io { context: format!("resolving {}", object.location), source: e })?;
            if store_url.get_or_insert_with(|| url.clone()) != &url {
                return Err(Error::Unsupported(format!(
                    "'{display}' spans buckets ({} and {}): read them separately",
                    first.location, object.location
                )));
            }
            paths.push((path, shown));
        }
        let store_url = store_url.expect("files were listed");
        let keys = hive_keys(&paths[0].1);
        let hive = match query.hive_partitioning {
            Some(false) => Vec::new(),
            Some(true) if keys.is_empty() => {
                return Err(Error::Invalid(format!("hive_partitioning: '{}' has no key=value folders", paths[0].1)));
            }
            _ => keys.iter().map(|(k, _)| k.clone()).collect(),
        };
        let mut hive_values: Vec<Vec<String>> = Vec::new();
        for (_, shown) in &paths {
            let found = hive_keys(shown);
            let values: Option<Vec<String>> =
                hive.iter().map(|k| found.iter().find(|(name, _)| name == k).map(|(_, v)| v.clone())).collect();
            match values {
                Some(values) => hive_values.push(values),
                None => {
                    return Err(Error::Invalid(format!(
                        "hive_partitioning: '{shown}' lacks the key=value folders of '{}' ({})",
                        paths[0].1,
                        hive.join(", ")
                    )));
                }
            }
        }
        let hive_types: Vec<DataType> =
            (0..hive.len()).map(|i| hive_type(hive_values.iter().map(|v| v[i].as_str()))).collect();

        let store = shared.engine.stores.resolve(&first.location, &S3Overrides::default())?.0;
        let state = shared.session_state()?;
        let metas: Vec<object_store::ObjectMeta> = objects
            .iter()
            .zip(&paths)
            .map(|(o, (path, _))| object_store::ObjectMeta {
                location: object_store::path::Path::from(path.as_str()),
                last_modified: o.last_modified.unwrap_or_default(),
                size: o.size,
                e_tag: o.e_tag.clone(),
                version: None,
            })
            .collect();
        let infer =
            |format: Arc<dyn FileFormat>| infer_schema(format, &state, &store, &metas, &objects, query.union_by_name);
        let mut conversions = Vec::new();
        let (format, read_schema, data_fields): (Arc<dyn FileFormat>, SchemaRef, Vec<Field>) = match kind {
            Kind::Parquet => {
                let schema = infer(Arc::new(ParquetFormat::default())).await?;
                let fields: Vec<Field> = schema
                    .fields()
                    .iter()
                    .map(|f| {
                        let data_type = crate::provider::parquet_read_type(f.data_type().clone());
                        f.as_ref().clone().with_data_type(data_type).with_nullable(true)
                    })
                    .collect();
                let schema = Arc::new(Schema::new(fields.clone()));
                let format = crate::cache::scan::CachedParquetFormat::new(shared.engine.decoded.clone());
                (Arc::new(format), schema, fields)
            }
            Kind::Json => {
                let array = match query.json_format.as_deref() {
                    None | Some("auto") => first_byte(shared, first).await? == Some(b'['),
                    Some("newline_delimited" | "nd" | "records") => false,
                    Some("array") => true,
                    Some(other) => {
                        return Err(Error::Invalid(format!(
                            "read_json: format '{other}' (auto, newline_delimited or array)"
                        )));
                    }
                };
                let format = JsonFormat::default()
                    .with_file_compression_type(compression)
                    .with_newline_delimited(!array)
                    .with_schema_infer_max_rec(INFER_ROWS);
                let format: Arc<dyn FileFormat> = Arc::new(format);
                let schema = infer(format.clone()).await?;
                let fields: Vec<Field> =
                    schema.fields().iter().map(|f| f.as_ref().clone().with_nullable(true)).collect();
                (format, schema, fields)
            }
            Kind::Csv => {
                let options = &query.csv;
                let sample = sample_text(shared, first, compression).await?;
                let delimiter = match options.delimiter {
                    Some(d) => d,
                    None if first.location.file_name().to_ascii_lowercase().contains(".tsv") => b'\t',
                    None => sniff_delimiter(&sample, options.quote.unwrap_or(b'"')),
                };
                let quote = options.quote.unwrap_or(b'"');
                let header = match options.header {
                    Some(h) => h,
                    None if options.columns.is_some() => false,
                    None => sniff_header(&sample, delimiter, quote, options.skip),
                };
                let null_regex = match options.nullstr.as_slice() {
                    [] => None,
                    // Empty fields stay NULL too.
                    strings => {
                        Some(format!("^(|{})$", strings.iter().map(|s| regex_escape(s)).collect::<Vec<_>>().join("|")))
                    }
                };
                if options.skip > 0 {
                    return Err(Error::Unsupported("read_csv option skip".into()));
                }
                let format = CsvFormat::default()
                    .with_delimiter(delimiter)
                    .with_quote(if quote == 0 { b'"' } else { quote })
                    .with_escape(options.escape)
                    .with_has_header(header)
                    .with_null_regex(null_regex)
                    .with_schema_infer_max_rec(INFER_ROWS)
                    .with_file_compression_type(compression);
                let format: Arc<dyn FileFormat> = Arc::new(format);
                let inferred: Vec<Field> = match &options.columns {
                    Some(columns) => columns
                        .iter()
                        .map(|(name, ty)| Ok(Field::new(name, sql_type(name, ty)?, true)))
                        .collect::<Result<_>>()?,
                    None => {
                        let schema = infer(format.clone()).await?;
                        schema.fields().iter().map(|f| f.as_ref().clone().with_nullable(true)).collect()
                    }
                };
                let mut fields = Vec::new();
                for field in inferred {
                    let declared = options.types.iter().find(|(name, _)| name.eq_ignore_ascii_case(field.name()));
                    let mut data_type = match declared {
                        Some((name, ty)) => sql_type(name, ty)?,
                        None if options.all_varchar => DataType::Utf8,
                        None => field.data_type().clone(),
                    };
                    if data_type == DataType::Null {
                        data_type = DataType::Utf8;
                    }
                    // Dates and timestamps in a given format are read as text, then parsed.
                    let format = match &data_type {
                        DataType::Date32 | DataType::Date64 => options.dateformat.clone(),
                        DataType::Timestamp(..) => options.timestampformat.clone(),
                        DataType::Utf8 if declared.is_none() && !options.all_varchar => {
                            let values = sample_column(&sample, delimiter, quote, header, fields.len());
                            if let Some(f) = options.dateformat.as_ref().filter(|f| all_parse_date(&values, f)) {
                                data_type = DataType::Date32;
                                Some(f.clone())
                            } else if let Some(f) =
                                options.timestampformat.as_ref().filter(|f| all_parse_timestamp(&values, f))
                            {
                                data_type = DataType::Timestamp(TimeUnit::Microsecond, None);
                                Some(f.clone())
                            } else {
                                None
                            }
                        }
                        _ => None,
                    };
                    if format.is_some() || !options.nullstr.is_empty() {
                        conversions.push(Conversion {
                            column: field.name().clone(),
                            target: data_type.clone(),
                            format,
                        });
                    }
                    fields.push(Field::new(field.name(), data_type, true));
                }
                let read: Vec<Field> = fields
                    .iter()
                    .map(|f| match conversions.iter().any(|c| &c.column == f.name()) {
                        true => f.clone().with_data_type(DataType::Utf8),
                        false => f.clone(),
                    })
                    .collect();
                (format, Arc::new(Schema::new(read)), fields)
            }
        };
        // Columns a file also holds are taken from the folders, as DuckDB does.
        let keep = |f: &Field| !hive.iter().any(|k| k.eq_ignore_ascii_case(f.name()));
        let read_schema =
            Arc::new(Schema::new(read_schema.fields().iter().filter(|f| keep(f)).cloned().collect::<Vec<_>>()));
        let data_fields: Vec<Field> = data_fields.into_iter().filter(|f| keep(f)).collect();
        let mut per_file: Vec<Field> =
            hive.iter().zip(&hive_types).map(|(k, t)| Field::new(k, t.clone(), true)).collect();
        if let Some(column) = &query.filename {
            per_file.push(Field::new(column, DataType::Utf8, false));
        }
        let mut values = Vec::new();
        let mut files = Vec::new();
        for ((object, (path, shown)), hive_row) in objects.iter().zip(&paths).zip(&hive_values) {
            let mut row =
                hive_row.iter().zip(&hive_types).map(|(v, t)| hive_value(v, t)).collect::<Result<Vec<_>>>()?;
            if query.filename.is_some() {
                row.push(ScalarValue::Utf8(Some(shown.clone())));
            }
            let mut file = PartitionedFile::new(path.clone(), object.size).with_partition_values(row.clone());
            if let Some(modified) = object.last_modified {
                file.object_meta.last_modified = modified;
            }
            file.object_meta.e_tag = object.e_tag.clone();
            files.push(file);
            values.push(row);
        }
        let schema = Arc::new(Schema::new(data_fields.into_iter().chain(per_file.iter().cloned()).collect::<Vec<_>>()));
        Ok(FileTable {
            display,
            kind,
            schema,
            file_schema: read_schema,
            per_file,
            files,
            values,
            store_url,
            format,
            conversions,
            nulls: query.csv.nullstr.clone(),
            statistics: tokio::sync::OnceCell::new(),
        })
    }

    /// Parses the columns read as text with their date or timestamp format.
    fn convert(&self, state: &dyn CatalogSession, plan: Arc<dyn ExecutionPlan>) -> DFResult<Arc<dyn ExecutionPlan>> {
        use datafusion::functions::expr_fn::{to_date, to_timestamp_micros};
        use datafusion::logical_expr::{cast, col, lit, when};
        let input = plan.schema();
        if !self.conversions.iter().any(|c| input.field_with_name(&c.column).is_ok()) {
            return Ok(plan);
        }
        let df_schema = DFSchema::try_from(input.clone())?;
        let mut exprs = Vec::new();
        for field in input.fields() {
            let column = col(datafusion::common::Column::from_name(field.name()));
            let expr = match self.conversions.iter().find(|c| &c.column == field.name()) {
                None => column,
                Some(c) => {
                    let value = match (&c.format, &c.target) {
                        (None, target) => cast(column.clone(), target.clone()),
                        (Some(format), DataType::Date32 | DataType::Date64) => {
                            cast(to_date(vec![column.clone(), lit(format.clone())]), c.target.clone())
                        }
                        (Some(format), target) => {
                            cast(to_timestamp_micros(vec![column.clone(), lit(format.clone())]), target.clone())
                        }
                    };
                    // Empty fields are NULL, as the reader makes them for typed columns.
                    let null = self
                        .nulls
                        .iter()
                        .fold(column.clone().eq(lit("")), |c, n| c.or(column.clone().eq(lit(n.as_str()))));
                    when(null, lit(ScalarValue::try_from(&c.target)?)).otherwise(value)?
                }
            };
            exprs.push((state.create_physical_expr(expr, &df_schema)?, field.name().clone()));
        }
        Ok(Arc::new(datafusion::physical_plan::projection::ProjectionExec::try_new(exprs, plan)?))
    }

    /// The files, with their footers' statistics for Parquet (read once per session).
    async fn files_with_statistics(&self, state: &dyn CatalogSession) -> Vec<PartitionedFile> {
        if self.kind != Kind::Parquet || !state.config().collect_statistics() {
            return self.files.clone();
        }
        self.statistics
            .get_or_init(|| {
                footer_statistics(state, &self.format, &self.store_url, &self.file_schema, self.files.clone())
            })
            .await
            .clone()
    }
}

#[async_trait]
impl TableProvider for FileTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> DFResult<Vec<TableProviderFilterPushDown>> {
        // Filters on folders and names prune files; every filter is still checked on the rows.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn CatalogSession,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DFResult<Arc<dyn ExecutionPlan>> {
        let selected = select_rows(state, &self.per_file, &self.values, filters)?;
        if selected.is_empty() {
            let projected = match projection {
                Some(p) => Arc::new(self.schema.project(p)?),
                None => self.schema.clone(),
            };
            return Ok(Arc::new(EmptyExec::new(projected)));
        }
        let all = self.files_with_statistics(state).await;
        let files: Vec<PartitionedFile> = selected.into_iter().map(|i| all[i].clone()).collect();
        let statistics = self.kind == Kind::Parquet && state.config().collect_statistics();
        let scan = FileScan {
            store_url: &self.store_url,
            format: &self.format,
            file_schema: self.file_schema.clone(),
            per_file: &self.per_file,
        };
        let plan = scan.plan(state, files, self.schema.clone(), statistics, projection, limit).await?;
        self.convert(state, plan)
            .map_err(|e| datafusion::error::DataFusionError::Context(format!("reading {}", self.display), Box::new(e)))
    }
}

/// The schema of the files: the first file's, or with `union_by_name` every file's columns by
/// name, each of the type all files' values fit (INT and BIGINT make BIGINT).
async fn infer_schema(
    format: Arc<dyn FileFormat>,
    state: &dyn CatalogSession,
    store: &Arc<dyn object_store::ObjectStore>,
    metas: &[object_store::ObjectMeta],
    objects: &[ObjectInfo],
    union_by_name: bool,
) -> Result<SchemaRef> {
    let read = |i: usize| {
        let format = format.clone();
        async move {
            format.infer_schema(state, store, &metas[i..=i]).await.map_err(|e| {
                Error::Invalid(format!("cannot read the schema of {}: {}", objects[i].location, Error::from(e)))
            })
        }
    };
    if !union_by_name {
        return read(0).await;
    }
    let mut fields: Vec<Field> = Vec::new();
    for (i, object) in objects.iter().enumerate() {
        for field in read(i).await?.fields() {
            match fields.iter_mut().find(|f| f.name() == field.name()) {
                None => fields.push(field.as_ref().clone().with_nullable(true)),
                Some(known) if known.data_type() == field.data_type() => {}
                Some(known) => {
                    let common = datafusion::logical_expr::type_coercion::binary::comparison_coercion(
                        known.data_type(),
                        field.data_type(),
                    )
                    .ok_or_else(|| {
                        Error::Invalid(format!(
                            "union_by_name: column {} is {} in {} but {} in earlier files",
                            field.name(),
                            field.data_type(),
                            object.location,
                            known.data_type()
                        ))
                    })?;
                    *known = known.clone().with_data_type(common);
                }
            }
        }
    }
    Ok(Arc::new(Schema::new(fields)))
}

/// The key=value folders of a path, in order.
fn hive_keys(path: &str) -> Vec<(String, String)> {
    let folders = path.rsplit_once('/').map_or("", |(folders, _)| folders);
    folders
        .split('/')
        .filter_map(|segment| segment.split_once('='))
        .filter(|(k, _)| !k.is_empty())
        .map(|(k, v)| (k.to_string(), percent_decode(v)))
        .collect()
}

/// Hive's escaping of folder values (`%2F` for `/`).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// DuckDB's types of partition values: BIGINT, DATE, TIMESTAMP when every value is one, else
/// VARCHAR (`__HIVE_DEFAULT_PARTITION__` is NULL, and fits any).
fn hive_type<'a>(values: impl Iterator<Item = &'a str> + Clone) -> DataType {
    let present = values.filter(|v| *v != "__HIVE_DEFAULT_PARTITION__");
    let candidates = [DataType::Int64, DataType::Date32, DataType::Timestamp(TimeUnit::Microsecond, None)];
    for candidate in candidates {
        let fits = present.clone().all(|v| match candidate {
            DataType::Int64 => v.parse::<i64>().is_ok(),
            DataType::Date32 => chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").is_ok(),
            _ => chrono::NaiveDateTime::parse_from_str(v, "%Y-%m-%d %H:%M:%S%.f").is_ok(),
        });
        if fits && present.clone().next().is_some() {
            return candidate;
        }
    }
    DataType::Utf8
}

fn hive_value(value: &str, data_type: &DataType) -> Result<ScalarValue> {
    if value == "__HIVE_DEFAULT_PARTITION__" {
        return Ok(ScalarValue::try_from(data_type)?);
    }
    Ok(ScalarValue::try_from_string(value.to_string(), data_type)?)
}

/// An Arrow type of a type name as DuckDB or Redshift writes it.
fn sql_type(column: &str, name: &str) -> Result<DataType> {
    let lowered = name.trim().to_ascii_lowercase();
    let duckdb = match lowered.as_str() {
        "hugeint" | "ubigint" => Some(DataType::Decimal128(38, 0)),
        "utinyint" => Some(DataType::UInt8),
        "usmallint" => Some(DataType::UInt16),
        "uinteger" => Some(DataType::UInt32),
        "blob" | "bytea" => Some(DataType::Binary),
        _ => None,
    };
    match duckdb {
        Some(t) => Ok(t),
        None => tarn_catalog::lake_type_to_arrow(&lowered)
            .map_err(|_| Error::Invalid(format!("unknown type '{name}' for column {column}"))),
    }
}

fn regex_escape(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\\' | '.' | '+' | '*' | '?' | '(' | ')' | '|' | '[' | ']' | '{' | '}' | '^' | '$' => format!("\\{c}"),
            c => c.to_string(),
        })
        .collect()
}

/// The first non-blank byte of a file (JSON arrays start with `[`).
async fn first_byte(shared: &SessionShared, object: &ObjectInfo) -> Result<Option<u8>> {
    let compression = compression_of(object.location.file_name());
    let text = sample_text(shared, object, compression).await?;
    Ok(text.bytes().find(|b| !b.is_ascii_whitespace()))
}

/// The first lines of a text file, decompressed, cut at the last whole line.
async fn sample_text(shared: &SessionShared, object: &ObjectInfo, compression: FileCompressionType) -> Result<String> {
    let (store, path) = shared.engine.stores.resolve(&object.location, &S3Overrides::default())?;
    let end = object.size.min(SNIFF_BYTES);
    let bytes = store
        .get_range(&path, 0..end)
        .await
        .map_err(|e| crate::storage::storage_error("read", &object.location.to_string(), e))?;
    let mut text = Vec::new();
    let raw: &[u8] = &bytes;
    let decoded: Box<dyn std::io::Read> = match compression.get_variant() {
        datafusion::common::parsers::CompressionTypeVariant::GZIP => Box::new(flate2::read::MultiGzDecoder::new(raw)),
        datafusion::common::parsers::CompressionTypeVariant::BZIP2 => Box::new(bzip2::read::MultiBzDecoder::new(raw)),
        datafusion::common::parsers::CompressionTypeVariant::ZSTD => Box::new(
            zstd::stream::read::Decoder::new(raw)
                .map_err(|e| Error::Io { context: format!("reading {}", object.location), source: e })?,
        ),
        _ => Box::new(raw),
    };
    // A prefix of a compressed file ends mid-stream: keep what decoded.
    let mut limited = std::io::Read::take(decoded, 4 * SNIFF_BYTES);
    let mut buffer = [0u8; 8192];
    loop {
        match std::io::Read::read(&mut limited, &mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => text.extend_from_slice(&buffer[..n]),
        }
    }
    let whole = object.size <= SNIFF_BYTES
        && *compression.get_variant() == datafusion::common::parsers::CompressionTypeVariant::UNCOMPRESSED;
    if !whole && let Some(end) = text.iter().rposition(|b| *b == b'\n') {
        text.truncate(end + 1);
    }
    Ok(String::from_utf8_lossy(&text).into_owned())
}

/// The delimiter among `,` `|` `;` tab that splits the sample's lines into the same number of
/// fields, most fields first.
fn sniff_delimiter(sample: &str, quote: u8) -> u8 {
    let lines: Vec<&str> = sample.lines().filter(|l| !l.trim().is_empty()).take(50).collect();
    let mut best = (b',', 0usize);
    for candidate in [b',', b'|', b';', b'\t'] {
        let counts: Vec<usize> = lines.iter().map(|l| count_outside_quotes(l, candidate, quote)).collect();
        let Some(&first) = counts.first() else { continue };
        if first > best.1 && counts.iter().all(|&c| c == first) {
            best = (candidate, first);
        }
    }
    best.0
}

fn count_outside_quotes(line: &str, delimiter: u8, quote: u8) -> usize {
    let mut quoted = false;
    line.bytes()
        .filter(|&b| {
            if b == quote && quote != 0 {
                quoted = !quoted;
            }
            b == delimiter && !quoted
        })
        .count()
}

/// The sample's rows as fields (quotes removed).
fn sample_rows(sample: &str, delimiter: u8, quote: u8) -> Vec<Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .quote(if quote == 0 { b'"' } else { quote })
        .quoting(quote != 0)
        .has_headers(false)
        .flexible(true)
        .from_reader(sample.as_bytes());
    reader.records().take(200).filter_map(|r| r.ok()).map(|r| r.iter().map(str::to_string).collect()).collect()
}

/// DuckDB's header rule: the first row is a header when some column's later values all have
/// a type (number, date, boolean) its first value does not; when every column is text, the
/// first row is a header unless it repeats a value of a later row in the same column.
fn sniff_header(sample: &str, delimiter: u8, quote: u8, skip: usize) -> bool {
    let rows = sample_rows(sample, delimiter, quote);
    let rows = &rows[skip.min(rows.len())..];
    let [first, rest @ ..] = rows else { return false };
    if rest.is_empty() {
        return false;
    }
    let typed = |v: &str| {
        v.parse::<f64>().is_ok()
            || chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d").is_ok()
            || v.eq_ignore_ascii_case("true")
            || v.eq_ignore_ascii_case("false")
    };
    let mut any_typed_column = false;
    for (i, name) in first.iter().enumerate() {
        let values: Vec<&str> =
            rest.iter().filter_map(|r| r.get(i)).map(String::as_str).filter(|v| !v.is_empty()).collect();
        if !values.is_empty() && values.iter().all(|v| typed(v)) {
            any_typed_column = true;
            if !typed(name) {
                return true;
            }
        }
    }
    if any_typed_column {
        return false;
    }
    first.iter().enumerate().all(|(i, name)| !name.is_empty() && !rest.iter().any(|r| r.get(i) == Some(name)))
}

/// The sample's values of column `index` (after the header).
fn sample_column(sample: &str, delimiter: u8, quote: u8, header: bool, index: usize) -> Vec<String> {
    sample_rows(sample, delimiter, quote)
        .into_iter()
        .skip(usize::from(header))
        .filter_map(|r| r.get(index).cloned())
        .filter(|v| !v.is_empty())
        .collect()
}

fn all_parse_date(values: &[String], format: &str) -> bool {
    !values.is_empty() && values.iter().all(|v| chrono::NaiveDate::parse_from_str(v, format).is_ok())
}

fn all_parse_timestamp(values: &[String], format: &str) -> bool {
    !values.is_empty() && values.iter().all(|v| chrono::NaiveDateTime::parse_from_str(v, format).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn braces_expand_to_every_alternative() {
        assert_eq!(expand_braces("a/{x,y}/*.csv"), vec!["a/x/*.csv", "a/y/*.csv"]);
        assert_eq!(expand_braces("{a,b}{1,2}"), vec!["a1", "a2", "b1", "b2"]);
        assert_eq!(expand_braces("a{b,{c,d}}"), vec!["ab", "ac", "ad"]);
        assert_eq!(expand_braces("plain"), vec!["plain"]);
    }

    #[test]
    fn hive_folders_and_their_types() {
        assert_eq!(
            hive_keys("s3://b/t/year=2024/d=2024-01-02/part-0.parquet"),
            vec![("year".to_string(), "2024".to_string()), ("d".to_string(), "2024-01-02".to_string())]
        );
        assert_eq!(hive_keys("/data/x=a%2Fb/f.csv"), vec![("x".to_string(), "a/b".to_string())]);
        assert_eq!(hive_type(["1", "20"].into_iter()), DataType::Int64);
        assert_eq!(hive_type(["2024-01-01", "__HIVE_DEFAULT_PARTITION__"].into_iter()), DataType::Date32);
        assert_eq!(hive_type(["eu", "1"].into_iter()), DataType::Utf8);
    }

    #[test]
    fn csv_dialect_is_sniffed() {
        assert_eq!(sniff_delimiter("a|b|c\n1|2|3\n", b'"'), b'|');
        assert_eq!(sniff_delimiter("a,b\n\"x,y\",2\n", b'"'), b',');
        assert!(sniff_header("id,name\n1,ann\n2,bob\n", b',', b'"', 0));
        assert!(!sniff_header("1,ann\n2,bob\n", b',', b'"', 0));
        assert!(sniff_header("city,country\nOslo,Norway\n", b',', b'"', 0));
    }

    #[test]
    fn relations_are_named_after_files_or_folders() {
        assert_eq!(relation_name("/data/nation.parquet"), "nation");
        assert_eq!(relation_name("s3://b/events/*/*.parquet"), "events");
        assert_eq!(relation_name("s3://b/t/d=1/x.csv.gz"), "x");
        assert_eq!(relation_name("*.csv"), "file");
    }

    #[test]
    fn formats_come_from_extensions() {
        assert_eq!(kind_of("s3://b/x/part.parquet").unwrap(), Kind::Parquet);
        assert_eq!(kind_of("/d/x.csv.gz").unwrap(), Kind::Csv);
        assert_eq!(kind_of("x.jsonl.zst").unwrap(), Kind::Json);
        assert!(kind_of("x.avro").unwrap_err().to_string().contains("x.avro"));
    }
}
