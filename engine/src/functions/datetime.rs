//! Date and time functions (Redshift's "Date and time functions" chapter): DATEADD, DATEDIFF,
//! DATE_PART, EXTRACT, DATE_TRUNC, ADD_MONTHS, MONTHS_BETWEEN, LAST_DAY, NEXT_DAY,
//! CONVERT_TIMEZONE, the *_CMP family, GETDATE, SYSDATE, TIMEOFDAY, and their datepart names.

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use chrono::{
    DateTime, Datelike, Duration, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone, Timelike,
};
use chrono_tz::Tz;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, Float64Array, Int32Array, Int64Array, StringArray, Time64MicrosecondArray,
    TimestampMicrosecondArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{
    DataType, Date32Type, IntervalMonthDayNanoType, IntervalUnit, Time64MicrosecondType, TimeUnit,
    TimestampMicrosecondType,
};
use datafusion::common::{ScalarValue, plan_err};
use datafusion::error::Result;
use datafusion::logical_expr::simplify::ExprSimplifyResult;
use datafusion::logical_expr::{Expr, ScalarUDF, Volatility, lit};

use super::{TIMESTAMP, Udf, arity, exec_error, int_arg, is_text, text_arg, timestamptz};
use crate::datefmt::{UNIX_EPOCH_DAYS_FROM_CE, auto_date_or_timestamp};

const MICROS_PER_SECOND: i64 = 1_000_000;
const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SECOND;

/// When the session's current transaction began, in microseconds since the epoch (UTC):
/// Redshift's SYSDATE and CURRENT_DATE are the transaction's start.
#[derive(Debug, Default)]
pub(crate) struct TransactionClock {
    started: AtomicI64,
}

impl TransactionClock {
    pub fn start_now(&self) {
        self.started.store(chrono::Utc::now().timestamp_micros(), Ordering::Relaxed);
    }

    fn micros(&self) -> i64 {
        match self.started.load(Ordering::Relaxed) {
            0 => chrono::Utc::now().timestamp_micros(),
            t => t,
        }
    }
}

/// A part of a date or time, as DATEADD, DATEDIFF, DATE_PART, EXTRACT and DATE_TRUNC name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DatePart {
    Millennium,
    Century,
    Decade,
    Epoch,
    Year,
    IsoYear,
    Quarter,
    Month,
    Week,
    DayOfWeek,
    IsoDayOfWeek,
    DayOfYear,
    Day,
    Hour,
    Minute,
    Second,
    Millisecond,
    Microsecond,
    Timezone,
    TimezoneHour,
    TimezoneMinute,
}

impl DatePart {
    /// Redshift's names and abbreviations of dateparts (case-insensitive).
    pub fn parse(text: &str) -> Option<DatePart> {
        use DatePart::*;
        Some(match text.trim().to_ascii_lowercase().as_str() {
            "millennium" | "millennia" | "mil" | "mils" | "millenniums" => Millennium,
            "century" | "centuries" | "c" | "cent" | "cents" => Century,
            "decade" | "decades" | "dec" | "decs" => Decade,
            "epoch" => Epoch,
            "year" | "years" | "y" | "yr" | "yrs" => Year,
            "isoyear" => IsoYear,
            "quarter" | "quarters" | "qtr" | "qtrs" => Quarter,
            "month" | "months" | "mon" | "mons" => Month,
            "week" | "weeks" | "w" => Week,
            "dayofweek" | "dow" | "dw" | "weekday" => DayOfWeek,
            "isodow" => IsoDayOfWeek,
            "dayofyear" | "doy" | "dy" | "yearday" => DayOfYear,
            "day" | "days" | "d" => Day,
            "hour" | "hours" | "h" | "hr" | "hrs" => Hour,
            "minute" | "minutes" | "m" | "min" | "mins" => Minute,
            "second" | "seconds" | "s" | "sec" | "secs" => Second,
            "millisecond" | "milliseconds" | "ms" | "msec" | "msecs" | "msecond" | "mseconds" | "millisec"
            | "millisecs" | "millisecon" => Millisecond,
            "microsecond" | "microseconds" | "microsec" | "microsecs" | "usecond" | "useconds" | "us" | "usec"
            | "usecs" => Microsecond,
            "timezone" => Timezone,
            "timezone_hour" => TimezoneHour,
            "timezone_minute" => TimezoneMinute,
            _ => return None,
        })
    }

    fn parse_or_error(function: &str, text: &str) -> Result<DatePart> {
        DatePart::parse(text).ok_or_else(|| {
            exec_error(format!("{function}: \"{text}\" is not a datepart (year, month, day, hour, ...)"))
        })
    }
}

