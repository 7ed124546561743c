//! Data type formatting functions: TO_CHAR (datetimes and numbers), TO_DATE, TO_TIMESTAMP,
//! TO_NUMBER, TEXT_TO_INT_ALT, TEXT_TO_NUMERIC_ALT, with Redshift's (PostgreSQL's) format
//! strings. DataFusion's own `to_char`/`to_date`/`to_timestamp` take chrono `%Y` patterns and
//! are replaced.

use std::sync::Arc;

use chrono::DateTime;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, Decimal128Array, Int32Array, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::{ScalarValue, plan_err};
use datafusion::error::Result;
use datafusion::logical_expr::ScalarUDF;

use super::datetime::{date_of_micros, timestamps};
use super::{TIMESTAMP, Udf, arity, bool_arg, exec_error, is_text, timestamptz};
use crate::datefmt::DateFormat;

pub(super) fn udfs() -> Vec<ScalarUDF> {
    vec![
        Udf::new("to_char", to_char_coerce, |_| Ok(DataType::Utf8), to_char).build(),
        Udf::new(
            "to_date",
            read_coerce,
            |_| Ok(DataType::Date32),
            |args, _| {
                let out = read_datetimes("to_date", args)?;
                Ok(Arc::new(out.iter().map(|v| v.map(date_of_micros)).collect::<Date32Array>()))
            },
        )
        .build(),
        Udf::new("to_timestamp", to_timestamp_coerce, |_| Ok(timestamptz()), to_timestamp).build(),
        Udf::new("to_number", to_number_coerce, |_| Ok(DataType::Decimal128(38, 0)), to_number)
            .return_from_literals(|types, literals| {
                let scale = match literals.get(1) {
                    Some(Some(format)) => NumberFormat::parse(&scalar_string(format)?).map(|f| f.fraction_digits())?,
                    _ => return plan_err!("to_number: the format must be a constant"),
                };
                let _ = types;
                Ok(DataType::Decimal128(38, scale as i8))
            })
            .build(),
        Udf::new("text_to_int_alt", text_to_int_coerce, |_| Ok(DataType::Int32), text_to_int_alt).build(),
        Udf::new(
            "text_to_numeric_alt",
            text_to_numeric_coerce,
            |_| Ok(DataType::Decimal128(38, 0)),
            text_to_numeric_alt,
        )
        .return_from_literals(|types, literals| {
            let (precision, scale) = numeric_alt_precision(types.len(), literals)?;
            Ok(DataType::Decimal128(precision, scale))
        })
        .build(),
    ]
}

fn scalar_string(value: &ScalarValue) -> Result<String> {
    match value {
        ScalarValue::Utf8(Some(s)) | ScalarValue::Utf8View(Some(s)) | ScalarValue::LargeUtf8(Some(s)) => Ok(s.clone()),
        other => plan_err!("expected a text constant, not {other}"),
    }
}

fn scalar_int(value: &ScalarValue) -> Result<i64> {
    match value.cast_to(&DataType::Int64)? {
        ScalarValue::Int64(Some(v)) => Ok(v),
        other => plan_err!("expected an integer constant, not {other}"),
    }
}

// ---- TO_CHAR -----------------------------------------------------------------------------

fn to_char_coerce(name: &str, types: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, types, 2..=2)?;
    let value = match &types[0] {
        DataType::Timestamp(..) | DataType::Date32 | DataType::Date64 => TIMESTAMP,
        t if t.is_integer() || t.is_floating() => DataType::Float64,
        DataType::Decimal128(..) | DataType::Decimal256(..) => types[0].clone(),
        DataType::Null => DataType::Float64,
        t if is_text(t) => {
            return plan_err!("function to_char(text, text) does not exist: cast the text to a timestamp or a number");
        }
        other => return plan_err!("function to_char of {other} values does not exist"),
    };
    Ok(vec![value, DataType::Utf8])
}

