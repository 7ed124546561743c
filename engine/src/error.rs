//! The engine's error type.

use datafusion::error::DataFusionError;

/// Everything that can go wrong running SQL in tarn. `Display` is one line meant for users.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Catalog(#[from] tarn_catalog::Error),
    /// The SQL text could not be parsed.
    #[error("syntax error: {0}")]
    Parse(String),
    /// A statement or option tarn does not implement (yet).
    #[error("not supported yet: {0}")]
    Unsupported(String),
    /// Invalid input: bad names, bad values, constraint violations.
    #[error("{0}")]
    Invalid(String),
    /// A privilege check failed (PostgreSQL's words: `permission denied for schema pii`).
    #[error("permission denied {0}")]
    PermissionDenied(String),
    /// Waiting for a table lock would wait forever (`deadlock detected`).
    #[error("{0}")]
    Deadlock(String),
    #[error("current transaction is aborted, commands ignored until end of transaction block (ROLLBACK)")]
    TransactionAborted,
    /// A refused or failed object-store (S3 or local lake) operation.
    #[error("{0}")]
    Storage(String),
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
    #[error("writing {path}: {source}")]
    Parquet { path: String, source: parquet::errors::ParquetError },
    #[error("{}", one_line(.0))]
    DataFusion(Box<DataFusionError>),
}

impl From<DataFusionError> for Error {
    fn from(e: DataFusionError) -> Self {
        // Our own errors travel through DataFusion (from table providers); unwrap them.
        match e {
            DataFusionError::External(inner) => match inner.downcast::<Error>() {
                Ok(ours) => *ours,
                Err(other) => Error::DataFusion(Box::new(DataFusionError::External(other))),
            },
            DataFusionError::Context(_, inner) if matches!(*inner, DataFusionError::External(_)) => Error::from(*inner),
            other => Error::DataFusion(Box::new(other)),
        }
    }
}

impl From<datafusion::arrow::error::ArrowError> for Error {
    fn from(e: datafusion::arrow::error::ArrowError) -> Self {
        Error::from(DataFusionError::from(e))
    }
}

impl From<parquet::errors::ParquetError> for Error {
    fn from(e: parquet::errors::ParquetError) -> Self {
        Error::from(DataFusionError::from(e))
    }
}

impl From<Error> for DataFusionError {
    fn from(e: Error) -> Self {
        DataFusionError::External(Box::new(e))
    }
}

/// DataFusion's message without its backtrace-ish prefixes, on one line.
fn one_line(e: &DataFusionError) -> String {
    let message = match e.find_root() {
        DataFusionError::SQL(parser_error, _) => format!("syntax error: {parser_error}"),
        DataFusionError::Plan(m) => missing_relation(m).unwrap_or_else(|| m.clone()),
        DataFusionError::SchemaError(inner, _) => inner.to_string(),
        DataFusionError::NotImplemented(m) => format!("not supported yet: {m}"),
        DataFusionError::Execution(m) => m.clone(),
        DataFusionError::ArrowError(e, _) => match e.as_ref() {
            datafusion::arrow::error::ArrowError::CastError(m)
            | datafusion::arrow::error::ArrowError::InvalidArgumentError(m)
            | datafusion::arrow::error::ArrowError::ComputeError(m)
            | datafusion::arrow::error::ArrowError::ParseError(m) => m.clone(),
            datafusion::arrow::error::ArrowError::DivideByZero => "division by zero".to_string(),
            other => other.to_string(),
        },
        DataFusionError::ResourcesExhausted(m) => format!("out of memory: {m}"),
        root => root.strip_backtrace(),
    };
    message.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}

