//! Declared column types, with Redshift's names kept.
//!
//! The catalog records the type the user declared (`varchar(32)`, `double precision`, ...)
//! and maps it to the Arrow type the data files are written with.

use std::fmt;
use std::sync::Arc;

use arrow_schema::{DataType, TimeUnit};

use crate::{Error, Result};

/// Largest `varchar` Redshift accepts; also the length of text columns created by CTAS.
pub const MAX_VARCHAR: u32 = 65535;

/// A column type as declared in `CREATE TABLE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SqlType {
    SmallInt,
    Integer,
    BigInt,
    Real,
    Double,
    Decimal {
        precision: u8,
        scale: i8,
    },
    Boolean,
    /// `char(n)`: length in bytes, as in Redshift.
    Char(u32),
    /// `varchar(n)`: maximum length in bytes, as in Redshift.
    Varchar(u32),
    /// `text`: Redshift stores it as `varchar(256)`.
    Text,
    Date,
    /// `timestamp` (without time zone), microseconds.
    Timestamp,
    /// `timestamptz`, microseconds, normalised to UTC.
    TimestampTz,
}

impl SqlType {
    /// Parses a declared type name such as `varchar(32)`, `INT4`, `double precision`,
    /// `numeric(8, 2)` or `timestamp without time zone`.
    pub fn parse(declared: &str) -> Result<SqlType> {
        let lowered = declared.trim().to_ascii_lowercase();
        let (name, args) = match lowered.find('(') {
            Some(open) => {
                let close = lowered
                    .rfind(')')
                    .filter(|c| *c > open)
                    .ok_or_else(|| Error::InvalidType(format!("unbalanced parentheses in type '{declared}'")))?;
                if !lowered[close + 1..].trim().is_empty() {
                    return Err(Error::InvalidType(format!("unexpected text after ')' in type '{declared}'")));
                }
                let args = lowered[open + 1..close]
                    .split(',')
                    .map(|a| {
                        a.trim()
                            .parse::<u32>()
                            .map_err(|_| Error::InvalidType(format!("invalid type argument '{a}' in '{declared}'")))
                    })
                    .collect::<Result<Vec<u32>>>()?;
                (lowered[..open].trim().to_string(), args)
            }
            None => (lowered.clone(), Vec::new()),
        };
        let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
        let no_args = |t: SqlType| {
            if args.is_empty() { Ok(t) } else { Err(Error::InvalidType(format!("type '{name}' takes no arguments"))) }
        };
        let length = |default: u32| -> Result<u32> {
            match args.as_slice() {
                [] => Ok(default),
                [n] if (1..=MAX_VARCHAR).contains(n) => Ok(*n),
                [n] => {
                    Err(Error::InvalidType(format!("length {n} for type '{name}' is out of range 1..{MAX_VARCHAR}")))
                }
                _ => Err(Error::InvalidType(format!("type '{name}' takes one length"))),
            }
        };
        match name.as_str() {
            "smallint" | "int2" => no_args(SqlType::SmallInt),
            "integer" | "int" | "int4" => no_args(SqlType::Integer),
            "bigint" | "int8" => no_args(SqlType::BigInt),
            "real" | "float4" => no_args(SqlType::Real),
            "double precision" | "double" | "float8" => no_args(SqlType::Double),
            // FLOAT(p): REAL up to 24 bits of precision, DOUBLE PRECISION up to 53 (PostgreSQL's rule).
            "float" => match args.as_slice() {
                [] => Ok(SqlType::Double),
                [p] if (1..=24).contains(p) => Ok(SqlType::Real),
                [p] if (25..=53).contains(p) => Ok(SqlType::Double),
                [p] => Err(Error::InvalidType(format!("precision {p} for type float is out of range 1..53"))),
                _ => Err(Error::InvalidType("type 'float' takes one precision".into())),
            },
            "boolean" | "bool" => no_args(SqlType::Boolean),
            "date" => no_args(SqlType::Date),
            "timestamp" | "timestamp without time zone" => no_args(SqlType::Timestamp),
            "timestamptz" | "timestamp with time zone" => no_args(SqlType::TimestampTz),
            "text" => no_args(SqlType::Text),
            "char" | "character" | "nchar" | "bpchar" => Ok(SqlType::Char(length(1)?)),
            "varchar" | "character varying" | "nvarchar" => Ok(SqlType::Varchar(length(256)?)),
            "decimal" | "numeric" => {
                let (precision, scale) = match args.as_slice() {
                    [] => (18, 0),
                    [p] => (*p, 0),
                    [p, s] => (*p, *s),
                    _ => {
                        return Err(Error::InvalidType(format!("type '{name}' takes a precision and a scale")));
                    }
                };
                if !(1..=38).contains(&precision) || scale > precision {
                    return Err(Error::InvalidType(format!(
                        "decimal({precision},{scale}): precision must be 1..38 and scale at most the precision"
                    )));
                }
                Ok(SqlType::Decimal { precision: precision as u8, scale: scale as i8 })
            }
            other => Err(Error::InvalidType(format!("unknown type '{other}'"))),
        }
    }