fn to_char(args: &[ArrayRef], _rows: usize) -> Result<ArrayRef> {
    let formats = args[1].as_string::<i32>();
    let mut cache: Option<(String, Format)> = None;
    let mut format_of = |text: &str| -> Result<Format> {
        if let Some((t, f)) = &cache
            && t == text
        {
            return Ok(f.clone());
        }
        let compiled = match args[0].data_type() {
            DataType::Timestamp(..) => Format::Date(DateFormat::parse(text).map_err(|e| exec_error(e.to_string()))?),
            _ => Format::Number(NumberFormat::parse(text)?),
        };
        cache = Some((text.to_string(), compiled.clone()));
        Ok(compiled)
    };
    let out: StringArray = match args[0].data_type() {
        DataType::Timestamp(..) => {
            let values = timestamps(&args[0])?;
            (0..values.len())
                .map(|i| {
                    if values.is_null(i) || formats.is_null(i) {
                        return Ok(None);
                    }
                    let Format::Date(format) = format_of(formats.value(i))? else { unreachable!("a date format") };
                    let t = DateTime::from_timestamp_micros(values.value(i))
                        .ok_or_else(|| exec_error("timestamp out of range"))?
                        .naive_utc();
                    Ok(Some(format.format(&t)))
                })
                .collect::<Result<_>>()?
        }
        _ => {
            // Numbers as their exact decimal text (decimals keep their digits).
            let text = cast(&args[0], &DataType::Utf8)?;
            let text = text.as_string::<i32>();
            (0..text.len())
                .map(|i| {
                    if text.is_null(i) || formats.is_null(i) {
                        return Ok(None);
                    }
                    let Format::Number(format) = format_of(formats.value(i))? else { unreachable!("a number format") };
                    format.render(text.value(i)).map(Some)
                })
                .collect::<Result<_>>()?
        }
    };
    Ok(Arc::new(out))
}

#[derive(Debug, Clone)]
enum Format {
    Date(DateFormat),
    Number(NumberFormat),
}

// ---- TO_DATE, TO_TIMESTAMP ---------------------------------------------------------------

fn read_coerce(name: &str, types: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, types, 2..=3)?;
    let mut out = vec![DataType::Utf8, DataType::Utf8];
    if types.len() == 3 {
        out.push(bool_arg(name, &types[2])?);
    }
    Ok(out)
}

/// `TO_TIMESTAMP(text, format [, strict])`, and PostgreSQL's `TO_TIMESTAMP(epoch seconds)`.
fn to_timestamp_coerce(name: &str, types: &[DataType]) -> Result<Vec<DataType>> {
    match types {
        [t] if t.is_numeric() => Ok(vec![DataType::Float64]),
        [t] if is_text(t) => Ok(vec![DataType::Utf8]),
        [_] => plan_err!("function {name} expects a number of seconds or text"),
        _ => read_coerce(name, types),
    }
}

fn to_timestamp(args: &[ArrayRef], _rows: usize) -> Result<ArrayRef> {
    let out: TimestampMicrosecondArray = match args {
        [seconds] if seconds.data_type() == &DataType::Float64 => seconds
            .as_primitive::<datafusion::arrow::datatypes::Float64Type>()
            .iter()
            .map(|s| s.map(|s| (s * 1e6).round() as i64))
            .collect(),
        [text] => timestamps(text)?,
        _ => read_datetimes("to_timestamp", args)?,
    };
    Ok(Arc::new(out.with_timezone("+00:00")))
}

/// Text read with a format (and a strictness flag) into microseconds since the epoch.
fn read_datetimes(name: &str, args: &[ArrayRef]) -> Result<TimestampMicrosecondArray> {
    let (texts, formats) = (args[0].as_string::<i32>(), args[1].as_string::<i32>());
    let strict = args.get(2).map(|a| a.as_boolean().clone());
    let mut cache: Option<(String, DateFormat)> = None;
    (0..texts.len())
        .map(|i| {
            if texts.is_null(i) || formats.is_null(i) {
                return Ok(None);
            }
            let format = match &cache {
                Some((text, format)) if text == formats.value(i) => format.clone(),
                _ => {
                    let format = DateFormat::parse(formats.value(i)).map_err(|e| exec_error(format!("{name}: {e}")))?;
                    cache = Some((formats.value(i).to_string(), format.clone()));
                    format
                }
            };
            let strict = strict.as_ref().is_some_and(|s| !s.is_null(i) && s.value(i));
            let t = format.read(texts.value(i), strict).map_err(|e| exec_error(e.to_string()))?;
            Ok(Some(t.and_utc().timestamp_micros()))
        })
        .collect()
}