pub(super) fn udfs(clock: Arc<TransactionClock>) -> Vec<ScalarUDF> {
    vec![
        Udf::new("dateadd", dateadd_coerce, dateadd_type, dateadd).aliases(&["date_add"]).build(),
        Udf::new("datediff", datediff_coerce, |_| Ok(DataType::Int64), datediff).aliases(&["date_diff"]).build(),
        Udf::new("date_part", part_coerce, |_| Ok(DataType::Float64), |a, _| date_part(a, false))
            .aliases(&["pgdate_part", "datepart"])
            .build(),
        Udf::new("redshift_extract", part_coerce, extract_type, |a, _| date_part(a, true)).build(),
        Udf::new("date_trunc", part_coerce, date_trunc_type, date_trunc).build(),
        Udf::new(
            "date_part_year",
            one_timestamp,
            |_| Ok(DataType::Int32),
            |a, _| Ok(Arc::new(map_dates(&a[0])?.iter().map(|d| d.map(|d| d.year())).collect::<Int32Array>())),
        )
        .build(),
        Udf::new("add_months", add_months_coerce, |_| Ok(TIMESTAMP), add_months).build(),
        Udf::new(
            "last_day",
            one_timestamp,
            |_| Ok(DataType::Date32),
            |a, _| {
                Ok(Arc::new(
                    map_dates(&a[0])?.iter().map(|d| d.map(|d| days_of(last_of_month(d)))).collect::<Date32Array>(),
                ))
            },
        )
        .build(),
        Udf::new("months_between", two_timestamps, |_| Ok(DataType::Float64), months_between).build(),
        Udf::new("next_day", next_day_coerce, |_| Ok(DataType::Date32), next_day).build(),
        Udf::new("convert_timezone", convert_timezone_coerce, |_| Ok(TIMESTAMP), convert_timezone).build(),
        Udf::new("timezone", timezone_coerce, timezone_type, timezone).build(),
        cmp("date_cmp"),
        cmp("date_cmp_timestamp"),
        cmp("date_cmp_timestamptz"),
        cmp("timestamp_cmp"),
        cmp("timestamp_cmp_date"),
        cmp("timestamp_cmp_timestamptz"),
        cmp("timestamptz_cmp"),
        cmp("timestamptz_cmp_date"),
        cmp("timestamptz_cmp_timestamp"),
        Udf::new("interval_cmp", interval_coerce, |_| Ok(DataType::Int32), interval_cmp).build(),
        // GETDATE(): the statement's start, to the second.
        Udf::new("getdate", no_args, |_| Ok(TIMESTAMP), |_, rows| now_array(chrono::Utc::now(), rows, true))
            .nullary()
            .volatility(Volatility::Stable)
            .simplify(|_, info| {
                Ok(match info.query_execution_start_time() {
                    Some(t) => ExprSimplifyResult::Simplified(timestamp_literal(
                        t.timestamp_micros() / MICROS_PER_SECOND * MICROS_PER_SECOND,
                    )),
                    None => ExprSimplifyResult::Original(vec![]),
                })
            })
            .build(),
        // SYSDATE: the transaction's start, to the microsecond.
        {
            let (invoke_clock, simplify_clock) = (clock.clone(), clock);
            Udf::new(
                "sysdate",
                no_args,
                |_| Ok(TIMESTAMP),
                move |_, rows| Ok(Arc::new(TimestampMicrosecondArray::from_value(invoke_clock.micros(), rows))),
            )
            .nullary()
            .volatility(Volatility::Stable)
            .simplify(move |_, _| Ok(ExprSimplifyResult::Simplified(timestamp_literal(simplify_clock.micros()))))
            .build()
        },
        Udf::new(
            "timeofday",
            no_args,
            |_| Ok(DataType::Utf8),
            |_, rows| {
                let text = chrono::Utc::now().format("%a %b %d %H:%M:%S%.6f %Y UTC").to_string();
                Ok(Arc::new(StringArray::from(vec![text; rows])))
            },
        )
        .nullary()
        .volatility(Volatility::Volatile)
        .build(),
    ]
}

/// `date + time`: the timestamp of that time on that day.
pub(crate) fn date_plus_time() -> ScalarUDF {
    Udf::new(
        "tarn_date_plus_time",
        |name, types| {
            arity(name, types, 2..=2)?;
            Ok(vec![DataType::Date32, DataType::Time64(TimeUnit::Microsecond)])
        },
        |_| Ok(TIMESTAMP),
        |args, _| {
            let (dates, times) =
                (args[0].as_primitive::<Date32Type>(), args[1].as_primitive::<Time64MicrosecondType>());
            let out = dates
                .iter()
                .zip(times.iter())
                .map(|(d, t)| Some(d? as i64 * MICROS_PER_DAY + t?))
                .collect::<TimestampMicrosecondArray>();
            Ok(Arc::new(out))
        },
    )
    .build()
}

fn timestamp_literal(micros: i64) -> Expr {
    lit(ScalarValue::TimestampMicrosecond(Some(micros), None))
}

fn now_array(now: DateTime<chrono::Utc>, rows: usize, whole_seconds: bool) -> Result<ArrayRef> {
    let mut micros = now.timestamp_micros();
    if whole_seconds {
        micros -= micros.rem_euclid(MICROS_PER_SECOND);
    }
    Ok(Arc::new(TimestampMicrosecondArray::from_value(micros, rows)))
}

fn no_args(name: &str, types: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, types, 0..=0)?;
    Ok(vec![])
}

// ---- argument conversion ----------------------------------------------------------------

/// The type a date/time argument is computed in: time of day stays a time, a timestamp with a
/// zone keeps it (its values are UTC), anything else (dates, timestamps, text) is read as a
/// timestamp by [`timestamps`].
fn datetime_arg(name: &str, t: &DataType) -> Result<DataType> {
    Ok(match t {
        DataType::Time32(_) | DataType::Time64(_) => DataType::Time64(TimeUnit::Microsecond),
        DataType::Timestamp(_, Some(_)) => timestamptz(),
        DataType::Timestamp(_, None) | DataType::Date32 | DataType::Date64 => t.clone(),
        DataType::Null => DataType::Null,
        t if is_text(t) => DataType::Utf8,
        other => return plan_err!("function {name} expects a date or timestamp, not {other}"),
    })
}

fn one_timestamp(name: &str, types: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, types, 1..=1)?;
    Ok(vec![datetime_arg(name, &types[0])?])
}

fn two_timestamps(name: &str, types: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, types, 2..=2)?;
    types.iter().map(|t| datetime_arg(name, t)).collect()
}

/// Microseconds since the epoch (UTC) of dates, timestamps and text in any `auto` layout.
pub(crate) fn timestamps(array: &ArrayRef) -> Result<TimestampMicrosecondArray> {
    Ok(match array.data_type() {
        DataType::Utf8 | DataType::Utf8View | DataType::LargeUtf8 => {
            let text = cast(array, &DataType::Utf8)?;
            text.as_string::<i32>()
                .iter()
                .map(|v| {
                    v.map(|v| {
                        auto_date_or_timestamp(v)
                            .ok_or_else(|| exec_error(format!("invalid input syntax for type timestamp: \"{v}\"")))
                    })
                    .transpose()
                })
                .collect::<Result<TimestampMicrosecondArray>>()?
        }
        DataType::Null => TimestampMicrosecondArray::new_null(array.len()),
        _ => {
            let converted = cast(array, &DataType::Timestamp(TimeUnit::Microsecond, None))?;
            converted.as_primitive::<TimestampMicrosecondType>().clone()
        }
    })
}

