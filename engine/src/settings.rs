//! The client settings PostgreSQL drivers SET and SHOW (`search_path`, `DateStyle`,
//! `client_encoding`, `TimeZone`, ...), kept per session. tarn speaks one encoding (UTF8), one
//! date style (ISO) and one time zone (UTC): setting those to something else is refused rather
//! than ignored. `SET datafusion.*` still reaches DataFusion's own options.

use std::collections::BTreeMap;

use datafusion::sql::sqlparser::ast::{
    ContextModifier, Expr, Ident, ObjectName, Reset, Set, Statement as SqlStatement, Value,
};

use datafusion::sql::parser::{ResetStatement, Statement as DFStatement};

use crate::error::{Error, Result};

/// What a setting accepts.
#[derive(Clone, Copy)]
enum Accepts {
    /// Shown, never changed by clients.
    ReadOnly,
    /// Any text.
    Any,
    /// One of these words (case-insensitive), kept lower case.
    OneOf(&'static [&'static str]),
    /// Checked (and normalized) by a function.
    Checked(fn(&str) -> Option<String>),
}

struct Definition {
    /// As PostgreSQL spells it (`DateStyle`); looked up case-insensitively.
    name: &'static str,
    default: &'static str,
    accepts: Accepts,
    /// Sent to clients (ParameterStatus) when it changes.
    reported: bool,
    description: &'static str,
}

const ISOLATION_LEVELS: &[&str] = &["serializable", "repeatable read", "read committed", "read uncommitted"];

