//! Reading delimited text and CSV records, and converting fields with Redshift's rules.

use std::io::BufRead;
use std::sync::Arc;

use chrono::{Datelike, NaiveDate, NaiveDateTime};
use datafusion::arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Decimal128Builder, Float32Builder, Float64Builder, Int16Builder,
    Int32Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder,
};
use tarn_catalog::{ColumnDef, SqlType};

use super::options::CopyOptions;
use crate::datefmt::{DateFormat, UNIX_EPOCH_DAYS_FROM_CE, auto_date, auto_timestamp, iso_date};

/// One input record: its raw text and its fields, kept in one reusable buffer.
#[derive(Debug, Default)]
pub struct Record {
    /// 1-based line where the record starts.
    pub line_number: u64,
    pub raw: String,
    /// The input held bytes that are not UTF-8 (and ACCEPTINVCHARS did not replace them).
    pub invalid_utf8: bool,
    text: String,
    bounds: Vec<Span>,
}

impl Record {
    /// Number of fields.
    pub fn len(&self) -> usize {
        self.bounds.len()
    }

    pub fn field(&self, index: usize) -> Option<&str> {
        self.bounds.get(index).map(|span| match *span {
            Span::Raw(start, end) => &self.raw[start..end],
            Span::Text(start, end) => &self.text[start..end],
        })
    }

    fn clear(&mut self) {
        self.raw.clear();
        self.invalid_utf8 = false;
        self.text.clear();
        self.bounds.clear();
    }

    fn push(&mut self, c: char) {
        self.text.push(c);
    }

    fn end_field(&mut self, start: &mut usize) {
        self.bounds.push(Span::Text(*start, self.text.len()));
        *start = self.text.len();
    }

    fn reset_fields(&mut self) {
        self.text.clear();
        self.bounds.clear();
    }
}

/// Where a field's text is: a run of the raw record (the common case, no copy), or of the
/// record's unquoted/unescaped text.
#[derive(Debug, Clone, Copy)]
enum Span {
    Raw(usize, usize),
    Text(usize, usize),
}

/// Reads records from text input, CSV or delimited.
pub struct RecordReader<R> {
    input: R,
    line: u64,
    delimiter: char,
    csv_quote: Option<char>,
    remove_quotes: bool,
    escape: bool,
    replacement: Option<char>,
    /// `NULL AS '\0'`: NUL bytes are data (a field of one is NULL).
    keep_nul: bool,
}

impl<R: BufRead> RecordReader<R> {
    /// A reader whose first line is line `first_line` of its file.
    pub fn new(input: R, options: &CopyOptions, first_line: u64) -> Self {
        RecordReader {
            input,
            line: first_line.saturating_sub(1),
            delimiter: options.field_delimiter(),
            csv_quote: options.csv_quote(),
            remove_quotes: options.remove_quotes,
            escape: options.escape,
            replacement: options.accept_inv_chars,
            keep_nul: options.null_as.as_deref() == Some("\0"),
        }
    }

    /// Appends the next line (without its line end) to the record's raw text, reading it
    /// straight into the record's buffer.
    fn read_line(&mut self, record: &mut Record) -> std::io::Result<bool> {
        let mut bytes = std::mem::take(&mut record.raw).into_bytes();
        let start = bytes.len();
        let read = self.input.read_until(b'\n', &mut bytes)?;
        if read > 0 {
            self.line += 1;
            while bytes.len() > start && matches!(bytes.last(), Some(b'\n' | b'\r')) {
                bytes.pop();
            }
        }
        record.raw = match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(invalid) => {
                // ACCEPTINVCHARS replaces each invalid byte; without it the record is rejected.
                let bytes = invalid.into_bytes();
                let replacement = self.replacement.unwrap_or(char::REPLACEMENT_CHARACTER);
                let mut text = String::with_capacity(bytes.len());
                for chunk in bytes.utf8_chunks() {
                    text.push_str(chunk.valid());
                    text.extend(std::iter::repeat_n(replacement, chunk.invalid().len()));
                }
                record.invalid_utf8 |= self.replacement.is_none();
                text
            }
        };
        // NUL is not text Redshift loads: ACCEPTINVCHARS replaces it, `NULL AS '\0'` reads a
        // field of it as NULL; otherwise the record is rejected.
        if !self.keep_nul && memchr::memchr(0, record.raw.as_bytes()).is_some() {
            match self.replacement {
                Some(replacement) => record.raw = record.raw.replace('\0', &replacement.to_string()),
                None => record.invalid_utf8 = true,
            }
        }
        Ok(read > 0)
    }

    /// Reads the next record into `record`; false at the end of the input.
    pub fn next_record(&mut self, record: &mut Record) -> std::io::Result<bool> {
        record.clear();
        if !self.read_line(record)? {
            return Ok(false);
        }
        record.line_number = self.line;
        match self.csv_quote {
            Some(quote) => {
                while !split_csv(record, self.delimiter, quote) {
                    // A quoted field goes on to the next line.
                    record.raw.push('\n');
                    if !self.read_line(record)? {
                        // Unterminated at the end of the input: close the quote.
                        record.raw.push(quote);
                        split_csv(record, self.delimiter, quote);
                        record.raw.pop();
                        break;
                    }
                }
            }
            None => {
                while self.escape && record.raw.ends_with('\\') && !record.raw.ends_with("\\\\") {
                    // An escaped newline continues the record.
                    record.raw.pop();
                    record.raw.push('\n');
                    if !self.read_line(record)? {
                        break;
                    }
                }
                split_text(record, self.delimiter, self.remove_quotes, self.escape);
            }
        }
        Ok(true)
    }
}