fn datetime(micros: i64) -> Result<NaiveDateTime> {
    DateTime::from_timestamp_micros(micros)
        .map(|t| t.naive_utc())
        .ok_or_else(|| exec_error(format!("timestamp out of range: {micros} microseconds")))
}

fn micros_of(t: NaiveDateTime) -> i64 {
    t.and_utc().timestamp_micros()
}

fn days_of(d: NaiveDate) -> i32 {
    d.num_days_from_ce() - UNIX_EPOCH_DAYS_FROM_CE
}

fn map_dates(array: &ArrayRef) -> Result<Vec<Option<NaiveDate>>> {
    timestamps(array)?.iter().map(|v| v.map(|v| datetime(v).map(|t| t.date())).transpose()).collect()
}

fn last_of_month(d: NaiveDate) -> NaiveDate {
    let (y, m) = if d.month() == 12 { (d.year() + 1, 1) } else { (d.year(), d.month() + 1) };
    NaiveDate::from_ymd_opt(y, m, 1).expect("first of a month") - Duration::days(1)
}

fn days_in_month(year: i32, month: u32) -> u32 {
    last_of_month(NaiveDate::from_ymd_opt(year, month, 1).expect("first of a month")).day()
}

/// Adds months, keeping the day of the month unless the target month is shorter.
fn plus_months(t: NaiveDateTime, months: i64) -> Result<NaiveDateTime> {
    let total = t.year() as i64 * 12 + t.month0() as i64 + months;
    let (year, month) = (total.div_euclid(12), total.rem_euclid(12) as u32 + 1);
    let year = i32::try_from(year).map_err(|_| exec_error("date out of range"))?;
    let day = t.day().min(days_in_month(year, month));
    NaiveDate::from_ymd_opt(year, month, day)
        .map(|d| d.and_time(t.time()))
        .ok_or_else(|| exec_error(format!("date out of range: year {year}")))
}

// ---- DATEADD -----------------------------------------------------------------------------

fn dateadd_coerce(name: &str, types: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, types, 3..=3)?;
    Ok(vec![DataType::Utf8, int_arg(name, &types[1])?, datetime_arg(name, &types[2])?])
}

fn dateadd_type(types: &[DataType]) -> Result<DataType> {
    Ok(match &types[2] {
        DataType::Time64(_) => DataType::Time64(TimeUnit::Microsecond),
        DataType::Timestamp(_, Some(_)) => timestamptz(),
        _ => TIMESTAMP,
    })
}

fn dateadd(args: &[ArrayRef], _rows: usize) -> Result<ArrayRef> {
    let parts = args[0].as_string::<i32>();
    let amounts = args[1].as_primitive::<datafusion::arrow::datatypes::Int64Type>();
    if let DataType::Time64(_) = args[2].data_type() {
        let times = args[2].as_primitive::<Time64MicrosecondType>();
        let out = (0..times.len())
            .map(|i| {
                if parts.is_null(i) || amounts.is_null(i) || times.is_null(i) {
                    return Ok(None);
                }
                let step = fixed_micros(DatePart::parse_or_error("dateadd", parts.value(i))?)
                    .ok_or_else(|| exec_error(format!("dateadd: \"{}\" cannot be added to a time", parts.value(i))))?;
                let micros = times.value(i) + amounts.value(i).wrapping_mul(step);
                Ok(Some(micros.rem_euclid(MICROS_PER_DAY)))
            })
            .collect::<Result<Time64MicrosecondArray>>()?;
        return Ok(Arc::new(out));
    }
    let values = timestamps(&args[2])?;
    let out = (0..values.len())
        .map(|i| {
            if parts.is_null(i) || amounts.is_null(i) || values.is_null(i) {
                return Ok(None);
            }
            let part = DatePart::parse_or_error("dateadd", parts.value(i))?;
            add(values.value(i), part, amounts.value(i)).map(Some)
        })
        .collect::<Result<TimestampMicrosecondArray>>()?;
    let out: ArrayRef = Arc::new(out);
    match args[2].data_type() {
        DataType::Timestamp(_, Some(_)) => Ok(cast(&out, &timestamptz())?),
        _ => Ok(out),
    }
}

/// The length of a datepart that is a fixed duration, in microseconds.
fn fixed_micros(part: DatePart) -> Option<i64> {
    Some(match part {
        DatePart::Week => 7 * MICROS_PER_DAY,
        DatePart::Day | DatePart::DayOfWeek | DatePart::DayOfYear | DatePart::IsoDayOfWeek => MICROS_PER_DAY,
        DatePart::Hour => 3_600 * MICROS_PER_SECOND,
        DatePart::Minute => 60 * MICROS_PER_SECOND,
        DatePart::Second => MICROS_PER_SECOND,
        DatePart::Millisecond => 1_000,
        DatePart::Microsecond => 1,
        _ => return None,
    })
}

/// `micros + amount parts`, as Redshift's DATEADD computes it.
fn add(micros: i64, part: DatePart, amount: i64) -> Result<i64> {
    let out_of_range = || exec_error("dateadd: result out of range");
    if let Some(step) = fixed_micros(part) {
        return amount.checked_mul(step).and_then(|d| micros.checked_add(d)).ok_or_else(out_of_range);
    }
    let t = datetime(micros)?;
    let years = |n: i64| -> Result<i64> {
        // The same month and day `n` years on; 29 February of a year without one rolls over
        // to 1 March.
        let year = i32::try_from(t.year() as i64 + n).map_err(|_| out_of_range())?;
        let date = NaiveDate::from_ymd_opt(year, t.month(), t.day())
            .or_else(|| NaiveDate::from_ymd_opt(year, 3, 1))
            .ok_or_else(out_of_range)?;
        Ok(micros_of(date.and_time(t.time())))
    };
    match part {
        DatePart::Month => Ok(micros_of(plus_months(t, amount)?)),
        DatePart::Quarter => Ok(micros_of(plus_months(t, amount.checked_mul(3).ok_or_else(out_of_range)?)?)),
        DatePart::Year | DatePart::IsoYear => years(amount),
        DatePart::Decade => years(amount.checked_mul(10).ok_or_else(out_of_range)?),
        DatePart::Century => years(amount.checked_mul(100).ok_or_else(out_of_range)?),
        DatePart::Millennium => years(amount.checked_mul(1000).ok_or_else(out_of_range)?),
        other => Err(exec_error(format!("dateadd: datepart {other:?} cannot be added").to_lowercase())),
    }
}