// ---- numeric format strings ----------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum NumItem {
    Digit {
        zero: bool,
    },
    Point,
    Group,
    /// `S`: the sign, anchored to the number.
    Sign,
    /// `MI`, `PL`, `SG`: a minus, a plus, or either, at this position.
    Minus,
    Plus,
    SignAlways,
    Currency,
    Ordinal {
        upper: bool,
    },
    Literal(String),
}

/// A compiled numeric format (`99G999D99S`, `FM9990.00`, `RN`, ...).
#[derive(Debug, Clone, PartialEq)]
struct NumberFormat {
    items: Vec<NumItem>,
    fill_mode: bool,
    angle_brackets: bool,
    roman: Option<bool>,
}

impl NumberFormat {
    fn parse(format: &str) -> Result<NumberFormat> {
        let mut items = Vec::new();
        let (mut fill_mode, mut angle_brackets, mut roman) = (false, false, None);
        let mut rest = format;
        let mut seen_point = false;
        while let Some(c) = rest.chars().next() {
            let upper = rest.to_ascii_uppercase();
            let (item, len) = if upper.starts_with("FM") {
                fill_mode = true;
                (None, 2)
            } else if upper.starts_with("PR") {
                angle_brackets = true;
                (None, 2)
            } else if upper.starts_with("RN") {
                roman = Some(rest.starts_with("RN"));
                (None, 2)
            } else if upper.starts_with("MI") {
                (Some(NumItem::Minus), 2)
            } else if upper.starts_with("PL") {
                (Some(NumItem::Plus), 2)
            } else if upper.starts_with("SG") {
                (Some(NumItem::SignAlways), 2)
            } else if upper.starts_with("TH") {
                (Some(NumItem::Ordinal { upper: rest.starts_with("TH") }), 2)
            } else {
                let item = match c {
                    '9' => NumItem::Digit { zero: false },
                    '0' => NumItem::Digit { zero: true },
                    '.' | 'D' | 'd' if !seen_point => {
                        seen_point = true;
                        NumItem::Point
                    }
                    '.' | 'D' | 'd' => return plan_err!("multiple decimal points in number format \"{format}\""),
                    ',' | 'G' | 'g' => NumItem::Group,
                    'S' | 's' => NumItem::Sign,
                    'L' | 'l' => NumItem::Currency,
                    other => NumItem::Literal(other.to_string()),
                };
                (Some(item), c.len_utf8())
            };
            items.extend(item);
            rest = &rest[len..];
        }
        Ok(NumberFormat { items, fill_mode, angle_brackets, roman })
    }

    fn fraction_digits(&self) -> usize {
        let point = self.items.iter().position(|i| *i == NumItem::Point);
        match point {
            Some(p) => self.items[p..].iter().filter(|i| matches!(i, NumItem::Digit { .. })).count(),
            None => 0,
        }
    }

    fn integer_digits(&self) -> usize {
        let point = self.items.iter().position(|i| *i == NumItem::Point).unwrap_or(self.items.len());
        self.items[..point].iter().filter(|i| matches!(i, NumItem::Digit { .. })).count()
    }