const DEFINITIONS: &[Definition] = &[
    def("application_name", "", Accepts::Any, true, "Sets the application name to be reported in statistics and logs."),
    def(
        "client_encoding",
        "UTF8",
        Accepts::Checked(utf8),
        true,
        "Sets the client's character set encoding (tarn speaks UTF8).",
    ),
    def(
        "client_min_messages",
        "notice",
        Accepts::OneOf(&[
            "debug5", "debug4", "debug3", "debug2", "debug1", "debug", "log", "notice", "warning", "error",
        ]),
        false,
        "Sets the message levels that are sent to the client.",
    ),
    def(
        "DateStyle",
        "ISO, MDY",
        Accepts::Checked(date_style),
        true,
        "Sets the display format for date and time values (tarn shows ISO).",
    ),
    def("default_table_access_method", "heap", Accepts::ReadOnly, false, "Shows the default table access method."),
    def(
        "default_transaction_isolation",
        "serializable",
        Accepts::Checked(isolation),
        false,
        "Sets the transaction isolation level of each new transaction (every level runs serializable, as in Redshift).",
    ),
    def(
        "default_transaction_read_only",
        "off",
        Accepts::OneOf(&["off"]),
        false,
        "Sets the default read-only status of new transactions.",
    ),
    def(
        "extra_float_digits",
        "1",
        Accepts::Checked(float_digits),
        false,
        "Sets the number of digits displayed for floating-point values (tarn always shows the shortest exact form).",
    ),
    def("integer_datetimes", "on", Accepts::ReadOnly, true, "Shows whether datetimes are integer based."),
    def(
        "IntervalStyle",
        "postgres",
        Accepts::OneOf(&["postgres"]),
        true,
        "Sets the display format for interval values.",
    ),
    def("lc_collate", "C", Accepts::ReadOnly, false, "Shows the collation order locale."),
    def("lc_ctype", "C", Accepts::ReadOnly, false, "Shows the character classification and case conversion locale."),
    def("lc_messages", "C", Accepts::ReadOnly, false, "Shows the language in which messages are displayed."),
    def("lc_monetary", "C", Accepts::ReadOnly, false, "Shows the locale for formatting monetary amounts."),
    def("lc_numeric", "C", Accepts::ReadOnly, false, "Shows the locale for formatting numbers."),
    def("lc_time", "C", Accepts::ReadOnly, false, "Shows the locale for formatting date and time values."),
    def("max_identifier_length", "127", Accepts::ReadOnly, false, "Shows the maximum identifier length."),
    def("query_group", "default", Accepts::Any, false, "Labels the session's queries (Redshift's query group)."),
    def(
        crate::write::COMPRESSION_SETTING,
        crate::write::DEFAULT_COMPRESSION,
        Accepts::Checked(crate::write::compression_setting),
        false,
        "Compression of the Parquet files managed tables are written in: uncompressed, snappy, lz4_raw, zstd or zstd(level).",
    ),
    def(
        crate::write::DICTIONARY_SETTING,
        crate::write::DEFAULT_DICTIONARY,
        Accepts::OneOf(&["on", "off", "auto"]),
        false,
        "Whether managed tables' Parquet files dictionary-encode columns: on, off, or auto (character columns whose values repeat).",
    ),
    def(
        crate::write::ENCODING_SETTING,
        crate::write::DEFAULT_ENCODING,
        Accepts::OneOf(&["plain", "delta"]),
        false,
        "How managed tables' Parquet files encode values: plain, or delta (integers, dates, timestamps and decimals of up to 18 digits as differences, strings with their lengths apart).",
    ),
    def(
        crate::write::STATISTICS_SETTING,
        crate::write::DEFAULT_STATISTICS,
        Accepts::OneOf(&["on", "auto"]),
        false,
        "Min/max statistics in managed tables' Parquet files: on (every column), or auto (character columns whose values spread over every row group of a writer's last file get none in its next files).",
    ),
    def(
        crate::write::ROW_GROUP_SETTING,
        crate::write::DEFAULT_ROW_GROUP_ROWS,
        Accepts::Checked(crate::write::row_group_setting),
        false,
        "Rows per row group of managed tables' Parquet files (1024 to 16777216).",
    ),
    def(
        crate::system::history::RETENTION_SETTING,
        crate::system::history::DEFAULT_RETENTION,
        Accepts::Checked(crate::system::history::retention_setting),
        false,
        "How much query history (stl_query) VACUUM keeps: a number of statements, or 'N days' or 'N hours'.",
    ),
    def(
        crate::check::ENFORCE_SETTING,
        "off",
        Accepts::OneOf(&["on", "off"]),
        false,
        "Whether writes that add duplicates of a declared PRIMARY KEY or UNIQUE constraint fail.",
    ),
    def(
        "search_path",
        "\"$user\", public",
        Accepts::Checked(search_path),
        false,
        "Sets the schema search order for names that are not schema-qualified.",
    ),
    def("server_encoding", "UTF8", Accepts::ReadOnly, true, "Shows the server (database) character set encoding."),
    def(
        "server_version",
        crate::system::functions::SERVER_VERSION,
        Accepts::ReadOnly,
        true,
        "Shows the server version.",
    ),
    def("server_version_num", "80002", Accepts::ReadOnly, false, "Shows the server version as an integer."),
    def(
        "standard_conforming_strings",
        "off",
        Accepts::OneOf(&["off"]),
        true,
        "Whether '...' strings treat backslashes literally: off, as in Redshift, where a backslash escapes the next character.",
    ),
    def(
        "statement_timeout",
        "0",
        Accepts::Checked(no_timeout),
        false,
        "Sets the maximum allowed duration of any statement (tarn has none: 0).",
    ),
    def(
        "TimeZone",
        "UTC",
        Accepts::Checked(utc),
        true,
        "Sets the time zone for displaying and interpreting time stamps (tarn runs in UTC).",
    ),
    def(
        "transaction_isolation",
        "serializable",
        Accepts::Checked(isolation),
        false,
        "Sets the current transaction's isolation level (every level runs serializable, as in Redshift).",
    ),
    def(
        "transaction_read_only",
        "off",
        Accepts::OneOf(&["off"]),
        false,
        "Sets the current transaction's read-only status.",
    ),
];