// ---- DATEDIFF ----------------------------------------------------------------------------

fn datediff_coerce(name: &str, types: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, types, 3..=3)?;
    let (a, b) = (datetime_arg(name, &types[1])?, datetime_arg(name, &types[2])?);
    let is_time = |t: &DataType| matches!(t, DataType::Time64(_));
    // Times are compared with times; with anything else both are timestamps.
    if is_time(&a) && is_time(&b) {
        return Ok(vec![DataType::Utf8, a, b]);
    }
    let widen =
        |t: DataType| if is_time(&t) { plan_err!("function {name} cannot compare a time with a date") } else { Ok(t) };
    Ok(vec![DataType::Utf8, widen(a)?, widen(b)?])
}

fn datediff(args: &[ArrayRef], _rows: usize) -> Result<ArrayRef> {
    let parts = args[0].as_string::<i32>();
    let (starts, ends) = match args[1].data_type() {
        DataType::Time64(_) => (
            args[1].as_primitive::<Time64MicrosecondType>().reinterpret_cast::<TimestampMicrosecondType>(),
            args[2].as_primitive::<Time64MicrosecondType>().reinterpret_cast::<TimestampMicrosecondType>(),
        ),
        _ => (timestamps(&args[1])?, timestamps(&args[2])?),
    };
    let out = (0..starts.len())
        .map(|i| {
            if parts.is_null(i) || starts.is_null(i) || ends.is_null(i) {
                return Ok(None);
            }
            let part = DatePart::parse_or_error("datediff", parts.value(i))?;
            diff(part, starts.value(i), ends.value(i)).map(Some)
        })
        .collect::<Result<Int64Array>>()?;
    Ok(Arc::new(out))
}

/// How many `part` boundaries lie between `start` and `end` (negative when `end` is earlier).
fn diff(part: DatePart, start: i64, end: i64) -> Result<i64> {
    let floor = |unit: i64| end.div_euclid(unit) - start.div_euclid(unit);
    let (a, b) = (datetime(start)?, datetime(end)?);
    let year = |t: &NaiveDateTime| t.year() as i64;
    Ok(match part {
        DatePart::Microsecond => end - start,
        DatePart::Millisecond => floor(1_000),
        DatePart::Second => floor(MICROS_PER_SECOND),
        DatePart::Minute => floor(60 * MICROS_PER_SECOND),
        DatePart::Hour => floor(3_600 * MICROS_PER_SECOND),
        DatePart::Day | DatePart::DayOfWeek | DatePart::DayOfYear | DatePart::IsoDayOfWeek => floor(MICROS_PER_DAY),
        // Weeks start on Monday (as DATE_TRUNC('week') does); 1970-01-05 was a Monday.
        DatePart::Week => {
            let monday = 4 * MICROS_PER_DAY;
            (end - monday).div_euclid(7 * MICROS_PER_DAY) - (start - monday).div_euclid(7 * MICROS_PER_DAY)
        }
        DatePart::Month => (year(&b) * 12 + b.month0() as i64) - (year(&a) * 12 + a.month0() as i64),
        DatePart::Quarter => (year(&b) * 4 + b.month0() as i64 / 3) - (year(&a) * 4 + a.month0() as i64 / 3),
        DatePart::Year | DatePart::IsoYear => year(&b) - year(&a),
        DatePart::Decade => year(&b).div_euclid(10) - year(&a).div_euclid(10),
        DatePart::Century => century(year(&b)) - century(year(&a)),
        DatePart::Millennium => millennium(year(&b)) - millennium(year(&a)),
        DatePart::Epoch => floor(MICROS_PER_SECOND),
        other => return Err(exec_error(format!("datediff: datepart {other:?} is not supported").to_lowercase())),
    })
}

/// Centuries run from year ..01 to ..00: 2000 is in the 20th, 2001 in the 21st.
fn century(year: i64) -> i64 {
    if year > 0 { (year + 99) / 100 } else { -((99 - year) / 100) }
}

fn millennium(year: i64) -> i64 {
    if year > 0 { (year + 999) / 1000 } else { -((999 - year) / 1000) }
}

// ---- DATE_PART, EXTRACT, DATE_TRUNC ------------------------------------------------------

fn part_coerce(name: &str, types: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, types, 2..=2)?;
    let value = match &types[1] {
        DataType::Interval(_) => DataType::Interval(IntervalUnit::MonthDayNano),
        other => datetime_arg(name, other)?,
    };
    Ok(vec![DataType::Utf8, value])
}

/// EXTRACT returns integers, but DOUBLE for a timestamp with a zone (as Redshift documents).
fn extract_type(types: &[DataType]) -> Result<DataType> {
    Ok(match &types[1] {
        DataType::Timestamp(_, Some(_)) => DataType::Float64,
        _ => DataType::Int64,
    })
}