/// Splits a CSV record's raw text into its fields; false if a quoted field is still open at
/// the end. A quote opens or closes quoting anywhere in a field; inside quotes a doubled quote
/// is one quote. Delimiter and quote are ASCII (options are validated), so the text is cut at
/// byte offsets found with memchr and copied a run at a time.
fn split_csv(record: &mut Record, delimiter: char, quote: char) -> bool {
    record.reset_fields();
    let raw = std::mem::take(&mut record.raw);
    let bytes = raw.as_bytes();
    let (d, q) = (delimiter as u8, quote as u8);
    if memchr::memchr(q, bytes).is_none() {
        // No quote in the record (the common case): fields are the runs between delimiters,
        // found in one pass rather than one search per field.
        let mut from = 0;
        for at in memchr::memchr_iter(d, bytes) {
            record.bounds.push(Span::Raw(from, at));
            from = at + 1;
        }
        record.bounds.push(Span::Raw(from, bytes.len()));
        record.raw = raw;
        return true;
    }
    // The current field starts at `field` in `raw`; once it holds a quote its text is built
    // in `record.text` from `text_start` on.
    let (mut i, mut field, mut text_start) = (0, 0, 0);
    let (mut quoted, mut in_quotes) = (false, false);
    while i < bytes.len() {
        if in_quotes {
            match memchr::memchr(q, &bytes[i..]) {
                None => {
                    record.text.push_str(&raw[i..]);
                    i = bytes.len();
                }
                Some(at) => {
                    record.text.push_str(&raw[i..i + at]);
                    i += at + 1;
                    if bytes.get(i) == Some(&q) {
                        record.text.push(quote);
                        i += 1;
                    } else {
                        in_quotes = false;
                    }
                }
            }
            continue;
        }
        let Some(at) = memchr::memchr2(d, q, &bytes[i..]) else {
            if quoted {
                record.text.push_str(&raw[i..]);
            }
            break;
        };
        let pos = i + at;
        if bytes[pos] == q {
            if quoted {
                record.text.push_str(&raw[i..pos]);
            } else {
                text_start = record.text.len();
                record.text.push_str(&raw[field..pos]);
                quoted = true;
            }
            in_quotes = true;
        } else {
            if quoted {
                record.text.push_str(&raw[i..pos]);
                record.bounds.push(Span::Text(text_start, record.text.len()));
            } else {
                record.bounds.push(Span::Raw(field, pos));
            }
            quoted = false;
            field = pos + 1;
        }
        i = pos + 1;
    }
    let complete = !in_quotes;
    if complete {
        record.bounds.push(if quoted {
            Span::Text(text_start, record.text.len())
        } else {
            Span::Raw(field, bytes.len())
        });
    }
    record.raw = raw;
    complete
}

/// Splits a delimited-text record, honouring REMOVEQUOTES and ESCAPE.
fn split_text(record: &mut Record, delimiter: char, remove_quotes: bool, escape: bool) {
    record.reset_fields();
    let raw = std::mem::take(&mut record.raw);
    if !remove_quotes && !escape {
        // Plain delimited text: fields are the runs between delimiters (an ASCII byte).
        let mut from = 0;
        for at in memchr::memchr_iter(delimiter as u8, raw.as_bytes()) {
            record.bounds.push(Span::Raw(from, at));
            from = at + 1;
        }
        record.bounds.push(Span::Raw(from, raw.len()));
        record.raw = raw;
        return;
    }
    let mut start = 0;
    let mut chars = raw.chars();
    let mut in_quotes = false;
    let mut at_field_start = true;
    while let Some(c) = chars.next() {
        if escape && c == '\\' {
            match chars.next() {
                Some('n') => record.push('\n'),
                Some('t') => record.push('\t'),
                Some(other) => record.push(other),
                None => record.push('\\'),
            }
            at_field_start = false;
            continue;
        }
        if remove_quotes && c == '"' && (at_field_start || in_quotes) {
            in_quotes = !in_quotes;
            at_field_start = false;
            continue;
        }
        if c == delimiter && !in_quotes {
            record.end_field(&mut start);
            at_field_start = true;
            continue;
        }
        record.push(c);
        at_field_start = false;
    }
    record.raw = raw;
    record.end_field(&mut start);
}

