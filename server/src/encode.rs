//! Arrow values in PostgreSQL's text and binary formats: what `DataRow` messages carry.

use bytes::{BufMut, BytesMut};
use pgwire::api::Type;
use pgwire::api::results::{FieldFormat, FieldInfo};
use pgwire::messages::data::DataRow;
use tarn_engine::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use tarn_engine::arrow::datatypes::*;
use tarn_engine::arrow::util::display::ArrayFormatter;
use tarn_engine::pg_types::{self, PgType};

/// Days from 1970-01-01 to 2000-01-01, PostgreSQL's epoch.
const PG_EPOCH_DAYS: i64 = 10_957;
const PG_EPOCH_MICROS: i64 = PG_EPOCH_DAYS * 86_400_000_000;

/// The row description of `schema`, each column in `format`.
pub(crate) fn fields(schema: &Schema, format: impl Fn(usize) -> FieldFormat) -> Vec<FieldInfo> {
    schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, field)| {
            let pg = pg_types::of_field(field);
            FieldInfo::new(field.name().clone(), None, None, pg_type(pg.oid), format(i))
                .with_type_size(pg.type_len())
                .with_type_modifier(pg.typmod)
        })
        .collect()
}

/// pgwire's handle of a type OID (types it does not know travel as text).
pub(crate) fn pg_type(oid: u32) -> Type {
    Type::from_oid(oid).unwrap_or(Type::TEXT)
}

/// Encodes record batches as data rows in the formats of a row description.
pub(crate) struct RowEncoder {
    columns: Vec<(PgType, bool)>,
}

impl RowEncoder {
    pub fn new(schema: &Schema, fields: &[FieldInfo]) -> RowEncoder {
        let columns = schema
            .fields()
            .iter()
            .zip(fields)
            .map(|(field, info)| (pg_types::of_field(field), info.format() == FieldFormat::Binary))
            .collect();
        RowEncoder { columns }
    }

    /// The rows of `batch`.
    pub fn encode(&self, batch: &RecordBatch) -> Result<Vec<DataRow>, String> {
        let options = tarn_engine::display::format_options();
        let columns: Vec<Column<'_>> = batch
            .columns()
            .iter()
            .zip(&self.columns)
            .map(|(array, (pg, binary))| Column::new(array, *pg, *binary, &options))
            .collect::<Result<_, _>>()?;
        let mut rows = Vec::with_capacity(batch.num_rows());
        let mut buffer = BytesMut::with_capacity(64 * batch.num_rows().max(1));
        for row in 0..batch.num_rows() {
            for column in &columns {
                column.write(row, &mut buffer);
            }
            rows.push(DataRow::new(buffer.split(), columns.len() as i16));
        }
        Ok(rows)
    }
}

/// One column of a batch, ready to write values of.
struct Column<'a> {
    array: &'a ArrayRef,
    /// Which values are NULL (a NullArray's are, without a null buffer).
    nulls: Option<tarn_engine::arrow::buffer::NullBuffer>,
    pg: PgType,
    binary: bool,
    /// For values tarn writes through Arrow's display (lists, structs, ...).
    formatter: Option<ArrayFormatter<'a>>,
}

impl<'a> Column<'a> {
    fn new(
        array: &'a ArrayRef,
        pg: PgType,
        binary: bool,
        options: &'a tarn_engine::arrow::util::display::FormatOptions<'a>,
    ) -> Result<Column<'a>, String> {
        let formatter = if native(array.data_type()) {
            None
        } else {
            Some(ArrayFormatter::try_new(array.as_ref(), options).map_err(|e| e.to_string())?)
        };
        Ok(Column { array, nulls: array.logical_nulls(), pg, binary, formatter })
    }

    fn write(&self, row: usize, out: &mut BytesMut) {
        if self.nulls.as_ref().is_some_and(|n| n.is_null(row)) {
            out.put_i32(-1);
            return;
        }
        let start = out.len();
        out.put_i32(0);
        if let Some(formatter) = &self.formatter {
            use std::fmt::Write;
            let mut text = String::new();
            let _ = write!(text, "{}", formatter.value(row));
            out.put_slice(text.as_bytes());
        } else if self.binary {
            write_binary(self.array, row, self.pg, out);
        } else {
            write_text(self.array, row, out);
        }
        let length = (out.len() - start - 4) as i32;
        out[start..start + 4].copy_from_slice(&length.to_be_bytes());
    }
}

/// Integer types whose values [`int_value`] reads as an `i64`.
fn fits_i64(data_type: &DataType) -> bool {
    matches!(
        data_type,
        DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
    )
}