/// DATE_PART (`integer_only` false: seconds keep their fraction) and EXTRACT (`true`: only the
/// named field, so `sec` drops the fraction and `ms` the whole seconds).
fn date_part(args: &[ArrayRef], integer_only: bool) -> Result<ArrayRef> {
    let parts = args[0].as_string::<i32>();
    let float = !integer_only || matches!(args[1].data_type(), DataType::Timestamp(_, Some(_)));
    let values: Vec<Option<f64>> = match args[1].data_type() {
        DataType::Interval(_) => {
            let intervals = args[1].as_primitive::<IntervalMonthDayNanoType>();
            (0..intervals.len())
                .map(|i| {
                    if parts.is_null(i) || intervals.is_null(i) {
                        return Ok(None);
                    }
                    let part = DatePart::parse_or_error("date_part", parts.value(i))?;
                    interval_part(part, intervals.value(i), integer_only).map(Some)
                })
                .collect::<Result<_>>()?
        }
        DataType::Time64(_) => {
            let times = args[1].as_primitive::<Time64MicrosecondType>();
            (0..times.len())
                .map(|i| {
                    if parts.is_null(i) || times.is_null(i) {
                        return Ok(None);
                    }
                    let part = DatePart::parse_or_error("date_part", parts.value(i))?;
                    let time = datetime(times.value(i))?;
                    match part {
                        DatePart::Hour
                        | DatePart::Minute
                        | DatePart::Second
                        | DatePart::Millisecond
                        | DatePart::Microsecond
                        | DatePart::Epoch => field(part, time, times.value(i), integer_only).map(Some),
                        other => Err(exec_error(format!("datepart {other:?} does not apply to a time").to_lowercase())),
                    }
                })
                .collect::<Result<_>>()?
        }
        _ => {
            let values = timestamps(&args[1])?;
            (0..values.len())
                .map(|i| {
                    if parts.is_null(i) || values.is_null(i) {
                        return Ok(None);
                    }
                    let part = DatePart::parse_or_error("date_part", parts.value(i))?;
                    field(part, datetime(values.value(i))?, values.value(i), integer_only).map(Some)
                })
                .collect::<Result<_>>()?
        }
    };
    Ok(if float {
        Arc::new(Float64Array::from(values))
    } else {
        Arc::new(values.into_iter().map(|v| v.map(|v| v as i64)).collect::<Int64Array>())
    })
}

fn field(part: DatePart, t: NaiveDateTime, micros: i64, integer_only: bool) -> Result<f64> {
    let micro_of_second = (t.nanosecond() / 1_000) as f64;
    let second = t.second() as f64;
    Ok(match part {
        DatePart::Millennium => millennium(t.year() as i64) as f64,
        DatePart::Century => century(t.year() as i64) as f64,
        DatePart::Decade => t.year().div_euclid(10) as f64,
        DatePart::Epoch if integer_only => micros.div_euclid(MICROS_PER_SECOND) as f64,
        DatePart::Epoch => micros as f64 / MICROS_PER_SECOND as f64,
        DatePart::Year => t.year() as f64,
        DatePart::IsoYear => t.iso_week().year() as f64,
        DatePart::Quarter => (t.month0() / 3 + 1) as f64,
        DatePart::Month => t.month() as f64,
        DatePart::Week => t.iso_week().week() as f64,
        DatePart::DayOfWeek => t.weekday().num_days_from_sunday() as f64,
        DatePart::IsoDayOfWeek => t.weekday().number_from_monday() as f64,
        DatePart::DayOfYear => t.ordinal() as f64,
        DatePart::Day => t.day() as f64,
        DatePart::Hour => t.hour() as f64,
        DatePart::Minute => t.minute() as f64,
        DatePart::Second if integer_only => second,
        DatePart::Second => second + micro_of_second / 1e6,
        DatePart::Millisecond if integer_only => (micro_of_second / 1e3).floor(),
        DatePart::Millisecond => second * 1e3 + micro_of_second / 1e3,
        DatePart::Microsecond if integer_only => micro_of_second,
        DatePart::Microsecond => second * 1e6 + micro_of_second,
        // Values are UTC.
        DatePart::Timezone | DatePart::TimezoneHour | DatePart::TimezoneMinute => 0.0,
    })
}

fn interval_part(
    part: DatePart,
    value: datafusion::arrow::datatypes::IntervalMonthDayNano,
    integer_only: bool,
) -> Result<f64> {
    let nanos = value.nanoseconds;
    let seconds_in_minute = (nanos % 60_000_000_000) as f64 / 1e9;
    Ok(match part {
        DatePart::Millennium => (value.months / 12000) as f64,
        DatePart::Century => (value.months / 1200) as f64,
        DatePart::Decade => (value.months / 120) as f64,
        DatePart::Year => (value.months / 12) as f64,
        DatePart::Quarter => ((value.months % 12) / 3 + 1) as f64,
        DatePart::Month => (value.months % 12) as f64,
        DatePart::Day => value.days as f64,
        DatePart::Hour => (nanos / 3_600_000_000_000) as f64,
        DatePart::Minute => ((nanos / 60_000_000_000) % 60) as f64,
        DatePart::Second if integer_only => seconds_in_minute.trunc(),
        DatePart::Second => seconds_in_minute,
        DatePart::Millisecond => seconds_in_minute * 1e3,
        DatePart::Microsecond => seconds_in_minute * 1e6,
        DatePart::Epoch => {
            // As PostgreSQL: a month is 30 days, a year 365.25.
            let years = (value.months / 12) as f64 * 365.25 * 86_400.0;
            let months = (value.months % 12) as f64 * 30.0 * 86_400.0;
            years + months + value.days as f64 * 86_400.0 + nanos as f64 / 1e9
        }
        other => return Err(exec_error(format!("datepart {other:?} does not apply to an interval").to_lowercase())),
    })
}

fn date_trunc_type(types: &[DataType]) -> Result<DataType> {
    Ok(match &types[1] {
        DataType::Timestamp(_, Some(_)) => timestamptz(),
        DataType::Time64(_) => DataType::Time64(TimeUnit::Microsecond),
        DataType::Interval(_) => DataType::Interval(IntervalUnit::MonthDayNano),
        _ => TIMESTAMP,
    })
}

fn date_trunc(args: &[ArrayRef], _rows: usize) -> Result<ArrayRef> {
    let parts = args[0].as_string::<i32>();
    match args[1].data_type() {
        DataType::Time64(_) | DataType::Interval(_) => {
            return plan_err!("date_trunc of a {} is not supported yet", args[1].data_type());
        }
        _ => {}
    }
    let values = timestamps(&args[1])?;
    let out = (0..values.len())
        .map(|i| {
            if parts.is_null(i) || values.is_null(i) {
                return Ok(None);
            }
            let part = DatePart::parse_or_error("date_trunc", parts.value(i))?;
            truncate(part, values.value(i)).map(Some)
        })
        .collect::<Result<TimestampMicrosecondArray>>()?;
    let out: ArrayRef = Arc::new(out);
    match args[1].data_type() {
        DataType::Timestamp(_, Some(_)) => Ok(cast(&out, &timestamptz())?),
        _ => Ok(out),
    }
}