/// DataFusion's "table 'dev.s.t' not found" in PostgreSQL's words.
fn missing_relation(message: &str) -> Option<String> {
    let name = message.strip_prefix("table '")?.strip_suffix("' not found")?;
    let name = name.strip_prefix(&format!("{}.", crate::provider::CATALOG_NAME)).unwrap_or(name);
    Some(format!("relation \"{name}\" does not exist"))
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The PostgreSQL SQLSTATE of this error, for clients that branch on it (`42P01` undefined
    /// table, `42501` permission denied, `40001` serialization failure, ...).
    pub fn sqlstate(&self) -> &'static str {
        match self {
            Error::Parse(_) => "42601",
            Error::Unsupported(_) => "0A000",
            Error::PermissionDenied(_) => "42501",
            Error::TransactionAborted => "25P02",
            Error::Deadlock(_) => "40P01",
            Error::Catalog(tarn_catalog::Error::Conflict(_)) => "40001",
            Error::Catalog(tarn_catalog::Error::Unsupported(_)) => "0A000",
            Error::Catalog(tarn_catalog::Error::DependentObjects(_)) => "2BP01",
            Error::Catalog(tarn_catalog::Error::InvalidType(_)) => "42704",
            Error::Catalog(tarn_catalog::Error::Database { .. } | tarn_catalog::Error::Corrupt(_)) => "XX000",
            Error::Catalog(tarn_catalog::Error::TooNew { .. }) => "XX000",
            Error::Catalog(tarn_catalog::Error::Io { .. }) => "58030",
            Error::Storage(_) | Error::Io { .. } | Error::Parquet { .. } => "58030",
            Error::DataFusion(e) if matches!(e.find_root(), DataFusionError::ResourcesExhausted(_)) => "53200",
            Error::DataFusion(e) if matches!(e.find_root(), DataFusionError::SQL(..)) => "42601",
            Error::DataFusion(e) if matches!(e.find_root(), DataFusionError::NotImplemented(_)) => "0A000",
            Error::DataFusion(e) if matches!(e.find_root(), DataFusionError::ArrowError(..)) => {
                sqlstate_of_message(&self.to_string()).unwrap_or("22000")
            }
            other => sqlstate_of_message(&other.to_string()).unwrap_or("XX000"),
        }
    }
}

/// The SQLSTATE of an error known only by its message (the catalog's "does not exist", a
/// cast's "cannot be cast", ...), as PostgreSQL would report it.
fn sqlstate_of_message(message: &str) -> Option<&'static str> {
    let lower = message.to_ascii_lowercase();
    let starts = |p: &str| lower.starts_with(p);
    let has = |p: &str| lower.contains(p);
    let state = if has("unrecognized configuration parameter") {
        "42704"
    } else if has("invalid value for parameter") {
        "22023"
    } else if has("parameter") && has("cannot be changed") {
        "55P02"
    } else if has("no field named") {
        "42703"
    } else if has("does not exist") || has("not found") {
        if starts("relation") || starts("table") || starts("view") || has("no table named") {
            "42P01"
        } else if starts("schema") {
            "3F000"
        } else if starts("column") || has("no field named") || has("schema error: no field") {
            "42703"
        } else if starts("database") {
            "3D000"
        } else if starts("function") || has("invalid function") {
            "42883"
        } else {
            "42704"
        }
    } else if has("already exists") {
        if starts("relation") || starts("table") || starts("view") {
            "42P07"
        } else if starts("schema") {
            "42P06"
        } else {
            "42710"
        }
    } else if has("invalid function") {
        "42883"
    } else if has("division by zero") || has("divide by zero") {
        "22012"
    } else if has("value too long") || has("too long for type") {
        "22001"
    } else if has("null value in column") || has("violates not-null") || has("cannot be null") {
        "23502"
    } else if has("out of range") || has("overflow") {
        if has("date") || has("time") { "22008" } else { "22003" }
    } else if has("load into table") || has("stl_load_errors") {
        "22P04"
    } else if has("cannot be cast")
        || has("cannot cast")
        || has("invalid input syntax")
        || has("cast error")
        || has("invalid value for")
        || has("invalid date")
        || has("invalid timestamp")
        || has("parse")
    {
        "22P02"
    } else if has("ambiguous") {
        "42702"
    } else if has("must appear in the group by") || has("group by") && has("aggregate") {
        "42803"
    } else if has("cannot run inside a transaction block") {
        "25001"
    } else if has("read-only transaction") {
        "25006"
    } else if has("does not match") && has("type") || has("mismatch") || has("coercion") {
        "42804"
    } else {
        return None;
    };
    Some(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates_follow_postgresql() {
        let cases = [
            (Error::Parse("x".into()), "42601"),
            (Error::Invalid("relation \"pii.people\" does not exist".into()), "42P01"),
            (Error::Invalid("schema \"nope\" does not exist".into()), "3F000"),
            (Error::Invalid("column \"zz\" does not exist".into()), "42703"),
            (Error::PermissionDenied("for schema pii".into()), "42501"),
            (Error::TransactionAborted, "25P02"),
            (Error::Catalog(tarn_catalog::Error::Conflict("t".into())), "40001"),
            (Error::Unsupported("x".into()), "0A000"),
            (Error::Invalid("value too long for type character varying(3)".into()), "22001"),
            (Error::from(DataFusionError::Plan("table 'dev.public.t' not found".into())), "42P01"),
            (Error::from(datafusion::arrow::error::ArrowError::DivideByZero), "22012"),
            (
                Error::from(datafusion::arrow::error::ArrowError::CastError(
                    "Cannot cast string 'x' to value of Int64 type".into(),
                )),
                "22P02",
            ),
        ];
        for (error, state) in cases {
            assert_eq!(error.sqlstate(), state, "{error}");
        }
    }
}