/// Types written here rather than through Arrow's display.
fn native(data_type: &DataType) -> bool {
    fits_i64(data_type)
        || matches!(
            data_type,
            DataType::Boolean
                | DataType::UInt64
                | DataType::Float16
                | DataType::Float32
                | DataType::Float64
                | DataType::Decimal128(..)
                | DataType::Decimal256(..)
                | DataType::Utf8
                | DataType::LargeUtf8
                | DataType::Utf8View
                | DataType::Binary
                | DataType::LargeBinary
                | DataType::BinaryView
                | DataType::Date32
                | DataType::Timestamp(..)
                | DataType::Time64(TimeUnit::Microsecond)
                | DataType::Time64(TimeUnit::Nanosecond)
                | DataType::Interval(IntervalUnit::MonthDayNano)
        )
}

fn int_value(array: &ArrayRef, row: usize) -> i64 {
    match array.data_type() {
        DataType::Int8 => array.as_primitive::<Int8Type>().value(row) as i64,
        DataType::Int16 => array.as_primitive::<Int16Type>().value(row) as i64,
        DataType::Int32 => array.as_primitive::<Int32Type>().value(row) as i64,
        DataType::Int64 => array.as_primitive::<Int64Type>().value(row),
        DataType::UInt8 => array.as_primitive::<UInt8Type>().value(row) as i64,
        DataType::UInt16 => array.as_primitive::<UInt16Type>().value(row) as i64,
        DataType::UInt32 => array.as_primitive::<UInt32Type>().value(row) as i64,
        // Callers check fits_i64 first.
        other => unreachable!("int_value of {other}"),
    }
}

fn float_value(array: &ArrayRef, row: usize) -> f64 {
    match array.data_type() {
        DataType::Float16 => array.as_primitive::<Float16Type>().value(row).to_f64(),
        DataType::Float32 => array.as_primitive::<Float32Type>().value(row) as f64,
        _ => array.as_primitive::<Float64Type>().value(row),
    }
}

/// Micros since 1970-01-01 (UTC) of a timestamp value.
fn timestamp_micros(array: &ArrayRef, row: usize) -> i64 {
    match array.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => array.as_primitive::<TimestampSecondType>().value(row) * 1_000_000,
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            array.as_primitive::<TimestampMillisecondType>().value(row) * 1_000
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => array.as_primitive::<TimestampMicrosecondType>().value(row),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            array.as_primitive::<TimestampNanosecondType>().value(row).div_euclid(1_000)
        }
        _ => 0,
    }
}

fn time_micros(array: &ArrayRef, row: usize) -> i64 {
    match array.data_type() {
        DataType::Time64(TimeUnit::Nanosecond) => array.as_primitive::<Time64NanosecondType>().value(row) / 1_000,
        _ => array.as_primitive::<Time64MicrosecondType>().value(row),
    }
}

fn bytes_value(array: &ArrayRef, row: usize) -> &[u8] {
    match array.data_type() {
        DataType::Utf8 => array.as_string::<i32>().value(row).as_bytes(),
        DataType::LargeUtf8 => array.as_string::<i64>().value(row).as_bytes(),
        DataType::Utf8View => array.as_string_view().value(row).as_bytes(),
        DataType::Binary => array.as_binary::<i32>().value(row),
        DataType::LargeBinary => array.as_binary::<i64>().value(row),
        DataType::BinaryView => array.as_binary_view().value(row),
        _ => &[],
    }
}

/// A decimal value as text with its scale's digits (`1.50`).
fn decimal_text(array: &ArrayRef, row: usize) -> String {
    match array.data_type() {
        DataType::Decimal128(_, scale) => {
            scaled_text(&array.as_primitive::<Decimal128Type>().value(row).to_string(), *scale)
        }
        DataType::Decimal256(_, scale) => {
            scaled_text(&array.as_primitive::<Decimal256Type>().value(row).to_string(), *scale)
        }
        DataType::UInt64 => array.as_primitive::<UInt64Type>().value(row).to_string(),
        _ => String::new(),
    }
}

/// `unscaled` (an integer's digits, maybe negative) with `scale` digits after the point.
fn scaled_text(unscaled: &str, scale: i8) -> String {
    let (sign, digits) = match unscaled.strip_prefix('-') {
        Some(digits) => ("-", digits),
        None => ("", unscaled),
    };
    if scale <= 0 {
        return format!("{sign}{digits}{}", "0".repeat((-scale) as usize));
    }
    let scale = scale as usize;
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (whole, fraction) = padded.split_at(padded.len() - scale);
    format!("{sign}{whole}.{fraction}")
}