/// The start of the `part` that holds `micros`.
pub(crate) fn truncate(part: DatePart, micros: i64) -> Result<i64> {
    if let Some(unit) = fixed_micros(part).filter(|_| part != DatePart::Week) {
        return Ok(micros - micros.rem_euclid(unit));
    }
    let t = datetime(micros)?;
    let first_of = |year: i64, month: u32| -> Result<i64> {
        let year = i32::try_from(year).map_err(|_| exec_error("date out of range"))?;
        Ok(micros_of(
            NaiveDate::from_ymd_opt(year, month, 1)
                .ok_or_else(|| exec_error("date out of range"))?
                .and_time(NaiveTime::MIN),
        ))
    };
    let year = t.year() as i64;
    match part {
        DatePart::Week => {
            let monday = t.date() - Duration::days(t.weekday().num_days_from_monday() as i64);
            Ok(micros_of(monday.and_time(NaiveTime::MIN)))
        }
        DatePart::Month => first_of(year, t.month()),
        DatePart::Quarter => first_of(year, t.month0() / 3 * 3 + 1),
        DatePart::Year | DatePart::IsoYear => first_of(year, 1),
        DatePart::Decade => first_of(year.div_euclid(10) * 10, 1),
        DatePart::Century => first_of((century(year) - 1) * 100 + 1, 1),
        DatePart::Millennium => first_of((millennium(year) - 1) * 1000 + 1, 1),
        other => Err(exec_error(format!("date_trunc: datepart {other:?} is not supported").to_lowercase())),
    }
}

// ---- ADD_MONTHS, MONTHS_BETWEEN, NEXT_DAY --------------------------------------------------

fn add_months_coerce(name: &str, types: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, types, 2..=2)?;
    Ok(vec![datetime_arg(name, &types[0])?, int_arg(name, &types[1])?])
}

/// ADD_MONTHS sticks to the end of the month: the last day of a month stays the last day.
fn add_months(args: &[ArrayRef], _rows: usize) -> Result<ArrayRef> {
    let values = timestamps(&args[0])?;
    let months = args[1].as_primitive::<datafusion::arrow::datatypes::Int64Type>();
    let out = (0..values.len())
        .map(|i| {
            if values.is_null(i) || months.is_null(i) {
                return Ok(None);
            }
            let t = datetime(values.value(i))?;
            let moved = plus_months(t, months.value(i))?;
            let moved = if t.date() == last_of_month(t.date()) {
                last_of_month(moved.date()).and_time(t.time())
            } else {
                moved
            };
            Ok(Some(micros_of(moved)))
        })
        .collect::<Result<TimestampMicrosecondArray>>()?;
    Ok(Arc::new(out))
}

/// Whole months from year and month; the fraction from day and time over a 31-day month; the
/// same day of the month, or two month-ends, give a whole number.
fn months_between(args: &[ArrayRef], _rows: usize) -> Result<ArrayRef> {
    let (a, b) = (timestamps(&args[0])?, timestamps(&args[1])?);
    let out = (0..a.len())
        .map(|i| {
            if a.is_null(i) || b.is_null(i) {
                return Ok(None);
            }
            let (x, y) = (datetime(a.value(i))?, datetime(b.value(i))?);
            let months = (x.year() as i64 * 12 + x.month0() as i64) - (y.year() as i64 * 12 + y.month0() as i64);
            let both_month_ends = x.date() == last_of_month(x.date()) && y.date() == last_of_month(y.date());
            if x.day() == y.day() || both_month_ends {
                return Ok(Some(months as f64));
            }
            let day_seconds = |t: &NaiveDateTime| t.day() as f64 * 86_400.0 + t.num_seconds_from_midnight() as f64;
            Ok(Some(months as f64 + (day_seconds(&x) - day_seconds(&y)) / (31.0 * 86_400.0)))
        })
        .collect::<Result<Float64Array>>()?;
    Ok(Arc::new(out))
}

fn next_day_coerce(name: &str, types: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, types, 2..=2)?;
    Ok(vec![datetime_arg(name, &types[0])?, text_arg(name, &types[1])?])
}

fn weekday(name: &str) -> Option<chrono::Weekday> {
    use chrono::Weekday::*;
    Some(match name.trim().to_ascii_lowercase().as_str() {
        "su" | "sun" | "sunday" => Sun,
        "m" | "mo" | "mon" | "monday" => Mon,
        "tu" | "tue" | "tues" | "tuesday" => Tue,
        "w" | "we" | "wed" | "wednesday" => Wed,
        "th" | "thu" | "thurs" | "thursday" => Thu,
        "f" | "fr" | "fri" | "friday" => Fri,
        "sa" | "sat" | "saturday" => Sat,
        _ => return None,
    })
}

fn next_day(args: &[ArrayRef], _rows: usize) -> Result<ArrayRef> {
    let dates = map_dates(&args[0])?;
    let names = args[1].as_string::<i32>();
    let out = dates
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let (Some(d), false) = (d, names.is_null(i)) else { return Ok(None) };
            let target = weekday(names.value(i))
                .ok_or_else(|| exec_error(format!("next_day: \"{}\" is not a day of the week", names.value(i))))?;
            let ahead = (7 + target.num_days_from_monday() as i64 - d.weekday().num_days_from_monday() as i64) % 7;
            Ok(Some(days_of(*d + Duration::days(if ahead == 0 { 7 } else { ahead }))))
        })
        .collect::<Result<Date32Array>>()?;
    Ok(Arc::new(out))
}

// ---- time zones ----------------------------------------------------------------------------

/// A time zone as Redshift names it: an IANA name (with daylight saving time), an
/// abbreviation (a fixed offset), or a POSIX-style offset (`UTC+3`, `+3`: hours *west* of UTC).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Zone {
    Named(Tz),
    Fixed(FixedOffset),
}