/// The fields of a chunk of plain records, when it is one: valid UTF-8 without NUL bytes,
/// every record on one line with exactly `fields` fields, and (CSV) a quote only around a whole
/// field whose text has no quote or line end (`"ly final deposits, slyly"`). Then fields are the
/// runs between delimiters and line ends (a record's trailing `\r` dropped and a quoted field's
/// quotes left out, as the record reader does), found in one pass over the chunk; `spans` gets
/// each record's fields in order and the chunk's text is returned. `None` sends the chunk the
/// record-by-record way (which handles doubled quotes, records over several lines, and reports
/// bad records with their lines).
pub fn plain_records<'a>(
    bytes: &'a [u8],
    delimiter: u8,
    quote: Option<u8>,
    fields: usize,
    spans: &mut Vec<(u32, u32)>,
) -> Option<&'a str> {
    spans.clear();
    if bytes.len() > u32::MAX as usize {
        return None;
    }
    let text = std::str::from_utf8(bytes).ok()?;
    // Without a quote character the third needle repeats the line end.
    let q = quote.unwrap_or(b'\n');
    // The field being read starts at `start`; `open` is its opening quote while inside it,
    // `closed` its closing quote after it.
    let (mut start, mut in_record) = (0, 0);
    let (mut open, mut closed) = (false, None);
    // The current field, ending at `end` (a delimiter, a line end or the chunk's end).
    let field = |start: usize, closed: Option<usize>, mut end: usize, line_end: bool| -> Option<(u32, u32)> {
        while line_end && end > start && bytes[end - 1] == b'\r' {
            end -= 1;
        }
        match closed {
            None => Some((start as u32, end as u32)),
            Some(close) if close + 1 == end => Some((start as u32 + 1, close as u32)),
            Some(_) => None,
        }
    };
    // NUL is a needle too: a chunk holding one goes the record way.
    for at in super::scan::Matches::new(bytes, [delimiter, b'\n', q, 0]) {
        let byte = bytes[at];
        if byte == 0 {
            return None;
        }
        if open {
            match byte {
                b'\n' => return None,
                _ if byte == q => {
                    open = false;
                    closed = Some(at);
                }
                _ => {} // a delimiter inside quotes is text
            }
            continue;
        }
        if byte == b'\n' {
            in_record += 1;
            if in_record != fields {
                return None;
            }
            spans.push(field(start, closed.take(), at, true)?);
            in_record = 0;
        } else if byte == delimiter {
            in_record += 1;
            if in_record >= fields {
                return None;
            }
            spans.push(field(start, closed.take(), at, false)?);
        } else {
            // A quote opens a field's text only at the field's start, and only once.
            if at != start || closed.is_some() {
                return None;
            }
            open = true;
            continue;
        }
        start = at + 1;
    }
    if open {
        return None;
    }
    if start < bytes.len() || in_record > 0 {
        // The last record has no line end.
        if in_record + 1 != fields {
            return None;
        }
        spans.push(field(start, closed, bytes.len(), true)?);
    }
    Some(text)
}

/// A converted field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    Null,
    I16(i16),
    I32(i32),
    I64(i64),
    F32(f32),
    F64(f64),
    Decimal(i128),
    Bool(bool),
    Text(&'a str),
    Date(i32),
    Timestamp(i64),
}

/// An empty row reusing `row`'s allocation, whatever the lifetime of the text it held: one
/// buffer serves every record of a load instead of one allocation per row.
pub fn recycle<'b>(mut row: Vec<Value<'_>>) -> Vec<Value<'b>> {
    row.clear();
    // Collecting a vector's own iterator into a vector of a same-sized type reuses its memory.
    row.into_iter().map(|_| Value::Null).collect()
}

/// Why a field was rejected: Redshift's `stl_load_errors.err_code` and `err_reason`.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub code: i64,
    pub reason: String,
}

impl Rejection {
    pub fn new(code: i64, reason: impl Into<String>) -> Rejection {
        Rejection { code, reason: reason.into() }
    }
}

fn reject(code: i64, reason: impl Into<String>) -> Rejection {
    Rejection::new(code, reason)
}

/// Converts fields with the options' null, blank and format rules.
pub struct Converter {
    null_as: String,
    empty_as_null: bool,
    blanks_as_null: bool,
    trim_blanks: bool,
    truncate_columns: bool,
    date_format: Option<String>,
    time_format: Option<String>,
    accept_any_date: bool,
}

impl Converter {
    pub fn new(options: &CopyOptions) -> Result<Self, crate::Error> {
        let chrono_format = |f: &Option<String>| -> Result<Option<String>, crate::Error> {
            match f.as_deref() {
                None | Some("auto") | Some("epochsecs") | Some("epochmillisecs") => Ok(f.clone()),
                Some(pattern) => DateFormat::parse(pattern)?
                    .to_chrono()
                    .map(Some)
                    .ok_or_else(|| crate::Error::Unsupported(format!("datetime format '{pattern}' in COPY"))),
            }
        };
        Ok(Converter {
            null_as: options.null_as.clone().unwrap_or_else(|| "\\N".to_string()),
            empty_as_null: options.empty_as_null,
            blanks_as_null: options.blanks_as_null,
            trim_blanks: options.trim_blanks,
            truncate_columns: options.truncate_columns,
            date_format: chrono_format(&options.date_format)?,
            time_format: chrono_format(&options.time_format)?,
            accept_any_date: options.accept_any_date,
        })
    }