const fn def(
    name: &'static str,
    default: &'static str,
    accepts: Accepts,
    reported: bool,
    description: &'static str,
) -> Definition {
    Definition { name, default, accepts, reported, description }
}

fn utf8(value: &str) -> Option<String> {
    matches!(value.to_ascii_lowercase().replace(['-', '_'], "").as_str(), "utf8" | "unicode").then(|| "UTF8".into())
}

fn date_style(value: &str) -> Option<String> {
    let parts: Vec<String> = value.split(',').map(|p| p.trim().to_ascii_uppercase()).collect();
    let order = parts.iter().find(|p| matches!(p.as_str(), "MDY" | "DMY" | "YMD" | "US" | "EURO" | "NONEURO"));
    let order = match order.map(String::as_str) {
        None | Some("MDY" | "US" | "NONEURO") => "MDY",
        Some("DMY" | "EURO") => "DMY",
        Some(_) => "YMD",
    };
    // Only ISO output: the field order only matters for reading ambiguous input.
    parts
        .iter()
        .all(|p| matches!(p.as_str(), "ISO" | "MDY" | "DMY" | "YMD" | "US" | "EURO" | "NONEURO"))
        .then(|| format!("ISO, {order}"))
}

fn isolation(value: &str) -> Option<String> {
    let lowered = value.to_ascii_lowercase();
    ISOLATION_LEVELS.contains(&lowered.as_str()).then(|| "serializable".into())
}

fn float_digits(value: &str) -> Option<String> {
    value.parse::<i32>().ok().filter(|d| (-15..=3).contains(d)).map(|d| d.to_string())
}

fn no_timeout(value: &str) -> Option<String> {
    (value.trim() == "0").then(|| "0".into())
}

fn utc(value: &str) -> Option<String> {
    let lowered = value.to_ascii_lowercase();
    matches!(
        lowered.as_str(),
        "utc" | "gmt" | "etc/utc" | "etc/gmt" | "z" | "zulu" | "universal" | "utc0" | "+00" | "+00:00" | "0"
    )
    .then(|| "UTC".into())
}

fn search_path(value: &str) -> Option<String> {
    let schemas = split_path(value);
    (!schemas.is_empty()).then(|| {
        schemas
            .iter()
            .map(|s| if s == "$user" { "\"$user\"".to_string() } else { s.clone() })
            .collect::<Vec<_>>()
            .join(", ")
    })
}

/// The schemas of a `search_path` value, unquoted (`"$user"` stays `$user`).
pub(crate) fn split_path(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(|s| {
            let s = s.trim();
            match s.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
                Some(quoted) => quoted.to_string(),
                None => s.to_ascii_lowercase(),
            }
        })
        .filter(|s| !s.is_empty())
        .collect()
}

/// A setting's name as PostgreSQL spells it (`DateStyle`), the column name `SHOW` gives.
pub(crate) fn display_name(name: &str) -> String {
    definition(name).map_or(name.to_ascii_lowercase(), |d| d.name.to_string())
}

fn definition(name: &str) -> Option<&'static Definition> {
    let name = match name.to_ascii_lowercase().as_str() {
        "timezone" | "time zone" => "TimeZone".to_string(),
        "transaction isolation level" => "transaction_isolation".to_string(),
        other => other.to_string(),
    };
    DEFINITIONS.iter().find(|d| d.name.eq_ignore_ascii_case(&name))
}

/// A session's settings: the values clients changed (the rest are defaults).
#[derive(Debug, Default)]
pub(crate) struct Settings {
    values: BTreeMap<&'static str, String>,
    /// `SET LOCAL` values to undo when the transaction ends: (setting, value before).
    local: Vec<(&'static str, Option<String>)>,
}

impl Settings {
    /// The value of `name` (any case), if it is a setting.
    pub fn get(&self, name: &str) -> Option<String> {
        let definition = definition(name)?;
        Some(self.values.get(definition.name).cloned().unwrap_or_else(|| definition.default.to_string()))
    }