/// Abbreviations Redshift reads as fixed offsets (hours east of UTC).
const ABBREVIATIONS: &[(&str, i32)] = &[
    ("utc", 0),
    ("gmt", 0),
    ("z", 0),
    ("ut", 0),
    ("wet", 0),
    ("west", 3600),
    ("bst", 3600),
    ("cet", 3600),
    ("cest", 7200),
    ("met", 3600),
    ("mest", 7200),
    ("eet", 7200),
    ("eest", 10800),
    ("msk", 10800),
    ("ist", 19800),
    ("sgt", 28800),
    ("hkt", 28800),
    ("awst", 28800),
    ("jst", 32400),
    ("kst", 32400),
    ("acst", 34200),
    ("aest", 36000),
    ("aedt", 39600),
    ("nzst", 43200),
    ("nzdt", 46800),
    ("ast", -14400),
    ("adt", -10800),
    ("est", -18000),
    ("edt", -14400),
    ("cst", -21600),
    ("cdt", -18000),
    ("mst", -25200),
    ("mdt", -21600),
    ("pst", -28800),
    ("pdt", -25200),
    ("akst", -32400),
    ("akdt", -28800),
    ("hst", -36000),
];

impl Zone {
    pub fn parse(text: &str) -> Option<Zone> {
        let trimmed = text.trim();
        let lower = trimmed.to_ascii_lowercase();
        if let Some((_, seconds)) = ABBREVIATIONS.iter().find(|(name, _)| *name == lower) {
            return FixedOffset::east_opt(*seconds).map(Zone::Fixed);
        }
        if let Ok(tz) = Tz::from_str(trimmed) {
            return Some(Zone::Named(tz));
        }
        if let Some(tz) = chrono_tz::TZ_VARIANTS.iter().find(|tz| tz.name().eq_ignore_ascii_case(trimmed)) {
            return Some(Zone::Named(*tz));
        }
        // POSIX style: `UTC+3`, `GMT-05:30`, `+3`: hours west of UTC when positive.
        let offset = ["utc", "gmt", ""]
            .iter()
            .find_map(|prefix| lower.strip_prefix(prefix).filter(|r| r.starts_with(['+', '-'])))?;
        let (sign, rest) = offset.split_at(1);
        let (hours, minutes) = match rest.split_once(':') {
            Some((h, m)) => (h.parse::<i32>().ok()?, m.parse::<i32>().ok()?),
            None => (rest.parse::<i32>().ok()?, 0),
        };
        let west = (hours * 3600 + minutes * 60) * if sign == "+" { 1 } else { -1 };
        FixedOffset::west_opt(west).map(Zone::Fixed)
    }

    fn parse_or_error(text: &str) -> Result<Zone> {
        Zone::parse(text).ok_or_else(|| exec_error(format!("time zone \"{text}\" not recognized")))
    }

    /// [`Zone::parse_or_error`], remembering the last zone read (arguments are mostly constants).
    fn cached(cache: &mut Option<(String, Zone)>, text: &str) -> Result<Zone> {
        match cache {
            Some((name, zone)) if name == text => Ok(*zone),
            _ => {
                let zone = Zone::parse_or_error(text)?;
                *cache = Some((text.to_string(), zone));
                Ok(zone)
            }
        }
    }

    /// The UTC instant of a local time in this zone.
    fn to_utc(self, local: NaiveDateTime) -> Result<i64> {
        let offset = match self {
            Zone::Fixed(offset) => offset,
            Zone::Named(tz) => match tz.offset_from_local_datetime(&local) {
                chrono::LocalResult::Single(o) | chrono::LocalResult::Ambiguous(o, _) => o.fix(),
                // A local time skipped by a DST change: read it with the offset before it.
                chrono::LocalResult::None => tz.offset_from_utc_datetime(&local).fix(),
            },
        };
        Ok(micros_of(local - Duration::seconds(offset.local_minus_utc() as i64)))
    }

    /// The local time in this zone of a UTC instant.
    fn to_local(self, utc: i64) -> Result<i64> {
        let t = datetime(utc)?;
        let offset = match self {
            Zone::Fixed(offset) => offset,
            Zone::Named(tz) => tz.offset_from_utc_datetime(&t).fix(),
        };
        Ok(utc + offset.local_minus_utc() as i64 * MICROS_PER_SECOND)
    }
}

fn convert_timezone_coerce(name: &str, types: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, types, 2..=3)?;
    let mut out = vec![DataType::Utf8; types.len() - 1];
    out.push(datetime_arg(name, types.last().expect("arity checked"))?);
    Ok(out)
}

/// `CONVERT_TIMEZONE(['source',] 'target', ts)`: the local time in `target` of `ts` read as
/// local time in `source` (UTC when left out). A TIMESTAMPTZ is an instant whatever the source.
fn convert_timezone(args: &[ArrayRef], _rows: usize) -> Result<ArrayRef> {
    let values_array = args.last().expect("arity checked");
    let with_zone = matches!(values_array.data_type(), DataType::Timestamp(_, Some(_)));
    let values = timestamps(values_array)?;
    let (source, target) = match args.len() {
        3 => (Some(args[0].as_string::<i32>()), args[1].as_string::<i32>()),
        _ => (None, args[0].as_string::<i32>()),
    };
    let (mut source_zone, mut target_zone) = (None, None);
    let out = (0..values.len())
        .map(|i| {
            if values.is_null(i) || target.is_null(i) || source.is_some_and(|s| s.is_null(i)) {
                return Ok(None);
            }
            let utc = match source {
                Some(source) if !with_zone => {
                    Zone::cached(&mut source_zone, source.value(i))?.to_utc(datetime(values.value(i))?)?
                }
                _ => values.value(i),
            };
            Zone::cached(&mut target_zone, target.value(i))?.to_local(utc).map(Some)
        })
        .collect::<Result<TimestampMicrosecondArray>>()?;
    Ok(Arc::new(out))
}

fn timezone_coerce(name: &str, types: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, types, 2..=2)?;
    Ok(vec![DataType::Utf8, datetime_arg(name, &types[1])?])
}

/// `TIMEZONE(zone, ts)` (and `ts AT TIME ZONE zone`): a TIMESTAMP is read as local time in the
/// zone and becomes a TIMESTAMPTZ; a TIMESTAMPTZ is shown as local time there (a TIMESTAMP).
fn timezone_type(types: &[DataType]) -> Result<DataType> {
    Ok(match &types[1] {
        DataType::Timestamp(_, Some(_)) => TIMESTAMP,
        _ => timestamptz(),
    })
}

