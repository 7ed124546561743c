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