    /// The type a query result of Arrow type `data_type` gets when it becomes a column
    /// (`CREATE TABLE ... AS SELECT`).
    pub fn from_arrow(data_type: &DataType) -> Result<SqlType> {
        Ok(match data_type {
            DataType::Int8 | DataType::Int16 | DataType::UInt8 => SqlType::SmallInt,
            DataType::Int32 | DataType::UInt16 => SqlType::Integer,
            DataType::Int64 | DataType::UInt32 => SqlType::BigInt,
            DataType::UInt64 => SqlType::Decimal { precision: 20, scale: 0 },
            DataType::Float16 | DataType::Float32 => SqlType::Real,
            DataType::Float64 => SqlType::Double,
            DataType::Decimal32(p, s) | DataType::Decimal64(p, s) | DataType::Decimal128(p, s) if *p <= 38 => {
                SqlType::Decimal { precision: *p, scale: *s }
            }
            DataType::Boolean => SqlType::Boolean,
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => SqlType::Varchar(MAX_VARCHAR),
            DataType::Date32 | DataType::Date64 => SqlType::Date,
            DataType::Timestamp(_, None) => SqlType::Timestamp,
            DataType::Timestamp(_, Some(_)) => SqlType::TimestampTz,
            DataType::Null => SqlType::Varchar(MAX_VARCHAR),
            DataType::Dictionary(_, value) => SqlType::from_arrow(value)?,
            other => {
                return Err(Error::Unsupported(format!("columns of type {other}")));
            }
        })
    }

    /// The Arrow type data of this column is stored as.
    pub fn to_arrow(&self) -> DataType {
        match self {
            SqlType::SmallInt => DataType::Int16,
            SqlType::Integer => DataType::Int32,
            SqlType::BigInt => DataType::Int64,
            SqlType::Real => DataType::Float32,
            SqlType::Double => DataType::Float64,
            SqlType::Decimal { precision, scale } => DataType::Decimal128(*precision, *scale),
            SqlType::Boolean => DataType::Boolean,
            SqlType::Char(_) | SqlType::Varchar(_) | SqlType::Text => DataType::Utf8,
            SqlType::Date => DataType::Date32,
            SqlType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, None),
            SqlType::TimestampTz => DataType::Timestamp(TimeUnit::Microsecond, Some(Arc::from("+00:00"))),
        }
    }

    /// A column of this type as queries see it: character types carry their declared type in
    /// the field's metadata ([`SQL_TYPE_METADATA`]), which Arrow's `Utf8` alone would lose.
    pub fn field(&self, name: &str, nullable: bool) -> arrow_schema::Field {
        let field = arrow_schema::Field::new(name, self.to_arrow(), nullable);
        match self {
            SqlType::Char(_) | SqlType::Varchar(_) | SqlType::Text => {
                field.with_metadata([(SQL_TYPE_METADATA.to_string(), self.to_string())].into_iter().collect())
            }
            _ => field,
        }
    }

    /// The type of a query's column: its declared type when it came from a table's column
    /// unchanged, else the type its Arrow type maps to.
    pub fn of_field(field: &arrow_schema::Field) -> Result<SqlType> {
        if let Some(declared) = field.metadata().get(SQL_TYPE_METADATA)
            && let Ok(sql_type) = SqlType::parse(declared)
            && stored_alike(&sql_type.to_arrow(), field.data_type())
        {
            return Ok(sql_type);
        }
        SqlType::from_arrow(field.data_type())
    }

    /// Maximum length in bytes for character types, `None` for the others.
    pub fn max_length(&self) -> Option<u32> {
        match self {
            SqlType::Char(n) | SqlType::Varchar(n) => Some(*n),
            SqlType::Text => Some(256),
            _ => None,
        }
    }
}

