//! tarn's types as PostgreSQL names them on the wire and in `pg_catalog`: type OIDs, type
//! modifiers (`varchar(10)`, `numeric(8,2)`), `format_type()` spellings. A server's row
//! descriptions and the catalog tables drivers reflect on both come from here.

use datafusion::arrow::datatypes::{DataType, Field, IntervalUnit};
use tarn_catalog::SqlType;

/// A PostgreSQL type with its modifier, as a row description carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PgType {
    /// `pg_type.oid`.
    pub oid: u32,
    /// `pg_attribute.atttypmod`: `-1` for none; `n + 4` for `varchar(n)`/`char(n)`;
    /// `((p << 16) | s) + 4` for `numeric(p,s)`.
    pub typmod: i32,
}

pub const BOOL: u32 = 16;
pub const BYTEA: u32 = 17;
pub const NAME: u32 = 19;
pub const INT8: u32 = 20;
pub const INT2: u32 = 21;
pub const INT4: u32 = 23;
pub const TEXT: u32 = 25;
pub const OID: u32 = 26;
pub const FLOAT4: u32 = 700;
pub const FLOAT8: u32 = 701;
pub const UNKNOWN: u32 = 705;
pub const BPCHAR: u32 = 1042;
pub const VARCHAR: u32 = 1043;
pub const DATE: u32 = 1082;
pub const TIME: u32 = 1083;
pub const TIMESTAMP: u32 = 1114;
pub const TIMESTAMPTZ: u32 = 1184;
pub const INTERVAL: u32 = 1186;
pub const NUMERIC: u32 = 1700;

/// Every type tarn reports: (oid, `typname`, `typlen`, `typcategory`, array type oid, element
/// type oid of an array type).
pub const TYPES: &[(u32, &str, i16, char, u32, u32)] = &[
    (BOOL, "bool", 1, 'B', 1000, 0),
    (BYTEA, "bytea", -1, 'U', 1001, 0),
    (18, "char", 1, 'S', 1002, 0),
    (NAME, "name", 64, 'S', 1003, 0),
    (INT8, "int8", 8, 'N', 1016, 0),
    (INT2, "int2", 2, 'N', 1005, 0),
    (INT4, "int4", 4, 'N', 1007, 0),
    (TEXT, "text", -1, 'S', 1009, 0),
    (OID, "oid", 4, 'N', 1028, 0),
    (FLOAT4, "float4", 4, 'N', 1021, 0),
    (FLOAT8, "float8", 8, 'N', 1022, 0),
    (UNKNOWN, "unknown", -2, 'X', 0, 0),
    (BPCHAR, "bpchar", -1, 'S', 1014, 0),
    (VARCHAR, "varchar", -1, 'S', 1015, 0),
    (DATE, "date", 4, 'D', 1182, 0),
    (TIME, "time", 8, 'D', 1183, 0),
    (TIMESTAMP, "timestamp", 8, 'D', 1115, 0),
    (TIMESTAMPTZ, "timestamptz", 8, 'D', 1185, 0),
    (INTERVAL, "interval", 16, 'T', 1187, 0),
    (NUMERIC, "numeric", -1, 'N', 1231, 0),
    (1000, "_bool", -1, 'A', 0, BOOL),
    (1001, "_bytea", -1, 'A', 0, BYTEA),
    (1002, "_char", -1, 'A', 0, 18),
    (1003, "_name", -1, 'A', 0, NAME),
    (1005, "_int2", -1, 'A', 0, INT2),
    (1007, "_int4", -1, 'A', 0, INT4),
    (1009, "_text", -1, 'A', 0, TEXT),
    (1014, "_bpchar", -1, 'A', 0, BPCHAR),
    (1015, "_varchar", -1, 'A', 0, VARCHAR),
    (1016, "_int8", -1, 'A', 0, INT8),
    (1021, "_float4", -1, 'A', 0, FLOAT4),
    (1022, "_float8", -1, 'A', 0, FLOAT8),
    (1028, "_oid", -1, 'A', 0, OID),
    (1115, "_timestamp", -1, 'A', 0, TIMESTAMP),
    (1182, "_date", -1, 'A', 0, DATE),
    (1183, "_time", -1, 'A', 0, TIME),
    (1185, "_timestamptz", -1, 'A', 0, TIMESTAMPTZ),
    (1187, "_interval", -1, 'A', 0, INTERVAL),
    (1231, "_numeric", -1, 'A', 0, NUMERIC),
];