    pub fn convert<'a>(&self, raw: &'a str, column: &ColumnDef) -> Result<Value<'a>, Rejection> {
        let text = column.sql_type.max_length().is_some();
        let value = if self.trim_blanks && text { raw.trim() } else { raw };
        let is_null = value == self.null_as
            || (self.blanks_as_null && !value.is_empty() && value.trim().is_empty())
            || (value.is_empty() && (self.empty_as_null || !text));
        if is_null {
            return if column.nullable {
                Ok(Value::Null)
            } else {
                Err(reject(1213, "Missing data for not-null field"))
            };
        }
        let trimmed = trim(value);
        let digits = |kind: &str| reject(1207, format!("Invalid digit, Value '{trimmed}', Pos 0, Type: {kind}"));
        Ok(match column.sql_type {
            SqlType::SmallInt => Value::I16(trimmed.parse().map_err(|_| overflow_or(trimmed, digits("Short")))?),
            SqlType::Integer => Value::I32(trimmed.parse().map_err(|_| overflow_or(trimmed, digits("Integer")))?),
            SqlType::BigInt => Value::I64(trimmed.parse().map_err(|_| overflow_or(trimmed, digits("Long")))?),
            SqlType::Real => Value::F32(
                trimmed.parse().map_err(|_| reject(1208, format!("Invalid float value '{trimmed}', Type: Real")))?,
            ),
            SqlType::Double => Value::F64(
                trimmed.parse().map_err(|_| reject(1208, format!("Invalid float value '{trimmed}', Type: Double")))?,
            ),
            SqlType::Decimal { precision, scale } => Value::Decimal(parse_decimal(trimmed, precision, scale)?),
            SqlType::Boolean => Value::Bool(match trimmed.to_ascii_lowercase().as_str() {
                "t" | "true" | "1" | "y" | "yes" | "on" => true,
                "f" | "false" | "0" | "n" | "no" | "off" => false,
                _ => return Err(reject(1210, format!("Invalid boolean value '{trimmed}'"))),
            }),
            SqlType::Char(_) | SqlType::Varchar(_) | SqlType::Text => {
                let max = column.sql_type.max_length().unwrap_or(u32::MAX) as usize;
                if value.len() > max {
                    if !self.truncate_columns {
                        return Err(reject(1204, "String length exceeds DDL length"));
                    }
                    Value::Text(truncate(value, max))
                } else {
                    Value::Text(value)
                }
            }
            SqlType::Date => match self.parse_date(trimmed) {
                Some(d) => Value::Date(d.num_days_from_ce() - UNIX_EPOCH_DAYS_FROM_CE),
                None if self.accept_any_date => Value::Null,
                None => return Err(reject(1205, format!("Invalid Date Format - value '{trimmed}'"))),
            },
            SqlType::Timestamp | SqlType::TimestampTz => match self.parse_timestamp(trimmed) {
                Some(t) => Value::Timestamp(t),
                None if self.accept_any_date => Value::Null,
                None => return Err(reject(1206, format!("Invalid timestamp format or value '{trimmed}'"))),
            },
        })
    }

    fn parse_date(&self, value: &str) -> Option<NaiveDate> {
        match self.date_format.as_deref() {
            Some(f) if f != "auto" => NaiveDate::parse_from_str(value, f).ok(),
            _ => auto_date(value),
        }
    }

    /// Microseconds since the epoch, UTC.
    fn parse_timestamp(&self, value: &str) -> Option<i64> {
        match self.time_format.as_deref() {
            Some("epochsecs") => value.parse::<i64>().ok().and_then(|s| s.checked_mul(1_000_000)),
            Some("epochmillisecs") => value.parse::<i64>().ok().and_then(|s| s.checked_mul(1_000)),
            Some(f) if f != "auto" => {
                NaiveDateTime::parse_from_str(value, f).ok().map(|t| t.and_utc().timestamp_micros())
            }
            _ => auto_timestamp(value).or_else(|| {
                self.parse_date(value).map(|d| d.and_hms_opt(0, 0, 0).expect("midnight").and_utc().timestamp_micros())
            }),
        }
    }
}

/// The longest prefix of `value` of at most `max` bytes that ends on a character boundary.
pub fn truncate(value: &str, max: usize) -> &str {
    if value.len() <= max {
        return value;
    }
    let mut end = max;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    &value[..end]
}

