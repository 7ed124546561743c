//! The values a client binds to `$1`, `$2`, ... (text or binary, by type OID) as SQL text the
//! engine splices into the statement.

use bytes::Bytes;
use tarn_engine::pg_types;
use tarn_engine::sql::params::quote_literal;

/// The SQL text of one bound value of type `oid` (0 or `unknown`: untyped).
pub(crate) fn sql_literal(value: Option<&Bytes>, oid: u32, binary: bool) -> Result<String, String> {
    let Some(bytes) = value else {
        return Ok("NULL".into());
    };
    if binary {
        binary_literal(bytes, oid)
    } else {
        let text = std::str::from_utf8(bytes).map_err(|_| "a text parameter is not valid UTF-8".to_string())?;
        text_literal(text, oid)
    }
}

/// `CAST('text' AS type)` for typed text, a bare number for numbers, a string literal else.
fn text_literal(text: &str, oid: u32) -> Result<String, String> {
    if text.contains('\0') {
        return Err("a parameter holds a NUL byte, which text cannot".into());
    }
    Ok(match oid {
        pg_types::INT2 | pg_types::INT4 | pg_types::INT8 | pg_types::OID => {
            let n: i64 =
                text.trim().parse().map_err(|_| format!("invalid input syntax for type integer: \"{text}\""))?;
            number(n.to_string())
        }
        pg_types::NUMERIC => numeric_literal(text.trim())?,
        _ => match cast_type(oid) {
            Some(sql_type) => format!("CAST({} AS {sql_type})", quote_literal(text)),
            None => quote_literal(text),
        },
    })
}

/// The SQL type a typed text value is cast to (`None`: left a string literal).
fn cast_type(oid: u32) -> Option<&'static str> {
    Some(match oid {
        pg_types::BOOL => "BOOLEAN",
        pg_types::FLOAT4 => "REAL",
        pg_types::FLOAT8 => "DOUBLE PRECISION",
        pg_types::DATE => "DATE",
        pg_types::TIME => "TIME",
        pg_types::TIMESTAMP => "TIMESTAMP",
        pg_types::TIMESTAMPTZ => "TIMESTAMPTZ",
        pg_types::INTERVAL => "INTERVAL",
        _ => return None,
    })
}

/// Negative numbers in parentheses, so `x-$1` stays a subtraction.
fn number(text: String) -> String {
    if text.starts_with('-') { format!("({text})") } else { text }
}

/// A numeric value as a decimal literal (its digits keep their scale): `12.50`, `NaN` cast.
fn numeric_literal(text: &str) -> Result<String, String> {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let valid = !(whole.is_empty() && fraction.is_empty())
        && whole.bytes().all(|b| b.is_ascii_digit())
        && fraction.bytes().all(|b| b.is_ascii_digit());
    if valid {
        return Ok(number(text.trim_start_matches('+').to_string()));
    }
    if text.parse::<f64>().is_ok() {
        // `1e5`, `NaN`, `Infinity`.
        return Ok(format!("CAST({} AS DOUBLE PRECISION)", quote_literal(text)));
    }
    Err(format!("invalid input syntax for type numeric: \"{text}\""))
}

fn binary_literal(bytes: &[u8], oid: u32) -> Result<String, String> {
    let exact = |n: usize| -> Result<&[u8], String> {
        (bytes.len() == n)
            .then_some(bytes)
            .ok_or_else(|| format!("a binary parameter of type {oid} must have {n} bytes, not {}", bytes.len()))
    };
    Ok(match oid {
        pg_types::BOOL => if exact(1)?[0] != 0 { "TRUE" } else { "FALSE" }.into(),
        pg_types::INT2 => number(i16::from_be_bytes(exact(2)?.try_into().unwrap_or_default()).to_string()),
        pg_types::INT4 | pg_types::OID => {
            number(i32::from_be_bytes(exact(4)?.try_into().unwrap_or_default()).to_string())
        }
        pg_types::INT8 => number(i64::from_be_bytes(exact(8)?.try_into().unwrap_or_default()).to_string()),
        pg_types::FLOAT4 => float_literal(f32::from_be_bytes(exact(4)?.try_into().unwrap_or_default()) as f64, "REAL"),
        pg_types::FLOAT8 => {
            float_literal(f64::from_be_bytes(exact(8)?.try_into().unwrap_or_default()), "DOUBLE PRECISION")
        }
        pg_types::NUMERIC => numeric_literal(&numeric_from_binary(bytes)?)?,
        pg_types::DATE => {
            let days = i32::from_be_bytes(exact(4)?.try_into().unwrap_or_default());
            let date = chrono::NaiveDate::from_ymd_opt(2000, 1, 1)
                .and_then(|epoch| epoch.checked_add_signed(chrono::Duration::days(days as i64)))
                .ok_or_else(|| format!("date parameter out of range: {days} days"))?;
            format!("CAST('{}' AS DATE)", date.format("%Y-%m-%d"))
        }
        pg_types::TIMESTAMP | pg_types::TIMESTAMPTZ => {
            let micros = i64::from_be_bytes(exact(8)?.try_into().unwrap_or_default());
            let time = chrono::DateTime::from_timestamp_micros(micros + 946_684_800_000_000)
                .ok_or_else(|| format!("timestamp parameter out of range: {micros}"))?;
            let sql_type = if oid == pg_types::TIMESTAMP { "TIMESTAMP" } else { "TIMESTAMPTZ" };
            let zone = if oid == pg_types::TIMESTAMP { "" } else { "+00:00" };
            format!("CAST('{}{zone}' AS {sql_type})", time.naive_utc().format("%Y-%m-%d %H:%M:%S%.6f"))
        }
        pg_types::TIME => {
            let micros = i64::from_be_bytes(exact(8)?.try_into().unwrap_or_default());
            let (seconds, fraction) = (micros / 1_000_000, micros % 1_000_000);
            format!("CAST('{:02}:{:02}:{:02}.{fraction:06}' AS TIME)", seconds / 3600, seconds / 60 % 60, seconds % 60)
        }
        pg_types::TEXT | pg_types::VARCHAR | pg_types::BPCHAR | pg_types::NAME | pg_types::UNKNOWN | 0 => {
            let text = std::str::from_utf8(bytes).map_err(|_| "a text parameter is not valid UTF-8".to_string())?;
            text_literal(text, pg_types::TEXT)?
        }
        other => return Err(format!("binary parameters of type {other} are not supported yet (send them as text)")),
    })
}