impl PgType {
    const fn plain(oid: u32) -> PgType {
        PgType { oid, typmod: -1 }
    }

    /// `pg_type.typlen` (-1: variable length).
    pub fn type_len(&self) -> i16 {
        TYPES.iter().find(|t| t.0 == self.oid).map_or(-1, |t| t.2)
    }

    /// The array type whose elements are of this type, if PostgreSQL has one.
    pub fn array(&self) -> Option<u32> {
        TYPES.iter().find(|t| t.0 == self.oid).map(|t| t.4).filter(|a| *a != 0)
    }

    /// The element type of an array type.
    pub fn element(&self) -> Option<u32> {
        TYPES.iter().find(|t| t.0 == self.oid).map(|t| t.5).filter(|e| *e != 0)
    }
}

/// The PostgreSQL type of a declared column type.
pub fn of_sql_type(sql_type: &SqlType) -> PgType {
    match sql_type {
        SqlType::SmallInt => PgType::plain(INT2),
        SqlType::Integer => PgType::plain(INT4),
        SqlType::BigInt => PgType::plain(INT8),
        SqlType::Real => PgType::plain(FLOAT4),
        SqlType::Double => PgType::plain(FLOAT8),
        SqlType::Decimal { precision, scale } => numeric(*precision, *scale),
        SqlType::Boolean => PgType::plain(BOOL),
        SqlType::Char(n) => PgType { oid: BPCHAR, typmod: *n as i32 + 4 },
        SqlType::Varchar(n) => PgType { oid: VARCHAR, typmod: *n as i32 + 4 },
        // Redshift keeps TEXT as VARCHAR(256).
        SqlType::Text => PgType { oid: VARCHAR, typmod: 256 + 4 },
        SqlType::Date => PgType::plain(DATE),
        SqlType::Timestamp => PgType::plain(TIMESTAMP),
        SqlType::TimestampTz => PgType::plain(TIMESTAMPTZ),
    }
}

fn numeric(precision: u8, scale: i8) -> PgType {
    PgType { oid: NUMERIC, typmod: (((precision as i32) << 16) | (scale.max(0) as i32 & 0xffff)) + 4 }
}

/// The PostgreSQL type of a result column: its declared type when it is a table's column,
/// else what its Arrow type maps to.
pub fn of_field(field: &Field) -> PgType {
    if field.metadata().contains_key(tarn_catalog::SQL_TYPE_METADATA)
        && let Ok(sql_type) = SqlType::of_field(field)
    {
        return of_sql_type(&sql_type);
    }
    of_arrow(field.data_type())
}

/// The PostgreSQL type an Arrow type maps to; types PostgreSQL lacks travel as text.
pub fn of_arrow(data_type: &DataType) -> PgType {
    PgType::plain(match data_type {
        DataType::Boolean => BOOL,
        DataType::Int8 | DataType::Int16 | DataType::UInt8 => INT2,
        DataType::Int32 | DataType::UInt16 => INT4,
        DataType::Int64 | DataType::UInt32 => INT8,
        DataType::UInt64 => return numeric(20, 0),
        DataType::Float16 | DataType::Float32 => FLOAT4,
        DataType::Float64 => FLOAT8,
        DataType::Decimal32(p, s) | DataType::Decimal64(p, s) | DataType::Decimal128(p, s) => {
            return numeric(*p, *s);
        }
        // Wider than PostgreSQL's numeric typmod holds: no modifier.
        DataType::Decimal256(..) => NUMERIC,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => VARCHAR,
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_) => BYTEA,
        DataType::Date32 | DataType::Date64 => DATE,
        DataType::Time32(_) | DataType::Time64(_) => TIME,
        DataType::Timestamp(_, None) => TIMESTAMP,
        DataType::Timestamp(_, Some(_)) => TIMESTAMPTZ,
        DataType::Interval(IntervalUnit::YearMonth | IntervalUnit::DayTime | IntervalUnit::MonthDayNano)
        | DataType::Duration(_) => INTERVAL,
        DataType::Dictionary(_, value) => return of_arrow(value),
        _ => TEXT,
    })
}