/// `value` without surrounding whitespace; values without any (the usual case) are not scanned.
fn trim(value: &str) -> &str {
    match value.as_bytes() {
        [first, .., last] if first.is_ascii_graphic() && last.is_ascii_graphic() => value,
        [only] if only.is_ascii_graphic() => value,
        _ => value.trim(),
    }
}

/// An integer that parses as digits but does not fit is an overflow, not a bad digit.
fn overflow_or(value: &str, otherwise: Rejection) -> Rejection {
    let digits = value.strip_prefix(['-', '+']).unwrap_or(value);
    if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) {
        reject(1216, format!("Overflow, Value '{value}' is out of range for the column type"))
    } else {
        otherwise
    }
}

fn parse_decimal(value: &str, precision: u8, scale: i8) -> Result<i128, Rejection> {
    let bad = || reject(1209, format!("Invalid digit, Value '{value}', Type: Decimal"));
    let (negative, digits) = match value.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, value.strip_prefix('+').unwrap_or(value)),
    };
    let digits = digits.as_bytes();
    let (whole, fraction) = match memchr::memchr(b'.', digits) {
        Some(dot) => (&digits[..dot], &digits[dot + 1..]),
        None => (digits, &[][..]),
    };
    if whole.is_empty() && fraction.is_empty() || !all_digits(whole) || !all_digits(fraction) {
        return Err(bad());
    }
    let scale = scale.max(0) as usize;
    let kept = &fraction[..fraction.len().min(scale)];
    let overflow = || reject(1216, format!("Overflow, Value '{value}' does not fit numeric({precision},{scale})"));
    let mut unscaled: i128 = if whole.len() + scale <= 18 {
        // At most 18 digits once scaled: a 64-bit accumulator cannot overflow.
        let digits = whole.iter().chain(kept).fold(0u64, |n, &digit| n * 10 + u64::from(digit - b'0'));
        i128::from(digits * POW10_U64[scale - kept.len()])
    } else {
        let mut unscaled: i128 = 0;
        for &digit in whole.iter().chain(kept) {
            unscaled =
                unscaled.checked_mul(10).and_then(|u| u.checked_add(i128::from(digit - b'0'))).ok_or_else(overflow)?;
        }
        let factor = POW10.get(scale - kept.len()).ok_or_else(overflow)?;
        unscaled.checked_mul(*factor).ok_or_else(overflow)?
    };
    // Round half up on the first dropped digit, as Redshift does.
    if fraction.len() > scale && fraction[scale] >= b'5' {
        unscaled += 1;
    }
    if POW10.get(precision as usize).is_some_and(|limit| unscaled >= *limit) {
        return Err(overflow());
    }
    Ok(if negative { -unscaled } else { unscaled })
}

/// Powers of ten that fit an `i128` (10^0 to 10^38), and those that fit a `u64`.
const POW10: [i128; 39] = {
    let mut powers = [1i128; 39];
    let mut i = 1;
    while i < 39 {
        powers[i] = powers[i - 1] * 10;
        i += 1;
    }
    powers
};
const POW10_U64: [u64; 19] = {
    let mut powers = [1u64; 19];
    let mut i = 1;
    while i < 19 {
        powers[i] = powers[i - 1] * 10;
        i += 1;
    }
    powers
};

/// Bytes that are all ASCII digits (vacuously true when empty).
fn all_digits(bytes: &[u8]) -> bool {
    bytes.iter().all(u8::is_ascii_digit)
}