    /// Renders a number given as decimal text (`-125.8`, `1e3`).
    fn render(&self, text: &str) -> Result<String> {
        let value: f64 = text.trim().parse().map_err(|_| exec_error(format!("invalid number \"{text}\"")))?;
        if let Some(upper) = self.roman {
            let roman = roman_numeral(value.round() as i64)?;
            let roman = if upper { roman } else { roman.to_lowercase() };
            return Ok(if self.fill_mode { roman } else { format!("{roman:>15}") });
        }
        let negative = value < 0.0;
        let fraction = self.fraction_digits();
        let rounded = round_decimal_text(text.trim().trim_start_matches(['-', '+']), fraction)?;
        let (int_part, frac_part) = rounded.split_once('.').unwrap_or((&rounded, ""));
        let int_part = int_part.trim_start_matches('0');
        let int_slots = self.integer_digits();
        let overflow = int_part.len() > int_slots;
        let explicit_sign = self
            .items
            .iter()
            .any(|i| matches!(i, NumItem::Sign | NumItem::Minus | NumItem::Plus | NumItem::SignAlways));
        // What goes right before the first digit: the sign (or `<` of PR).
        let mut anchored = if self.angle_brackets {
            Some(if negative {
                "<"
            } else if self.fill_mode {
                ""
            } else {
                " "
            })
        } else if explicit_sign {
            None
        } else {
            Some(if negative {
                "-"
            } else if self.fill_mode {
                ""
            } else {
                " "
            })
        };
        let sign_first = match (
            self.items.iter().position(|i| *i == NumItem::Sign),
            self.items.iter().position(|i| matches!(i, NumItem::Digit { .. })),
        ) {
            (Some(sign), Some(digit)) => sign < digit,
            (Some(_), None) => true,
            _ => false,
        };
        let mut out = String::new();
        let mut int_index = 0usize; // integer digit slots seen
        let mut frac_index = 0usize;
        // In fill mode, trailing zeros stop at the last nonzero digit or `0` slot.
        let frac_slots: Vec<bool> = {
            let point = self.items.iter().position(|i| *i == NumItem::Point).unwrap_or(self.items.len());
            self.items[point..]
                .iter()
                .filter_map(|i| match i {
                    NumItem::Digit { zero } => Some(*zero),
                    _ => None,
                })
                .collect()
        };
        let frac_needed = if self.fill_mode {
            let last_digit = frac_part.trim_end_matches('0').len();
            let last_zero_slot = frac_slots.iter().rposition(|z| *z).map_or(0, |p| p + 1);
            last_digit.max(last_zero_slot)
        } else {
            frac_slots.len()
        };
        let mut after_point = false;
        let mut printed_digit = false;
        let flush_anchor = |out: &mut String, anchored: &mut Option<&str>| {
            if let Some(a) = anchored.take() {
                out.push_str(a);
            }
        };
        let mut pending_sign = sign_first.then_some(if negative { "-" } else { "+" });
        for item in &self.items {
            match item {
                NumItem::Digit { zero } if !after_point => {
                    let lead = int_slots - int_part.len().min(int_slots);
                    let digit = if overflow {
                        Some('#')
                    } else if int_index >= lead {
                        int_part.chars().nth(int_index - lead)
                    } else if *zero {
                        Some('0')
                    } else {
                        None
                    };
                    int_index += 1;
                    match digit {
                        Some(d) => {
                            if let Some(s) = pending_sign.take() {
                                out.push_str(s);
                            }
                            flush_anchor(&mut out, &mut anchored);
                            out.push(d);
                            printed_digit = true;
                        }
                        None if !self.fill_mode => out.push(' '),
                        None => {}
                    }
                }
                NumItem::Digit { .. } => {
                    if frac_index < frac_needed {
                        out.push(if overflow { '#' } else { frac_part.chars().nth(frac_index).unwrap_or('0') });
                    }
                    frac_index += 1;
                }
                NumItem::Point => {
                    if let Some(s) = pending_sign.take() {
                        out.push_str(s);
                    }
                    flush_anchor(&mut out, &mut anchored);
                    out.push('.');
                    after_point = true;
                }
                NumItem::Group => {
                    if printed_digit {
                        out.push(',');
                    } else if !self.fill_mode {
                        out.push(' ');
                    }
                }
                NumItem::Sign if sign_first => {}
                NumItem::Sign => out.push(if negative { '-' } else { '+' }),
                NumItem::Minus => out.push(if negative { '-' } else { ' ' }),
                NumItem::Plus => out.push(if negative { ' ' } else { '+' }),
                NumItem::SignAlways => out.push(if negative { '-' } else { '+' }),
                NumItem::Currency => out.push('$'),
                NumItem::Ordinal { upper } => {
                    if !negative && frac_part.is_empty() {
                        let suffix = ordinal_suffix(int_part);
                        out.push_str(&if *upper { suffix.to_uppercase() } else { suffix.to_string() });
                    }
                }
                NumItem::Literal(text) => out.push_str(text),
            }
        }
        if let Some(s) = pending_sign.take() {
            out.push_str(s);
        }
        flush_anchor(&mut out, &mut anchored);
        if self.angle_brackets {
            out.push(if negative {
                '>'
            } else if self.fill_mode {
                '\0'
            } else {
                ' '
            });
            out.retain(|c| c != '\0');
        }
        Ok(out)
    }
}