    /// Sets `name` to `value` (`None`: back to its default). `local` lasts until the
    /// transaction ends. Returns the setting's name as PostgreSQL spells it.
    pub fn set(&mut self, name: &str, value: Option<&str>, local: bool) -> Result<&'static str> {
        let definition = definition(name)
            .ok_or_else(|| Error::Invalid(format!("unrecognized configuration parameter \"{name}\"")))?;
        let value = match value {
            None => None,
            Some(value) => Some(match definition.accepts {
                Accepts::ReadOnly => {
                    return Err(Error::Invalid(format!("parameter \"{}\" cannot be changed", definition.name)));
                }
                Accepts::Any => value.to_string(),
                Accepts::OneOf(words) => {
                    let lowered = value.to_ascii_lowercase();
                    if !words.contains(&lowered.as_str()) {
                        return Err(invalid_value(definition, value, words));
                    }
                    lowered
                }
                Accepts::Checked(check) => check(value).ok_or_else(|| invalid_value(definition, value, &[]))?,
            }),
        };
        if local {
            self.local.push((definition.name, self.values.get(definition.name).cloned()));
        }
        match value {
            Some(value) => self.values.insert(definition.name, value),
            None => self.values.remove(definition.name),
        };
        Ok(definition.name)
    }

    /// Undoes `SET LOCAL`s (the transaction ended).
    pub fn end_transaction(&mut self) {
        while let Some((name, before)) = self.local.pop() {
            match before {
                Some(value) => self.values.insert(name, value),
                None => self.values.remove(name),
            };
        }
    }

    /// Every setting: (name, value, description).
    pub fn all(&self) -> Vec<(&'static str, String, &'static str)> {
        DEFINITIONS
            .iter()
            .map(|d| (d.name, self.values.get(d.name).cloned().unwrap_or_else(|| d.default.to_string()), d.description))
            .collect()
    }

    /// The settings PostgreSQL reports to clients (ParameterStatus), with their values.
    pub fn reported(&self) -> Vec<(&'static str, String)> {
        DEFINITIONS
            .iter()
            .filter(|d| d.reported)
            .map(|d| (d.name, self.values.get(d.name).cloned().unwrap_or_else(|| d.default.to_string())))
            .collect()
    }
}

fn invalid_value(definition: &Definition, value: &str, words: &[&str]) -> Error {
    let hint = if words.is_empty() {
        match definition.name {
            "TimeZone" => " (tarn runs in UTC)".to_string(),
            "client_encoding" => " (tarn speaks UTF8)".to_string(),
            "DateStyle" => " (tarn shows dates as ISO)".to_string(),
            "statement_timeout" => " (tarn has no statement timeout: 0)".to_string(),
            _ => String::new(),
        }
    } else {
        format!(" (one of: {})", words.join(", "))
    };
    Error::Invalid(format!("invalid value for parameter \"{}\": \"{value}\"{hint}", definition.name))
}

/// A statement about settings.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SettingStatement {
    /// `SET [SESSION | LOCAL] name { TO | = } value | DEFAULT`, `SET TIME ZONE ...`.
    Set { name: String, value: Option<String>, local: bool },
    /// `SHOW name`, `SHOW ALL`.
    Show(Option<String>),
    /// `RESET name`, `RESET ALL`.
    Reset(Option<String>),
    /// `SET [SESSION CHARACTERISTICS AS] TRANSACTION ISOLATION LEVEL ...`.
    Isolation { level: String, session: bool },
}

/// The setting statement `statement` is, if it is one tarn keeps (DataFusion's own
/// `datafusion.*` options are left to DataFusion).
/// DataFusion's option naming the schema of unqualified names: set, it sets `search_path`.
const DEFAULT_SCHEMA_OPTION: &str = "datafusion.catalog.default_schema";