/// Appends each field's value: `fast`'s when it has one, else the converter's (`slow`, a
/// value of the column's type or NULL); false at the first rejected field.
fn extend_typed<'a, T>(
    fields: impl Iterator<Item = &'a str>,
    fast: impl Fn(&'a str) -> Option<T>,
    slow: impl Fn(&'a str) -> Result<Value<'a>, Rejection>,
    typed: impl Fn(Value<'a>) -> Option<T>,
    mut append: impl FnMut(Option<T>),
) -> bool {
    for raw in fields {
        match fast(raw) {
            Some(value) => append(Some(value)),
            None => match slow(raw) {
                Ok(value) => append(typed(value)),
                Err(_) => return false,
            },
        }
    }
    true
}

/// Arrow builders for one batch of a table's columns.
pub struct Builders {
    columns: Vec<Builder>,
    pub rows: usize,
}

enum Builder {
    I16(Int16Builder),
    I32(Int32Builder),
    I64(Int64Builder),
    F32(Float32Builder),
    F64(Float64Builder),
    Decimal(Decimal128Builder, u8, i8),
    Bool(BooleanBuilder),
    Text(StringBuilder),
    Date(Date32Builder),
    Timestamp(TimestampMicrosecondBuilder, bool),
}

impl Builder {
    fn push(&mut self, value: Value<'_>) {
        match (self, value) {
            (Builder::I16(b), Value::I16(v)) => b.append_value(v),
            (Builder::I32(b), Value::I32(v)) => b.append_value(v),
            (Builder::I64(b), Value::I64(v)) => b.append_value(v),
            (Builder::F32(b), Value::F32(v)) => b.append_value(v),
            (Builder::F64(b), Value::F64(v)) => b.append_value(v),
            (Builder::Decimal(b, ..), Value::Decimal(v)) => b.append_value(v),
            (Builder::Bool(b), Value::Bool(v)) => b.append_value(v),
            (Builder::Text(b), Value::Text(v)) => b.append_value(v),
            (Builder::Date(b), Value::Date(v)) => b.append_value(v),
            (Builder::Timestamp(b, _), Value::Timestamp(v)) => b.append_value(v),
            (builder, _) => builder.push_nulls(1),
        }
    }

    /// Converts one column's fields: a common field (not NULL, blank or padded) of a common type
    /// directly, any other through [`Converter::convert`] (the same result, by the same rules);
    /// false at the first rejected field.
    fn extend<'a>(&mut self, converter: &Converter, column: &ColumnDef, fields: impl Iterator<Item = &'a str>) -> bool {
        let slow = |raw: &'a str| converter.convert(raw, column);
        let common = |raw: &str| {
            let padded = match raw.as_bytes() {
                [first, .., last] => !first.is_ascii_graphic() || !last.is_ascii_graphic(),
                [only] => !only.is_ascii_graphic(),
                [] => true,
            };
            !padded && raw != converter.null_as
        };
        // One column's builder `b`: fields converted by `fast`, else by the rules to `Value::$kind`.
        macro_rules! typed {
            ($b:ident, $fast:expr, $kind:ident) => {
                extend_typed(
                    fields,
                    $fast,
                    slow,
                    |v| if let Value::$kind(v) = v { Some(v) } else { None },
                    |v| $b.append_option(v),
                )
            };
        }
        let number = |raw: &'a str| common(raw).then_some(raw);
        match self {
            Builder::I16(b) => typed!(b, |raw| number(raw).and_then(|r| r.parse().ok()), I16),
            Builder::I32(b) => typed!(b, |raw| number(raw).and_then(|r| r.parse().ok()), I32),
            Builder::I64(b) => typed!(b, |raw| number(raw).and_then(|r| r.parse().ok()), I64),
            Builder::Decimal(b, precision, scale) => {
                let (precision, scale) = (*precision, *scale);
                typed!(b, |raw| number(raw).and_then(|r| parse_decimal(r, precision, scale).ok()), Decimal)
            }
            Builder::Text(b) => {
                let max = column.sql_type.max_length().unwrap_or(u32::MAX) as usize;
                typed!(b, |raw: &'a str| (raw.len() <= max && common(raw)).then_some(raw), Text)
            }
            Builder::Date(b) => {
                let iso = converter.date_format.as_deref().is_none_or(|f| f == "auto");
                let days = |raw: &str| {
                    (iso && common(raw))
                        .then(|| iso_date(raw))
                        .flatten()
                        .map(|d| d.num_days_from_ce() - UNIX_EPOCH_DAYS_FROM_CE)
                };
                typed!(b, days, Date)
            }
            builder => {
                for raw in fields {
                    match slow(raw) {
                        Ok(value) => builder.push(value),
                        Err(_) => return false,
                    }
                }
                true
            }
        }
    }

    fn push_nulls(&mut self, n: usize) {
        match self {
            Builder::I16(b) => b.append_nulls(n),
            Builder::I32(b) => b.append_nulls(n),
            Builder::I64(b) => b.append_nulls(n),
            Builder::F32(b) => b.append_nulls(n),
            Builder::F64(b) => b.append_nulls(n),
            Builder::Decimal(b, ..) => b.append_nulls(n),
            Builder::Bool(b) => b.append_nulls(n),
            Builder::Text(b) => b.append_nulls(n),
            Builder::Date(b) => b.append_nulls(n),
            Builder::Timestamp(b, _) => b.append_nulls(n),
        }
    }
}

impl Builders {
    pub fn new(columns: &[ColumnDef]) -> Self {
        let columns = columns
            .iter()
            .map(|c| match c.sql_type {
                SqlType::SmallInt => Builder::I16(Int16Builder::new()),
                SqlType::Integer => Builder::I32(Int32Builder::new()),
                SqlType::BigInt => Builder::I64(Int64Builder::new()),
                SqlType::Real => Builder::F32(Float32Builder::new()),
                SqlType::Double => Builder::F64(Float64Builder::new()),
                SqlType::Decimal { precision, scale } => Builder::Decimal(Decimal128Builder::new(), precision, scale),
                SqlType::Boolean => Builder::Bool(BooleanBuilder::new()),
                SqlType::Char(_) | SqlType::Varchar(_) | SqlType::Text => Builder::Text(StringBuilder::new()),
                SqlType::Date => Builder::Date(Date32Builder::new()),
                SqlType::Timestamp => Builder::Timestamp(TimestampMicrosecondBuilder::new(), false),
                SqlType::TimestampTz => Builder::Timestamp(TimestampMicrosecondBuilder::new(), true),
            })
            .collect();
        Builders { columns, rows: 0 }
    }

    /// Appends one row of converted values (one per table column, in order).
    pub fn append(&mut self, row: &[Value<'_>]) {
        for (builder, &value) in self.columns.iter_mut().zip(row) {
            builder.push(value);
        }
        self.rows += 1;
    }

    /// Appends the records of a plain chunk (see [`plain_records`]: `spans` holds each record's
    /// `targets.len()` fields in order) converted column by column, a block of rows at a time
    /// (so that the block's text and spans stay in cache over its columns); false when the rules
    /// reject a field, and the builders then hold a partial batch to drop (the chunk goes the
    /// record path, which reports the rejection with its line).
    pub fn append_plain(
        &mut self,
        converter: &Converter,
        columns: &[ColumnDef],
        targets: &[usize],
        text: &str,
        spans: &[(u32, u32)],
    ) -> bool {
        const BLOCK_ROWS: usize = 2048;
        let fields = targets.len();
        for block in spans.chunks(BLOCK_ROWS * fields) {
            let rows = block.len() / fields;
            for (index, builder) in self.columns.iter_mut().enumerate() {
                let Some(position) = targets.iter().position(|&t| t == index) else {
                    builder.push_nulls(rows);
                    continue;
                };
                let values =
                    block[position..].iter().step_by(fields).map(|&(start, end)| &text[start as usize..end as usize]);
                if !builder.extend(converter, &columns[index], values) {
                    return false;
                }
            }
            self.rows += rows;
        }
        true
    }

    /// The rows appended so far, as arrays (the builders start over).
    pub fn finish(&mut self) -> Vec<ArrayRef> {
        self.rows = 0;
        self.columns
            .iter_mut()
            .map(|b| -> ArrayRef {
                match b {
                    Builder::I16(b) => Arc::new(b.finish()),
                    Builder::I32(b) => Arc::new(b.finish()),
                    Builder::I64(b) => Arc::new(b.finish()),
                    Builder::F32(b) => Arc::new(b.finish()),
                    Builder::F64(b) => Arc::new(b.finish()),
                    Builder::Decimal(b, p, s) => {
                        Arc::new(b.finish().with_precision_and_scale(*p, *s).expect("declared precision is valid"))
                    }
                    Builder::Bool(b) => Arc::new(b.finish()),
                    Builder::Text(b) => Arc::new(b.finish()),
                    Builder::Date(b) => Arc::new(b.finish()),
                    Builder::Timestamp(b, tz) => {
                        let array = b.finish();
                        if *tz { Arc::new(array.with_timezone("+00:00")) } else { Arc::new(array) }
                    }
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(raw: &str, split: impl Fn(&mut Record) -> bool) -> Option<Vec<String>> {
        let mut record = Record { raw: raw.to_string(), ..Record::default() };
        split(&mut record).then(|| (0..record.len()).map(|i| record.field(i).unwrap().to_string()).collect())
    }

    #[test]
    fn splits_csv_with_quotes_and_doubled_quotes() {
        let csv = |raw: &str| fields(raw, |r| split_csv(r, ',', '"'));
        assert_eq!(csv("1,\"a,b\",\"say \"\"hi\"\"\",").unwrap(), ["1", "a,b", "say \"hi\"", ""]);
        assert!(csv("1,\"open").is_none());
        assert_eq!(csv("ab\"c,d\"e,f").unwrap(), ["abc,de", "f"]);
        assert_eq!(csv(",,x").unwrap(), ["", "", "x"]);
    }

    #[test]
    fn splits_text_with_removequotes_and_escape() {
        let text = |raw: &str, remove_quotes, escape| {
            fields(raw, |r| {
                split_text(r, '|', remove_quotes, escape);
                true
            })
            .unwrap()
        };
        assert_eq!(text("\"a|b\"|c", true, false), ["a|b", "c"]);
        assert_eq!(text("a\\|b|c", false, true), ["a|b", "c"]);
        assert_eq!(text("x|\"y\"", false, false), ["x", "\"y\""]);
    }

    #[test]
    fn plain_chunks_split_into_fields_or_are_left_to_the_record_reader() {
        let plain = |bytes: &[u8], quote: Option<u8>, fields: usize| {
            let mut spans = Vec::new();
            let text = plain_records(bytes, b',', quote, fields, &mut spans)?;
            Some(spans.iter().map(|&(s, e)| text[s as usize..e as usize].to_string()).collect::<Vec<_>>())
        };
        assert_eq!(plain(b"1,a\n2,b\r\n3,", Some(b'"'), 2).unwrap(), ["1", "a", "2", "b", "3", ""]);
        assert_eq!(plain(b"1,a\n,\n", None, 2).unwrap(), ["1", "a", "", ""]);
        assert_eq!(plain(b"x\n\ny\n", None, 1).unwrap(), ["x", "", "y"]);
        // Quotes around a whole field (delimiters inside are text; a `\r` ends only a line).
        let quoted = plain(b"\"1\",\"a,b\"\r\n\"\",\"\"\n\r,\"c\"", Some(b'"'), 2).unwrap();
        assert_eq!(quoted, ["1", "a,b", "", "", "\r", "c"]);
        // Other quotes, a line end inside quotes, a record of too few or too many fields, NUL,
        // invalid UTF-8: record by record.
        for odd in [&b"1,\"a\"\"b\"\n"[..], b"1,a\"b\"\n", b"1,\"a\"b\n", b"1,\"a\nb\"\n", b"1,\"a", b"\"1\"\"\n"] {
            assert!(plain(odd, Some(b'"'), 2).is_none(), "{}", String::from_utf8_lossy(odd));
        }
        assert_eq!(plain(b"1,a\"b\"\n", None, 2).unwrap(), ["1", "a\"b\""]);
        assert!(plain(b"1,a\n2\n", None, 2).is_none());
        assert!(plain(b"1,a,b\n", None, 2).is_none());
        assert!(plain(b"1,a\n2", None, 2).is_none());
        assert!(plain(b"1,\0\n", None, 2).is_none());
        assert!(plain(b"1,\xff\n", None, 2).is_none());
    }

    #[test]
    fn column_conversion_matches_the_row_conversion() {
        let options = CopyOptions { null_as: Some("7".into()), trim_blanks: true, ..CopyOptions::default() };
        let converter = Converter::new(&options).unwrap();
        let cases: &[(SqlType, &[&str])] = &[
            (SqlType::SmallInt, &["1", " 2", "-3", "7", "", "+4"]),
            (SqlType::Integer, &["2147483647", "7 ", "", "-0"]),
            (SqlType::BigInt, &["9223372036854775807", "-1", "7", " 5 "]),
            (SqlType::Decimal { precision: 15, scale: 2 }, &["1.005", ".5", "7", " 3.1", "-12"]),
            (SqlType::Varchar(3), &["abc", " ab ", "", "7", "\\N", "é"]),
            (SqlType::Date, &["1996-03-13", " 1996-03-13", "19960313", "Jan 08 1999", "", "7"]),
            (SqlType::Boolean, &["t", "off", ""]),
        ];
        let column = |sql_type: &SqlType| ColumnDef {
            name: "c".into(),
            sql_type: *sql_type,
            nullable: true,
            default: None,
            primary_key: false,
            unique: None,
            comment: None,
        };
        for (sql_type, fields) in cases {
            let column = column(sql_type);
            let columns = std::slice::from_ref(&column);
            let mut by_column = Builders::new(columns);
            assert!(by_column.columns[0].extend(&converter, &column, fields.iter().copied()), "{sql_type:?}");
            let mut by_row = Builders::new(columns);
            for field in fields.iter() {
                by_row.append(&[converter.convert(field, &column).unwrap()]);
            }
            assert_eq!(by_column.finish()[0].as_ref(), by_row.finish()[0].as_ref(), "{sql_type:?}");
        }
        // A rejected field stops the column.
        let column = column(&SqlType::SmallInt);
        let mut builders = Builders::new(std::slice::from_ref(&column));
        assert!(!builders.columns[0].extend(&converter, &column, ["1", "99999"].into_iter()));
    }

    #[test]
    fn invalid_utf8_is_flagged_or_replaced() {
        let read = |options: &CopyOptions| {
            let mut reader = RecordReader::new(&b"a\xffb|c\n"[..], options, 1);
            let mut record = Record::default();
            assert!(reader.next_record(&mut record).unwrap());
            (record.field(0).unwrap().to_string(), record.invalid_utf8)
        };
        assert!(read(&CopyOptions::default()).1);
        let accepting = CopyOptions { accept_inv_chars: Some('?'), ..CopyOptions::default() };
        assert_eq!(read(&accepting), ("a?b".to_string(), false));
    }

    #[test]
    fn decimals_round_and_overflow() {
        assert_eq!(parse_decimal("12.345", 8, 2).unwrap(), 1235);
        assert_eq!(parse_decimal("-0.5", 3, 0).unwrap(), -1);
        assert_eq!(parse_decimal("999999.99", 8, 2).unwrap(), 99999999);
        assert_eq!(parse_decimal("1000000", 8, 2).unwrap_err().code, 1216);
        assert_eq!(parse_decimal("1.2.3", 8, 2).unwrap_err().code, 1209);
        // Past 18 digits the 128-bit path takes over, with the same rules.
        assert_eq!(parse_decimal("12345678901234567890.125", 38, 2).unwrap(), 1234567890123456789013);
        assert_eq!(parse_decimal("-99999999999999999.99", 19, 2).unwrap(), -9999999999999999999);
        assert_eq!(parse_decimal("100000000000000000", 19, 2).unwrap_err().code, 1216);
        assert_eq!(parse_decimal("1", 38, 38).unwrap_err().code, 1216);
        assert_eq!(parse_decimal("0.1", 38, 37).unwrap(), 10i128.pow(36));
    }
}