fn ordinal_suffix(digits: &str) -> &'static str {
    let n: u64 = digits.parse().unwrap_or(0);
    match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    }
}

fn roman_numeral(mut n: i64) -> Result<String> {
    if !(1..=3999).contains(&n) {
        return Ok("###############".to_string());
    }
    let table = [
        (1000, "M"),
        (900, "CM"),
        (500, "D"),
        (400, "CD"),
        (100, "C"),
        (90, "XC"),
        (50, "L"),
        (40, "XL"),
        (10, "X"),
        (9, "IX"),
        (5, "V"),
        (4, "IV"),
        (1, "I"),
    ];
    let mut out = String::new();
    for (value, numeral) in table {
        while n >= value {
            out.push_str(numeral);
            n -= value;
        }
    }
    Ok(out)
}

/// Unsigned decimal text rounded (half away from zero) to `places` fraction digits.
fn round_decimal_text(text: &str, places: usize) -> Result<String> {
    let invalid = || exec_error(format!("invalid number \"{text}\""));
    let plain = if text.contains(['e', 'E']) {
        let v: f64 = text.parse().map_err(|_| invalid())?;
        format!("{v:.places$}")
    } else {
        text.to_string()
    };
    let (int_part, frac_part) = plain.split_once('.').unwrap_or((&plain, ""));
    if !int_part.chars().chain(frac_part.chars()).all(|c| c.is_ascii_digit()) {
        return Err(invalid());
    }
    let mut digits: Vec<u8> =
        int_part.bytes().chain(frac_part.bytes().chain(std::iter::repeat(b'0')).take(places)).collect();
    if frac_part.as_bytes().get(places).is_some_and(|d| *d >= b'5') {
        // Carry the rounding up through the digits.
        let mut i = digits.len();
        loop {
            if i == 0 {
                digits.insert(0, b'1');
                break;
            }
            i -= 1;
            if digits[i] == b'9' {
                digits[i] = b'0';
            } else {
                digits[i] += 1;
                break;
            }
        }
    }
    let split = digits.len() - places;
    let int_digits = String::from_utf8_lossy(&digits[..split]).to_string();
    let int_digits = if int_digits.is_empty() { "0".to_string() } else { int_digits };
    Ok(if places == 0 { int_digits } else { format!("{int_digits}.{}", String::from_utf8_lossy(&digits[split..])) })
}

// ---- TO_NUMBER -----------------------------------------------------------------------------

fn to_number_coerce(name: &str, types: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, types, 2..=2)?;
    Ok(vec![DataType::Utf8, DataType::Utf8])
}