fn timezone(args: &[ArrayRef], _rows: usize) -> Result<ArrayRef> {
    let zones = args[0].as_string::<i32>();
    let with_zone = matches!(args[1].data_type(), DataType::Timestamp(_, Some(_)));
    let values = timestamps(&args[1])?;
    let mut cache = None;
    let out = (0..values.len())
        .map(|i| {
            if values.is_null(i) || zones.is_null(i) {
                return Ok(None);
            }
            let zone = Zone::cached(&mut cache, zones.value(i))?;
            if with_zone { zone.to_local(values.value(i)) } else { zone.to_utc(datetime(values.value(i))?) }.map(Some)
        })
        .collect::<Result<TimestampMicrosecondArray>>()?;
    let out: ArrayRef = Arc::new(out);
    if with_zone { Ok(out) } else { Ok(cast(&out, &timestamptz())?) }
}

// ---- comparisons ---------------------------------------------------------------------------

fn cmp(name: &str) -> ScalarUDF {
    Udf::new(
        name,
        two_timestamps,
        |_| Ok(DataType::Int32),
        |args, _| {
            let (a, b) = (timestamps(&args[0])?, timestamps(&args[1])?);
            let out = a.iter().zip(b.iter()).map(|(a, b)| Some(a?.cmp(&b?) as i32)).collect::<Int32Array>();
            Ok(Arc::new(out))
        },
    )
    .build()
}

fn interval_coerce(name: &str, types: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, types, 2..=2)?;
    types
        .iter()
        .map(|t| match t {
            DataType::Interval(_) | DataType::Null => Ok(DataType::Interval(IntervalUnit::MonthDayNano)),
            t if is_text(t) => Ok(DataType::Interval(IntervalUnit::MonthDayNano)),
            other => plan_err!("function {name} expects intervals, not {other}"),
        })
        .collect()
}

/// Intervals compare as PostgreSQL compares them: a month is 30 days.
fn interval_cmp(args: &[ArrayRef], _rows: usize) -> Result<ArrayRef> {
    let (a, b) =
        (args[0].as_primitive::<IntervalMonthDayNanoType>(), args[1].as_primitive::<IntervalMonthDayNanoType>());
    let span = |v: datafusion::arrow::datatypes::IntervalMonthDayNano| {
        (v.months as i128 * 30 + v.days as i128) * 86_400_000_000_000 + v.nanoseconds as i128
    };
    let out = a.iter().zip(b.iter()).map(|(a, b)| Some(span(a?).cmp(&span(b?)) as i32)).collect::<Int32Array>();
    Ok(Arc::new(out))
}

/// The date (days since the epoch) of a timestamp.
pub(crate) fn date_of_micros(micros: i64) -> i32 {
    micros.div_euclid(MICROS_PER_DAY) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> i64 {
        auto_date_or_timestamp(s).unwrap()
    }

    fn show(micros: i64) -> String {
        datetime(micros).unwrap().format("%Y-%m-%d %H:%M:%S").to_string()
    }

    #[test]
    fn dateadd_keeps_the_day_of_month_and_rolls_leap_days() {
        assert_eq!(show(add(at("2008-04-30"), DatePart::Month, 1).unwrap()), "2008-05-30 00:00:00");
        assert_eq!(show(add(at("2016-02-29"), DatePart::Month, 12).unwrap()), "2017-02-28 00:00:00");
        assert_eq!(show(add(at("2016-02-29"), DatePart::Year, 1).unwrap()), "2017-03-01 00:00:00");
        assert_eq!(show(add(at("2008-02-28"), DatePart::Month, 18).unwrap()), "2009-08-28 00:00:00");
        assert_eq!(show(add(at("2008-02-28"), DatePart::parse("m").unwrap(), 30).unwrap()), "2008-02-28 00:30:00");
    }

    #[test]
    fn datediff_counts_boundaries() {
        assert_eq!(diff(DatePart::Week, at("2009-01-01"), at("2009-12-31")).unwrap(), 52);
        assert_eq!(diff(DatePart::Hour, at("2023-01-01"), at("2023-01-03 05:04:03")).unwrap(), 53);
        assert_eq!(diff(DatePart::Year, at("2008-12-31"), at("2009-01-01")).unwrap(), 1);
        assert_eq!(diff(DatePart::Hour, at("2008-12-31 08:30:00"), at("2008-12-31 10:00:00")).unwrap(), 2);
        assert_eq!(diff(DatePart::Day, at("2009-01-02"), at("2009-01-01")).unwrap(), -1);
    }

    #[test]
    fn zones_by_name_abbreviation_and_offset() {
        let ny = Zone::parse("America/New_York").unwrap();
        assert_eq!(show(ny.to_local(at("2013-02-01 08:00:00")).unwrap()), "2013-02-01 03:00:00");
        assert_eq!(show(ny.to_local(at("2013-06-01 08:00:00")).unwrap()), "2013-06-01 04:00:00");
        let est = Zone::parse("EST").unwrap();
        let pst = Zone::parse("pst").unwrap();
        assert_eq!(
            show(pst.to_local(est.to_utc(datetime(at("2008-03-05 12:25:29")).unwrap()).unwrap()).unwrap()),
            "2008-03-05 09:25:29"
        );
        assert_eq!(
            show(Zone::parse("UTC+3").unwrap().to_local(at("2020-01-01 12:00:00")).unwrap()),
            "2020-01-01 09:00:00"
        );
        assert!(Zone::parse("Mars/Olympus").is_none());
    }

    #[test]
    fn truncation_and_centuries() {
        assert_eq!(show(truncate(DatePart::Week, at("2022-04-30 04:05:06.789")).unwrap()), "2022-04-25 00:00:00");
        assert_eq!(show(truncate(DatePart::Quarter, at("2020-04-30 04:05:06.789")).unwrap()), "2020-04-01 00:00:00");
        assert_eq!(show(truncate(DatePart::Century, at("2000-12-16")).unwrap()), "1901-01-01 00:00:00");
        assert_eq!(century(2000), 20);
        assert_eq!(century(2001), 21);
    }
}