fn float_literal(value: f64, sql_type: &str) -> String {
    format!("CAST('{}' AS {sql_type})", crate::encode::float_text(value, false))
}

/// The decimal text of PostgreSQL's binary numeric.
fn numeric_from_binary(bytes: &[u8]) -> Result<String, String> {
    let read = |i: usize| -> Result<i16, String> {
        bytes
            .get(i..i + 2)
            .map(|b| i16::from_be_bytes([b[0], b[1]]))
            .ok_or_else(|| "a binary numeric is truncated".to_string())
    };
    let (ndigits, weight, sign, scale) = (read(0)?, read(2)?, read(4)? as u16, read(6)?);
    if sign == 0xC000 {
        return Ok("NaN".into());
    }
    let digits: Vec<i16> = (0..ndigits as usize).map(|i| read(8 + 2 * i)).collect::<Result<_, _>>()?;
    let mut whole = String::new();
    let mut fraction = String::new();
    for (i, digit) in digits.iter().enumerate() {
        let position = weight as i32 - i as i32;
        if position >= 0 {
            whole.push_str(&format!("{digit:04}"));
        } else {
            // Groups between the point and the first fraction group are zeros.
            while (fraction.len() as i32) < (-position - 1) * 4 {
                fraction.push_str("0000");
            }
            fraction.push_str(&format!("{digit:04}"));
        }
    }
    // Whole groups after the last stored digit are zeros.
    let stored_whole = digits.len() as i32;
    for _ in stored_whole..=(weight as i32) {
        whole.push_str("0000");
    }
    let whole = whole.trim_start_matches('0');
    let whole = if whole.is_empty() { "0" } else { whole };
    fraction.truncate(scale.max(0) as usize);
    while fraction.len() < scale.max(0) as usize {
        fraction.push('0');
    }
    let sign = if sign == 0x4000 { "-" } else { "" };
    Ok(if fraction.is_empty() { format!("{sign}{whole}") } else { format!("{sign}{whole}.{fraction}") })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_parameters_become_literals() {
        assert_eq!(sql_literal(Some(&Bytes::from("it's")), 0, false).unwrap(), "'it''s'");
        assert_eq!(sql_literal(Some(&Bytes::from("-5")), pg_types::INT8, false).unwrap(), "(-5)");
        assert!(sql_literal(Some(&Bytes::from("5; DROP TABLE t")), pg_types::INT4, false).is_err());
        assert_eq!(sql_literal(Some(&Bytes::from("12.50")), pg_types::NUMERIC, false).unwrap(), "12.50");
        assert_eq!(
            sql_literal(Some(&Bytes::from("2024-01-31")), pg_types::DATE, false).unwrap(),
            "CAST('2024-01-31' AS DATE)"
        );
        assert_eq!(sql_literal(None, pg_types::DATE, false).unwrap(), "NULL");
    }

    #[test]
    fn binary_parameters_decode() {
        assert_eq!(sql_literal(Some(&Bytes::from(vec![0, 0, 0, 42])), pg_types::INT4, true).unwrap(), "42");
        assert_eq!(
            sql_literal(Some(&Bytes::from(vec![0, 0, 0, 0])), pg_types::DATE, true).unwrap(),
            "CAST('2000-01-01' AS DATE)"
        );
        let mut numeric = bytes::BytesMut::new();
        crate::encode::numeric_binary("-12345.678", &mut numeric);
        assert_eq!(numeric_from_binary(&numeric).unwrap(), "-12345.678");
        let mut numeric = bytes::BytesMut::new();
        crate::encode::numeric_binary("0.0005", &mut numeric);
        assert_eq!(numeric_from_binary(&numeric).unwrap(), "0.0005");
        let mut numeric = bytes::BytesMut::new();
        crate::encode::numeric_binary("120000", &mut numeric);
        assert_eq!(numeric_from_binary(&numeric).unwrap(), "120000");
    }
}