fn to_number(args: &[ArrayRef], _rows: usize) -> Result<ArrayRef> {
    let (texts, formats) = (args[0].as_string::<i32>(), args[1].as_string::<i32>());
    let scale = match (0..formats.len()).find(|i| !formats.is_null(*i)) {
        Some(i) => NumberFormat::parse(formats.value(i))?.fraction_digits(),
        None => 0,
    };
    let out = (0..texts.len())
        .map(|i| {
            if texts.is_null(i) || formats.is_null(i) {
                return Ok(None);
            }
            let text = texts.value(i);
            let negative = text.contains('-') || (text.contains('<') && text.contains('>'));
            let kept: String = text.chars().filter(|c| c.is_ascii_digit() || *c == '.').collect();
            let junk = text.chars().any(|c| !(c.is_ascii_digit() || ".,-+<>$ ".contains(c)));
            if kept.is_empty() || junk || kept.matches('.').count() > 1 {
                return Err(exec_error(format!("invalid input syntax for type numeric: \"{text}\"")));
            }
            let rounded = round_decimal_text(&kept, scale)?;
            let unscaled: i128 = rounded
                .replace('.', "")
                .parse()
                .map_err(|_| exec_error(format!("numeric value out of range: \"{text}\"")))?;
            Ok(Some(if negative { -unscaled } else { unscaled }))
        })
        .collect::<Result<Decimal128Array>>()?;
    Ok(Arc::new(out.with_precision_and_scale(38, scale as i8)?))
}

// ---- TEXT_TO_INT_ALT, TEXT_TO_NUMERIC_ALT ----------------------------------------------------

/// A Teradata-style number: blanks around it, a sign before or after it, an exponent.
/// Blank text is zero. Returns the value as (negative, unsigned decimal text).
fn teradata_number(text: &str) -> Result<(bool, String)> {
    let invalid = || exec_error(format!("invalid input syntax for a number: \"{text}\""));
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Ok((false, "0".into()));
    }
    let (negative, body) = if let Some(b) = trimmed.strip_suffix('-') {
        (true, b.trim_end())
    } else if let Some(b) = trimmed.strip_suffix('+') {
        (false, b.trim_end())
    } else if let Some(b) = trimmed.strip_prefix('-') {
        (true, b.trim_start())
    } else {
        (false, trimmed.strip_prefix('+').unwrap_or(trimmed).trim_start())
    };
    let (mantissa, exponent) = match body.split_once(['e', 'E']) {
        Some((m, e)) => (m, e.parse::<i32>().map_err(|_| invalid())?),
        None => (body, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int_part.is_empty() && frac_part.is_empty()
        || !int_part.chars().chain(frac_part.chars()).all(|c| c.is_ascii_digit())
    {
        return Err(invalid());
    }
    // Shift the decimal point by the exponent.
    let digits = format!("{int_part}{frac_part}");
    let point = int_part.len() as i64 + exponent as i64;
    let text = if point <= 0 {
        format!("0.{}{digits}", "0".repeat((-point) as usize))
    } else if point as usize >= digits.len() {
        format!("{digits}{}", "0".repeat(point as usize - digits.len()))
    } else {
        format!("{}.{}", &digits[..point as usize], &digits[point as usize..])
    };
    Ok((negative, text))
}

fn text_to_int_coerce(name: &str, types: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, types, 1..=2)?;
    if types.len() == 2 {
        return plan_err!("not supported yet: {name} with a Teradata format argument (the number is read without one)");
    }
    Ok(vec![DataType::Utf8])
}

fn text_to_int_alt(args: &[ArrayRef], _rows: usize) -> Result<ArrayRef> {
    let texts = args[0].as_string::<i32>();
    let out = texts
        .iter()
        .map(|t| {
            let Some(t) = t else { return Ok(None) };
            let (negative, text) = teradata_number(t)?;
            let whole = text.split('.').next().unwrap_or("0");
            let value: i64 = whole.parse().map_err(|_| exec_error(format!("integer out of range: \"{t}\"")))?;
            let value = if negative { -value } else { value };
            i32::try_from(value).map(Some).map_err(|_| exec_error(format!("integer out of range: \"{t}\"")))
        })
        .collect::<Result<Int32Array>>()?;
    Ok(Arc::new(out))
}

/// `(expr)`, `(expr, format)`, `(expr, precision, scale)` or `(expr, format, precision, scale)`.
fn text_to_numeric_coerce(name: &str, types: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, types, 1..=4)?;
    if types.len() == 2 || types.len() == 4 {
        return plan_err!("not supported yet: {name} with a Teradata format argument (the number is read without one)");
    }
    let mut out = vec![DataType::Utf8];
    out.extend(types[1..].iter().map(|_| DataType::Int64));
    Ok(out)
}