pub(crate) fn setting_statement(statement: &DFStatement) -> Result<Option<SettingStatement>> {
    let own = |name: &ObjectName| !name.to_string().to_ascii_lowercase().starts_with("datafusion.");
    let statement = match statement {
        DFStatement::Statement(inner) => inner.as_ref(),
        DFStatement::Reset(ResetStatement::Variable(name)) if own(name) => {
            return Ok(Some(SettingStatement::Reset(Some(object_name(name)))));
        }
        _ => return Ok(None),
    };
    Ok(Some(match statement {
        // DataFusion's default schema is where unqualified names resolve: tarn's search_path.
        SqlStatement::Set(Set::SingleAssignment { scope, variable, values, .. })
            if variable.to_string().eq_ignore_ascii_case(DEFAULT_SCHEMA_OPTION) =>
        {
            let local = matches!(scope, Some(ContextModifier::Local));
            SettingStatement::Set { name: "search_path".into(), value: set_value(values)?, local }
        }
        SqlStatement::Set(Set::SingleAssignment { scope, variable, values, .. }) if own(variable) => {
            let local = matches!(scope, Some(ContextModifier::Local));
            SettingStatement::Set { name: object_name(variable), value: set_value(values)?, local }
        }
        SqlStatement::Set(Set::SetTimeZone { local, value }) => SettingStatement::Set {
            name: "TimeZone".into(),
            value: set_value(std::slice::from_ref(value))?,
            local: *local,
        },
        SqlStatement::Set(Set::SetTransaction { modes, snapshot: None, session }) => {
            use datafusion::sql::sqlparser::ast::{TransactionAccessMode, TransactionIsolationLevel, TransactionMode};
            let mut level = None;
            for mode in modes {
                match mode {
                    TransactionMode::IsolationLevel(l) => {
                        level = Some(match l {
                            TransactionIsolationLevel::Serializable => "serializable",
                            TransactionIsolationLevel::RepeatableRead => "repeatable read",
                            TransactionIsolationLevel::ReadCommitted => "read committed",
                            TransactionIsolationLevel::ReadUncommitted => "read uncommitted",
                            other => return Err(Error::Unsupported(format!("isolation level {other}"))),
                        })
                    }
                    TransactionMode::AccessMode(TransactionAccessMode::ReadWrite) => {}
                    TransactionMode::AccessMode(TransactionAccessMode::ReadOnly) => {
                        return Err(Error::Unsupported(
                            "READ ONLY transactions (BEGIN ... AS OF reads a past snapshot read-only)".into(),
                        ));
                    }
                }
            }
            SettingStatement::Isolation { level: level.unwrap_or("serializable").into(), session: *session }
        }
        SqlStatement::ShowVariable { variable } => {
            if variable.first().is_some_and(|i| i.value.eq_ignore_ascii_case("datafusion")) {
                return Ok(None);
            }
            // `SHOW tarn.cache_size` arrives as two words; `SHOW TRANSACTION ISOLATION LEVEL` as four.
            let separator = match variable.first() {
                Some(first) if first.value.eq_ignore_ascii_case("tarn") => ".",
                _ => " ",
            };
            let name = variable.iter().map(|i| i.value.clone()).collect::<Vec<_>>().join(separator);
            SettingStatement::Show((!name.eq_ignore_ascii_case("all")).then_some(name))
        }
        SqlStatement::Reset(reset) => match &reset.reset {
            Reset::ALL => SettingStatement::Reset(None),
            Reset::ConfigurationParameter(name) if own(name) => SettingStatement::Reset(Some(object_name(name))),
            Reset::ConfigurationParameter(_) => return Ok(None),
        },
        _ => return Ok(None),
    }))
}

fn object_name(name: &ObjectName) -> String {
    name.0.iter().filter_map(|p| p.as_ident()).map(|i: &Ident| i.value.clone()).collect::<Vec<_>>().join(".")
}