/// Whether data of Arrow type `b` holds values of a column stored as `a` (strings read as views
/// are still the column's strings).
fn stored_alike(a: &DataType, b: &DataType) -> bool {
    let string = |t: &DataType| matches!(t, DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8);
    a == b || (string(a) && string(b))
}

/// The field-metadata key that carries a column's declared type (`character varying(10)`)
/// through queries.
pub const SQL_TYPE_METADATA: &str = "tarn.sql_type";

impl fmt::Display for SqlType {
    /// The canonical (Redshift `format_type`) spelling.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SqlType::SmallInt => f.write_str("smallint"),
            SqlType::Integer => f.write_str("integer"),
            SqlType::BigInt => f.write_str("bigint"),
            SqlType::Real => f.write_str("real"),
            SqlType::Double => f.write_str("double precision"),
            SqlType::Decimal { precision, scale } => write!(f, "numeric({precision},{scale})"),
            SqlType::Boolean => f.write_str("boolean"),
            SqlType::Char(n) => write!(f, "character({n})"),
            SqlType::Varchar(n) => write!(f, "character varying({n})"),
            SqlType::Text => f.write_str("text"),
            SqlType::Date => f.write_str("date"),
            SqlType::Timestamp => f.write_str("timestamp without time zone"),
            SqlType::TimestampTz => f.write_str("timestamp with time zone"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_redshift_spellings() {
        let cases = [
            ("integer", SqlType::Integer),
            ("INT4", SqlType::Integer),
            ("varchar(32)", SqlType::Varchar(32)),
            ("character varying ( 10 )", SqlType::Varchar(10)),
            ("varchar", SqlType::Varchar(256)),
            ("char(3)", SqlType::Char(3)),
            ("double precision", SqlType::Double),
            ("decimal(8,2)", SqlType::Decimal { precision: 8, scale: 2 }),
            ("numeric", SqlType::Decimal { precision: 18, scale: 0 }),
            ("timestamp", SqlType::Timestamp),
            ("timestamp with time zone", SqlType::TimestampTz),
            ("text", SqlType::Text),
        ];
        for (text, expected) in cases {
            assert_eq!(SqlType::parse(text).unwrap(), expected, "{text}");
        }
    }

    #[test]
    fn display_round_trips() {
        for text in ["smallint", "varchar(7)", "decimal(38,10)", "timestamptz", "char(2)", "real"] {
            let t = SqlType::parse(text).unwrap();
            assert_eq!(SqlType::parse(&t.to_string()).unwrap(), t);
        }
    }

    #[test]
    fn rejects_bad_types() {
        for text in ["varchar(0)", "varchar(70000)", "decimal(40,2)", "decimal(4,5)", "blob", "int(3", "integer(4)"] {
            assert!(SqlType::parse(text).is_err(), "{text} should be rejected");
        }
    }

    #[test]
    fn timestamps_are_microseconds() {
        assert_eq!(SqlType::Timestamp.to_arrow(), DataType::Timestamp(TimeUnit::Microsecond, None));
        assert_eq!(SqlType::from_arrow(&DataType::Timestamp(TimeUnit::Nanosecond, None)).unwrap(), SqlType::Timestamp);
    }
}