/// A float as PostgreSQL shows it: the shortest exact digits, exponents from 1e15 (float8)
/// or 1e6 (float4) up and below 1e-4, `Infinity`, `NaN`.
pub(crate) fn float_text(value: f64, single: bool) -> String {
    if value.is_nan() {
        return "NaN".into();
    }
    if value.is_infinite() {
        return if value > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if value == 0.0 {
        return if value.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let exponent = value.abs().log10().floor() as i32;
    let limit = if single { 6 } else { 15 };
    if exponent < -4 || exponent >= limit {
        let text = if single { format!("{:e}", value as f32) } else { format!("{value:e}") };
        let (mantissa, exp) = text.split_once('e').unwrap_or((&text, "0"));
        let exp: i32 = exp.parse().unwrap_or(0);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else if single {
        format!("{}", value as f32)
    } else {
        format!("{value}")
    }
}

fn write_text(array: &ArrayRef, row: usize, out: &mut BytesMut) {
    use std::fmt::Write;
    let mut text = String::new();
    match array.data_type() {
        DataType::Boolean => text.push(if array.as_boolean().value(row) { 't' } else { 'f' }),
        data_type if fits_i64(data_type) => {
            let _ = write!(text, "{}", int_value(array, row));
        }
        DataType::Float16 | DataType::Float32 => text = float_text(float_value(array, row), true),
        DataType::Float64 => text = float_text(float_value(array, row), false),
        DataType::Decimal128(..) | DataType::Decimal256(..) | DataType::UInt64 => text = decimal_text(array, row),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            out.put_slice(bytes_value(array, row));
            return;
        }
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView => {
            text.push_str("\\x");
            for byte in bytes_value(array, row) {
                let _ = write!(text, "{byte:02x}");
            }
        }
        DataType::Date32 => {
            let days = array.as_primitive::<Date32Type>().value(row);
            text = date_text(days as i64);
        }
        DataType::Timestamp(_, zone) => {
            text = timestamp_text(timestamp_micros(array, row));
            if zone.is_some() {
                text.push_str("+00");
            }
        }
        DataType::Time64(_) => {
            let micros = time_micros(array, row);
            text = clock_text(micros);
        }
        DataType::Interval(IntervalUnit::MonthDayNano) => {
            let v = array.as_primitive::<IntervalMonthDayNanoType>().value(row);
            text = interval_text(v.months, v.days, v.nanoseconds / 1_000);
        }
        _ => {}
    }
    out.put_slice(text.as_bytes());
}

fn date_text(days_since_1970: i64) -> String {
    match chrono::NaiveDate::from_num_days_from_ce_opt((days_since_1970 + 719_163) as i32) {
        Some(date) if date.year_ce().0 => date.format("%Y-%m-%d").to_string(),
        Some(date) => format!("{:04}-{} BC", date.year_ce().1, date.format("%m-%d")),
        None => days_since_1970.to_string(),
    }
}

use chrono::Datelike;

/// `HH:MM:SS[.ffffff]` of micros since midnight (trailing zeros of the fraction dropped).
fn clock_text(micros: i64) -> String {
    let seconds = micros.div_euclid(1_000_000);
    let fraction = micros.rem_euclid(1_000_000);
    let mut text = format!("{:02}:{:02}:{:02}", seconds / 3600, seconds / 60 % 60, seconds % 60);
    if fraction != 0 {
        let digits = format!("{fraction:06}");
        text.push('.');
        text.push_str(digits.trim_end_matches('0'));
    }
    text
}

fn timestamp_text(micros: i64) -> String {
    let days = micros.div_euclid(86_400_000_000);
    let clock = micros.rem_euclid(86_400_000_000);
    format!("{} {}", date_text(days), clock_text(clock))
}

/// PostgreSQL's `postgres` interval style: `1 year 2 mons 3 days 04:05:06`.
fn interval_text(months: i32, days: i32, micros: i64) -> String {
    let mut parts = Vec::new();
    let (years, months) = (months / 12, months % 12);
    let unit = |n: i64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    if years != 0 {
        parts.push(unit(years as i64, "year", "years"));
    }
    if months != 0 {
        parts.push(unit(months as i64, "mon", "mons"));
    }
    if days != 0 {
        parts.push(unit(days as i64, "day", "days"));
    }
    if micros != 0 || parts.is_empty() {
        let sign = if micros < 0 { "-" } else { "" };
        parts.push(format!("{sign}{}", clock_text(micros.abs())));
    }
    parts.join(" ")
}

fn write_binary(array: &ArrayRef, row: usize, pg: PgType, out: &mut BytesMut) {
    match array.data_type() {
        DataType::Boolean => out.put_u8(array.as_boolean().value(row) as u8),
        data_type if fits_i64(data_type) => {
            let value = int_value(array, row);
            match pg.oid {
                pg_types::INT2 => out.put_i16(value as i16),
                pg_types::INT4 => out.put_i32(value as i32),
                _ => out.put_i64(value),
            }
        }
        DataType::Float16 | DataType::Float32 => out.put_f32(float_value(array, row) as f32),
        DataType::Float64 => out.put_f64(float_value(array, row)),
        DataType::Decimal128(..) | DataType::Decimal256(..) | DataType::UInt64 => {
            numeric_binary(&decimal_text(array, row), out)
        }
        DataType::Utf8
        | DataType::LargeUtf8
        | DataType::Utf8View
        | DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView => out.put_slice(bytes_value(array, row)),
        DataType::Date32 => out.put_i32((array.as_primitive::<Date32Type>().value(row) as i64 - PG_EPOCH_DAYS) as i32),
        DataType::Timestamp(..) => out.put_i64(timestamp_micros(array, row) - PG_EPOCH_MICROS),
        DataType::Time64(_) => out.put_i64(time_micros(array, row)),
        DataType::Interval(IntervalUnit::MonthDayNano) => {
            let v = array.as_primitive::<IntervalMonthDayNanoType>().value(row);
            out.put_i64(v.nanoseconds / 1_000);
            out.put_i32(v.days);
            out.put_i32(v.months);
        }
        _ => {}
    }
}

/// PostgreSQL's binary numeric of a decimal text (`-12.50`): base-10000 digits, weight,
/// sign and display scale.
pub(crate) fn numeric_binary(text: &str, out: &mut BytesMut) {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let scale = fraction.len() as i16;
    let whole = whole.trim_start_matches('0');
    // Whole digits padded on the left and fraction digits on the right to groups of four.
    let whole_padded = format!("{}{whole}", "0".repeat((4 - whole.len() % 4) % 4));
    let fraction_padded = format!("{fraction}{}", "0".repeat((4 - fraction.len() % 4) % 4));
    let group = |s: &str| -> Vec<i16> {
        s.as_bytes().chunks(4).map(|c| std::str::from_utf8(c).unwrap_or("0").parse().unwrap_or(0)).collect()
    };
    let mut groups = group(&whole_padded);
    let mut weight = groups.len() as i16 - 1;
    groups.extend(group(&fraction_padded));
    while groups.first() == Some(&0) {
        groups.remove(0);
        weight -= 1;
    }
    while groups.last() == Some(&0) {
        groups.pop();
    }
    if groups.is_empty() {
        weight = 0;
    }
    out.put_i16(groups.len() as i16);
    out.put_i16(weight);
    out.put_u16(if negative && !groups.is_empty() { 0x4000 } else { 0 });
    out.put_i16(scale);
    for g in groups {
        out.put_i16(g);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_look_like_postgresql() {
        assert_eq!(float_text(5.0, false), "5");
        assert_eq!(float_text(0.1, false), "0.1");
        assert_eq!(float_text(1e21, false), "1e+21");
        assert_eq!(float_text(1.5e-7, false), "1.5e-07");
        assert_eq!(float_text(123456.0, false), "123456");
        assert_eq!(float_text(1234567.0, true), "1.234567e+06");
        assert_eq!(float_text(f64::NEG_INFINITY, false), "-Infinity");
    }

    #[test]
    fn numerics_encode_as_postgresql_does() {
        let encode = |text: &str| {
            let mut out = BytesMut::new();
            numeric_binary(text, &mut out);
            out.to_vec()
        };
        // 12345.678: digits [1, 2345, 6780], weight 1, scale 3.
        assert_eq!(encode("12345.678"), [0, 3, 0, 1, 0, 0, 0, 3, 0, 1, 0x09, 0x29, 0x1a, 0x7c]);
        assert_eq!(encode("-0.05"), [0, 1, 0xff, 0xff, 0x40, 0, 0, 2, 0x01, 0xf4]);
        assert_eq!(encode("0.00"), [0, 0, 0, 0, 0, 0, 0, 2]);
        assert_eq!(scaled_text("-5", 2), "-0.05");
        assert_eq!(scaled_text("12345", 0), "12345");
    }

    #[test]
    fn dates_and_times_look_like_postgresql() {
        assert_eq!(date_text(0), "1970-01-01");
        assert_eq!(timestamp_text(1_500_000), "1970-01-01 00:00:01.5");
        assert_eq!(interval_text(14, 3, 3_600_000_000), "1 year 2 mons 3 days 01:00:00");
    }
}