/// The text a `SET` assigns: values joined by `, ` (`SET search_path TO a, b`); `None` for
/// `DEFAULT`.
fn set_value(values: &[Expr]) -> Result<Option<String>> {
    let mut parts = Vec::new();
    for value in values {
        let text = match value {
            Expr::Identifier(ident) if ident.quote_style.is_none() && ident.value.eq_ignore_ascii_case("default") => {
                return Ok(None);
            }
            Expr::Identifier(ident) if ident.quote_style == Some('"') => format!("\"{}\"", ident.value),
            Expr::Identifier(ident) => ident.value.clone(),
            Expr::Value(v) => match &v.value {
                Value::SingleQuotedString(s) | Value::DoubleQuotedString(s) => s.clone(),
                Value::Number(n, _) => n.to_string(),
                Value::Boolean(b) => if *b { "on" } else { "off" }.to_string(),
                other => other.to_string(),
            },
            Expr::UnaryOp { op: datafusion::sql::sqlparser::ast::UnaryOperator::Minus, expr } => {
                format!("-{}", set_value(std::slice::from_ref(expr))?.unwrap_or_default())
            }
            other => other.to_string(),
        };
        parts.push(text);
    }
    Ok(Some(parts.join(", ")))
}

impl crate::session::Session {
    /// Runs `SET`, `SHOW`, `RESET` of a client setting.
    pub(crate) fn run_setting(&mut self, statement: SettingStatement) -> Result<crate::Output> {
        use crate::{Output, RowStream};
        if self.is_transaction_aborted() {
            return Err(Error::TransactionAborted);
        }
        let in_transaction = self.in_transaction();
        if let Some(applied) = self.engine_setting(&statement)? {
            return Ok(applied);
        }
        let mut settings = self.shared.settings.write();
        match statement {
            // Outside BEGIN ... COMMIT, SET LOCAL has no effect (PostgreSQL warns).
            SettingStatement::Set { local: true, .. } if !in_transaction => {}
            SettingStatement::Set { name, value, local } => {
                settings.set(&name, value.as_deref(), local)?;
            }
            SettingStatement::Isolation { level, session } => {
                let name = if session { "default_transaction_isolation" } else { "transaction_isolation" };
                settings.set(name, Some(&level), false)?;
            }
            SettingStatement::Reset(Some(name)) => {
                settings.set(&name, None, false)?;
            }
            SettingStatement::Reset(None) => *settings = Settings::default(),
            SettingStatement::Show(Some(name)) => {
                drop(settings);
                let value = self
                    .setting(&name)
                    .ok_or_else(|| Error::Invalid(format!("unrecognized configuration parameter \"{name}\"")))?;
                return Ok(Output::Rows(RowStream::table(&[&display_name(&name)], vec![vec![value]])?));
            }
            SettingStatement::Show(None) => {
                drop(settings);
                let mut rows: Vec<Vec<String>> = self
                    .shared
                    .all_settings()
                    .into_iter()
                    .map(|(n, v, d)| vec![n.to_string(), v, d.to_string()])
                    .collect();
                // DataFusion's options, which SET and SHOW also read and change.
                let options = self.ctx.state().config_options().entries();
                rows.extend(
                    options.into_iter().map(|e| vec![e.key, e.value.unwrap_or_default(), e.description.to_string()]),
                );
                return Ok(Output::Rows(RowStream::table(&["name", "setting", "description"], rows)?));
            }
        }
        Ok(Output::command("SET"))
    }