fn numeric_alt_precision(args: usize, literals: &[Option<&ScalarValue>]) -> Result<(u8, i8)> {
    if args < 3 {
        return Ok((38, 0));
    }
    let (Some(Some(p)), Some(Some(s))) = (literals.get(args - 2), literals.get(args - 1)) else {
        return plan_err!("text_to_numeric_alt: precision and scale must be constants");
    };
    let (p, s) = (scalar_int(p)?, scalar_int(s)?);
    if !(1..=38).contains(&p) || !(0..=p).contains(&s) {
        return plan_err!("text_to_numeric_alt: invalid precision {p} and scale {s}");
    }
    Ok((p as u8, s as i8))
}

/// Rounds half to even, as Redshift documents for TEXT_TO_NUMERIC_ALT.
fn text_to_numeric_alt(args: &[ArrayRef], _rows: usize) -> Result<ArrayRef> {
    let (precision, scale) = if args.len() >= 3 {
        let p = args[args.len() - 2].as_primitive::<datafusion::arrow::datatypes::Int64Type>();
        let s = args[args.len() - 1].as_primitive::<datafusion::arrow::datatypes::Int64Type>();
        (p.value(0) as u8, s.value(0) as i8)
    } else {
        (38, 0)
    };
    let texts = args[0].as_string::<i32>();
    let limit = 10i128.pow(precision as u32);
    let out = texts
        .iter()
        .map(|t| {
            let Some(t) = t else { return Ok(None) };
            let (negative, text) = teradata_number(t)?;
            let (int_part, frac_part) = text.split_once('.').unwrap_or((&text, ""));
            let places = scale as usize;
            let kept: String =
                int_part.chars().chain(frac_part.chars().chain(std::iter::repeat('0')).take(places)).collect();
            let mut value: i128 =
                kept.parse().map_err(|_| exec_error(format!("numeric value out of range: \"{t}\"")))?;
            let dropped = frac_part.get(places..).unwrap_or("");
            let first = dropped.chars().next().unwrap_or('0');
            let rest_nonzero = dropped.chars().skip(1).any(|c| c != '0');
            if first > '5' || (first == '5' && (rest_nonzero || value % 2 == 1)) {
                value += 1;
            }
            if value >= limit {
                return Err(exec_error(format!("numeric value \"{t}\" does not fit NUMERIC({precision},{scale})")));
            }
            Ok(Some(if negative { -value } else { value }))
        })
        .collect::<Result<Decimal128Array>>()?;
    Ok(Arc::new(out.with_precision_and_scale(precision, scale)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(value: &str, format: &str) -> String {
        NumberFormat::parse(format).unwrap().render(value).unwrap()
    }

    #[test]
    fn numbers_render_as_redshift_documents() {
        assert_eq!(number("-125.8", "999D99S"), "125.80-");
        assert_eq!(number("-125.88", "$S999D99"), "$-125.88");
        assert_eq!(number("-125.88", "$999D99PR"), "$<125.88>");
        assert_eq!(number("125", "RN").trim(), "CXXV");
        assert_eq!(number("125.8", "999D99"), " 125.80");
        assert_eq!(number("0.5", "9.9"), "  .5");
        assert_eq!(number("12454.8", "99G999D9"), " 12,454.8");
        assert_eq!(number("485", "FM999"), "485");
        assert_eq!(number("12345", "999"), " ###");
        assert_eq!(number("3", "FM9TH"), "3RD");
    }

    #[test]
    fn teradata_numbers() {
        assert_eq!(teradata_number("123-").unwrap(), (true, "123".into()));
        assert_eq!(teradata_number("-123E-2").unwrap(), (true, "1.23".into()));
        assert_eq!(teradata_number("  ").unwrap(), (false, "0".into()));
        assert!(teradata_number("12a").is_err());
    }
}