/// The PostgreSQL type a parameter of this Arrow type is declared as (`None`: unknown).
pub fn of_parameter(data_type: Option<&DataType>) -> u32 {
    match data_type {
        None | Some(DataType::Null) => UNKNOWN,
        Some(t) => of_arrow(t).oid,
    }
}

/// `format_type(oid, typmod)`: `character varying(10)`, `numeric(8,2)`, `integer`, ...
pub fn format_type(oid: u32, typmod: i32) -> Option<String> {
    let modifier = typmod - 4;
    Some(match oid {
        BOOL => "boolean".into(),
        BYTEA => "bytea".into(),
        18 => "\"char\"".into(),
        NAME => "name".into(),
        INT8 => "bigint".into(),
        INT2 => "smallint".into(),
        INT4 => "integer".into(),
        TEXT => "text".into(),
        OID => "oid".into(),
        FLOAT4 => "real".into(),
        FLOAT8 => "double precision".into(),
        UNKNOWN => "unknown".into(),
        BPCHAR if typmod >= 4 => format!("character({modifier})"),
        BPCHAR => "character".into(),
        VARCHAR if typmod >= 4 => format!("character varying({modifier})"),
        VARCHAR => "character varying".into(),
        DATE => "date".into(),
        TIME => "time without time zone".into(),
        TIMESTAMP => "timestamp without time zone".into(),
        TIMESTAMPTZ => "timestamp with time zone".into(),
        INTERVAL => "interval".into(),
        NUMERIC if typmod >= 4 => format!("numeric({},{})", modifier >> 16, modifier & 0xffff),
        NUMERIC => "numeric".into(),
        other => {
            let (_, _, _, _, _, element) = TYPES.iter().find(|t| t.0 == other)?;
            format!("{}[]", format_type(*element, -1)?)
        }
    })
}

/// The oid of a type named as `pg_type.typname` (`int4`) or as `format_type` spells it
/// (`integer`, `character varying`), `pg_catalog.` allowed.
pub fn oid_of_name(name: &str) -> Option<u32> {
    let name = name.trim().trim_matches('"').to_ascii_lowercase();
    let name = name.strip_prefix("pg_catalog.").unwrap_or(&name);
    if let Some((oid, ..)) = TYPES.iter().find(|t| t.1 == name) {
        return Some(*oid);
    }
    if let Ok(sql_type) = SqlType::parse(name) {
        return Some(of_sql_type(&sql_type).oid);
    }
    TYPES.iter().map(|t| t.0).find(|oid| format_type(*oid, -1).as_deref() == Some(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_types_keep_their_modifiers() {
        for (sql_type, expected) in [
            (SqlType::Varchar(10), "character varying(10)"),
            (SqlType::Char(3), "character(3)"),
            (SqlType::Decimal { precision: 8, scale: 2 }, "numeric(8,2)"),
            (SqlType::Text, "character varying(256)"),
            (SqlType::TimestampTz, "timestamp with time zone"),
            (SqlType::Integer, "integer"),
        ] {
            let t = of_sql_type(&sql_type);
            assert_eq!(format_type(t.oid, t.typmod).as_deref(), Some(expected));
        }
        let field = SqlType::Varchar(12).field("name", true);
        assert_eq!(of_field(&field), PgType { oid: VARCHAR, typmod: 16 });
        assert_eq!(of_arrow(&DataType::Decimal128(38, 4)), PgType { oid: NUMERIC, typmod: (38 << 16 | 4) + 4 });
        assert_eq!(format_type(1007, -1).as_deref(), Some("integer[]"));
        assert_eq!(oid_of_name("int4"), Some(INT4));
        assert_eq!(oid_of_name("character varying"), Some(VARCHAR));
        assert_eq!(oid_of_name("hstore"), None);
    }
}