    /// Runs `SET`/`RESET` of a setting of the whole engine (`tarn.cache_size`), which every
    /// session shares; `None` if the statement is about something else.
    fn engine_setting(&self, statement: &SettingStatement) -> Result<Option<crate::Output>> {
        let (name, value) = match statement {
            SettingStatement::Set { name, value, .. } => (name, value.as_deref()),
            SettingStatement::Reset(Some(name)) => (name, None),
            _ => return Ok(None),
        };
        if !name.eq_ignore_ascii_case(crate::cache::CACHE_SIZE_SETTING) {
            return Ok(None);
        }
        if !matches!(self.setting("is_superuser").as_deref(), Some("on")) {
            return Err(Error::PermissionDenied(format!(
                "only a superuser may change {}, which every session shares",
                crate::cache::CACHE_SIZE_SETTING
            )));
        }
        let size = match value {
            Some(text) => crate::cache::parse_size(text).ok_or_else(|| {
                Error::Invalid(format!(
                    "invalid value for parameter \"{}\": \"{text}\" (a size such as 2GB or 512MB; 0 turns the cache off)",
                    crate::cache::CACHE_SIZE_SETTING
                ))
            })?,
            None => self.shared.engine.config.cache_size.unwrap_or_else(crate::cache::DecodedCache::default_capacity),
        };
        self.shared.engine.decoded.set_capacity(size);
        Ok(Some(crate::Output::command("SET")))
    }

    /// The value of a client setting (`DateStyle`, `search_path`, `is_superuser`, ...).
    pub fn setting(&self, name: &str) -> Option<String> {
        self.shared.setting(name)
    }

    /// Sets a client setting as `SET name TO value` would (a server applies the settings a
    /// client sends when it connects this way).
    pub fn set_setting(&self, name: &str, value: &str) -> Result<()> {
        self.shared.settings.write().set(name, Some(value), false).map(|_| ())
    }

    /// The settings PostgreSQL reports to clients when they change (`ParameterStatus`).
    pub fn reported_settings(&self) -> Vec<(String, String)> {
        let mut reported: Vec<(String, String)> =
            self.shared.settings.read().reported().into_iter().map(|(n, v)| (n.to_string(), v)).collect();
        for name in ["is_superuser", "session_authorization"] {
            if let Some(value) = self.setting(name) {
                reported.push((name.to_string(), value));
            }
        }
        reported
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_accept_what_tarn_does_and_refuse_the_rest() {
        let mut settings = Settings::default();
        assert_eq!(settings.get("datestyle").as_deref(), Some("ISO, MDY"));
        settings.set("DateStyle", Some("iso, dmy"), false).unwrap();
        assert_eq!(settings.get("DateStyle").as_deref(), Some("ISO, DMY"));
        assert!(settings.set("DateStyle", Some("German"), false).is_err());
        settings.set("client_encoding", Some("utf-8"), false).unwrap();
        assert_eq!(settings.get("CLIENT_ENCODING").as_deref(), Some("UTF8"));
        assert!(settings.set("client_encoding", Some("LATIN1"), false).unwrap_err().to_string().contains("UTF8"));
        assert!(settings.set("TimeZone", Some("Europe/Paris"), false).is_err());
        settings.set("timezone", Some("Etc/UTC"), false).unwrap();
        assert!(
            settings.set("server_version", Some("9"), false).unwrap_err().to_string().contains("cannot be changed")
        );
        assert!(settings.set("nope", Some("1"), false).unwrap_err().to_string().contains("unrecognized"));
        settings.set("search_path", Some("analytics, \"$user\",PUBLIC"), false).unwrap();
        assert_eq!(settings.get("search_path").as_deref(), Some("analytics, \"$user\", public"));
        assert_eq!(split_path(&settings.get("search_path").unwrap()), ["analytics", "$user", "public"]);
    }

    #[test]
    fn set_local_lasts_until_the_transaction_ends() {
        let mut settings = Settings::default();
        settings.set("application_name", Some("etl"), false).unwrap();
        settings.set("application_name", Some("step"), true).unwrap();
        assert_eq!(settings.get("application_name").as_deref(), Some("step"));
        settings.end_transaction();
        assert_eq!(settings.get("application_name").as_deref(), Some("etl"));
    }
}
