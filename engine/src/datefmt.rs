//! Redshift (PostgreSQL) datetime format strings: `YYYY-MM-DD HH24:MI:SS`, `Mon DD`, `FMMonth`...
//! Used by `TO_CHAR` and by COPY's `DATEFORMAT`/`TIMEFORMAT`.

use chrono::{Datelike, NaiveDate, NaiveDateTime, Timelike};

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Field {
    Year4,
    Year2,
    Month,
    MonthAbbr(Case),
    MonthName(Case),
    Day,
    DayOfYear,
    DayOfWeek,
    DayAbbr(Case),
    DayName(Case),
    Hour24,
    Hour12,
    Minute,
    Second,
    Millis,
    Micros,
    Meridian { upper: bool, dots: bool },
    Quarter,
    WeekOfYear,
    IsoWeek,
    Century,
    Year3,
    Year1,
    YearComma,
    IsoYear(usize),
    RomanMonth { upper: bool },
    WeekOfMonth,
    IsoDayOfYear,
    IsoDayOfWeek,
    Julian,
    Era { upper: bool, dots: bool },
    Zone { upper: bool },
    Offset,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Case {
    Upper,
    Title,
    Lower,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Field { field: Field, fill_mode: bool },
    Literal(String),
}

/// A compiled format string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateFormat {
    pieces: Vec<Piece>,
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const ROMAN_MONTHS: [&str; 12] = ["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII"];
const DAYS: [&str; 7] = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

/// Patterns, longest first so that `HH24` wins over `HH` and `MONTH` over `MON`/`MM`.
const PATTERNS: &[(&str, Field)] = &[
    ("Y,YYY", Field::YearComma),
    ("IYYY", Field::IsoYear(4)),
    ("IDDD", Field::IsoDayOfYear),
    ("YYYY", Field::Year4),
    ("B.C.", Field::Era { upper: true, dots: true }),
    ("A.D.", Field::Era { upper: true, dots: true }),
    ("b.c.", Field::Era { upper: false, dots: true }),
    ("a.d.", Field::Era { upper: false, dots: true }),
    ("IYY", Field::IsoYear(3)),
    ("YYY", Field::Year3),
    ("HH24", Field::Hour24),
    ("HH12", Field::Hour12),
    ("MONTH", Field::MonthName(Case::Upper)),
    ("Month", Field::MonthName(Case::Title)),
    ("month", Field::MonthName(Case::Lower)),
    ("A.M.", Field::Meridian { upper: true, dots: true }),
    ("P.M.", Field::Meridian { upper: true, dots: true }),
    ("a.m.", Field::Meridian { upper: false, dots: true }),
    ("p.m.", Field::Meridian { upper: false, dots: true }),
    ("DDD", Field::DayOfYear),
    ("DAY", Field::DayName(Case::Upper)),
    ("Day", Field::DayName(Case::Title)),
    ("day", Field::DayName(Case::Lower)),
    ("MON", Field::MonthAbbr(Case::Upper)),
    ("Mon", Field::MonthAbbr(Case::Title)),
    ("mon", Field::MonthAbbr(Case::Lower)),
    ("YY", Field::Year2),
    ("IY", Field::IsoYear(2)),
    ("ID", Field::IsoDayOfWeek),
    ("CC", Field::Century),
    ("RM", Field::RomanMonth { upper: true }),
    ("rm", Field::RomanMonth { upper: false }),
    ("BC", Field::Era { upper: true, dots: false }),
    ("AD", Field::Era { upper: true, dots: false }),
    ("bc", Field::Era { upper: false, dots: false }),
    ("ad", Field::Era { upper: false, dots: false }),
    ("TZ", Field::Zone { upper: true }),
    ("tz", Field::Zone { upper: false }),
    ("OF", Field::Offset),
    ("MM", Field::Month),
    ("DD", Field::Day),
    ("DY", Field::DayAbbr(Case::Upper)),
    ("Dy", Field::DayAbbr(Case::Title)),
    ("dy", Field::DayAbbr(Case::Lower)),
    ("HH", Field::Hour12),
    ("MI", Field::Minute),
    ("SS", Field::Second),
    ("MS", Field::Millis),
    ("US", Field::Micros),
    ("AM", Field::Meridian { upper: true, dots: false }),
    ("PM", Field::Meridian { upper: true, dots: false }),
    ("am", Field::Meridian { upper: false, dots: false }),
    ("pm", Field::Meridian { upper: false, dots: false }),
    ("IW", Field::IsoWeek),
    ("WW", Field::WeekOfYear),
    ("Q", Field::Quarter),
    ("D", Field::DayOfWeek),
    ("W", Field::WeekOfMonth),
    ("J", Field::Julian),
    ("I", Field::IsoYear(1)),
    ("Y", Field::Year1),
];

impl DateFormat {
    /// Compiles a format string. Text in double quotes is literal; unknown characters are
    /// copied as they are (as PostgreSQL does).
    pub fn parse(format: &str) -> Result<DateFormat> {
        let mut pieces = Vec::new();
        let mut rest = format;
        let mut fill_mode = false;
        let push_literal = |pieces: &mut Vec<Piece>, text: &str| match pieces.last_mut() {
            Some(Piece::Literal(l)) => l.push_str(text),
            _ => pieces.push(Piece::Literal(text.to_string())),
        };
        'outer: while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix("FM").or_else(|| rest.strip_prefix("fm")) {
                fill_mode = true;
                rest = after;
                continue;
            }
            if let Some(after) = rest.strip_prefix('"') {
                let end = after
                    .find('"')
                    .ok_or_else(|| Error::Invalid(format!("unterminated quoted text in format '{format}'")))?;
                push_literal(&mut pieces, &after[..end]);
                rest = &after[end + 1..];
                continue;
            }
            for (pattern, field) in PATTERNS {
                if let Some(after) = rest.strip_prefix(pattern) {
                    pieces.push(Piece::Field { field: field.clone(), fill_mode });
                    fill_mode = false;
                    rest = after;
                    continue 'outer;
                }
            }
            let ch = rest.chars().next().expect("rest is not empty");
            push_literal(&mut pieces, &rest[..ch.len_utf8()]);
            rest = &rest[ch.len_utf8()..];
        }
        Ok(DateFormat { pieces })
    }

    /// The equivalent chrono format for parsing input (COPY's DATEFORMAT and TIMEFORMAT), or
    /// `None` if the pattern uses fields chrono cannot parse (quarter, week numbers, day of week).
    pub fn to_chrono(&self) -> Option<String> {
        let twelve_hour = self.pieces.iter().any(|p| matches!(p, Piece::Field { field: Field::Meridian { .. }, .. }));
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Literal(text) => out.push_str(&text.replace('%', "%%")),
                Piece::Field { field, .. } => out.push_str(match field {
                    Field::Year4 => "%Y",
                    Field::Year2 => "%y",
                    Field::Month => "%m",
                    Field::MonthAbbr(_) => "%b",
                    Field::MonthName(_) => "%B",
                    Field::Day => "%d",
                    Field::DayOfYear => "%j",
                    Field::DayAbbr(_) => "%a",
                    Field::DayName(_) => "%A",
                    Field::Hour24 => "%H",
                    Field::Hour12 if twelve_hour => "%I",
                    Field::Hour12 => "%H",
                    Field::Minute => "%M",
                    Field::Second => "%S",
                    Field::Millis => "%3f",
                    Field::Micros => "%6f",
                    Field::Meridian { .. } => "%p",
                    _ => return None,
                }),
            }
        }
        Some(out)
    }

    /// Renders a timestamp.
    pub fn format(&self, t: &NaiveDateTime) -> String {
        let mut out = String::with_capacity(32);
        for piece in &self.pieces {
            match piece {
                Piece::Literal(text) => out.push_str(text),
                Piece::Field { field, fill_mode } => render(&mut out, field, *fill_mode, t),
            }
        }
        out
    }
}

impl DateFormat {
    /// Reads a date and time from `input` as TO_DATE and TO_TIMESTAMP do: fields in the order of
    /// the format, separators matched loosely, missing parts at their first value (year 1).
    /// Values past their range roll over (30 February is 2 March) unless `strict`, where they
    /// are errors.
    pub fn read(&self, input: &str, strict: bool) -> Result<NaiveDateTime> {
        let mut parts = Parts::default();
        let mut rest = input;
        for piece in &self.pieces {
            match piece {
                Piece::Literal(text) => {
                    for ch in text.chars() {
                        if ch.is_whitespace() {
                            rest = rest.trim_start();
                        } else if let Some(after) = rest.strip_prefix(ch) {
                            rest = after;
                        } else if let Some(next) = rest.chars().next().filter(|c| !c.is_alphanumeric()) {
                            rest = &rest[next.len_utf8()..];
                        }
                    }
                }
                Piece::Field { field, .. } => {
                    rest = rest.trim_start();
                    rest = parts.read(field, rest, input)?;
                }
            }
        }
        parts.compose(input, strict)
    }
}

/// The fields TO_DATE and TO_TIMESTAMP have read so far.
#[derive(Debug, Default)]
struct Parts {
    year: Option<i64>,
    century: Option<i64>,
    month: Option<i64>,
    day: Option<i64>,
    day_of_year: Option<i64>,
    week_of_year: Option<i64>,
    week_of_month: Option<i64>,
    iso_year: Option<i64>,
    iso_week: Option<i64>,
    iso_day: Option<i64>,
    julian: Option<i64>,
    hour: Option<i64>,
    minute: Option<i64>,
    second: Option<i64>,
    micros: Option<i64>,
    pm: Option<bool>,
    bc: bool,
}

fn digits(rest: &str, max: usize) -> (Option<i64>, &str) {
    let (sign, body) = match rest.strip_prefix('-') {
        Some(body) if body.starts_with(|c: char| c.is_ascii_digit()) => (-1, body),
        _ => (1, rest),
    };
    let len = body.bytes().take(max).take_while(u8::is_ascii_digit).count();
    if len == 0 {
        return (None, rest);
    }
    (body[..len].parse::<i64>().ok().map(|v| v * sign), &body[len..])
}

/// The longest of `names` that `rest` starts with (case-insensitive): its index and the rest.
fn name_prefix<'a>(rest: &'a str, names: &[&str], len: Option<usize>) -> Option<(usize, &'a str)> {
    let mut best: Option<(usize, usize)> = None;
    for (i, name) in names.iter().enumerate() {
        let name = match len {
            Some(n) => &name[..n.min(name.len())],
            None => name,
        };
        if rest.len() >= name.len()
            && rest.is_char_boundary(name.len())
            && rest[..name.len()].eq_ignore_ascii_case(name)
            && best.is_none_or(|(_, l)| name.len() > l)
        {
            best = Some((i, name.len()));
        }
    }
    best.map(|(i, l)| (i, &rest[l..]))
}

impl Parts {
    fn read<'a>(&mut self, field: &Field, rest: &'a str, input: &str) -> Result<&'a str> {
        let invalid = |what: &str| Error::Invalid(format!("invalid value for {what} in source string \"{input}\""));
        let number = |rest: &'a str, max: usize, what: &str| -> Result<(i64, &'a str)> {
            match digits(rest, max) {
                (Some(v), rest) => Ok((v, rest)),
                (None, _) => Err(invalid(what)),
            }
        };
        Ok(match field {
            Field::Year4 => {
                let (v, r) = number(rest, 4, "YYYY")?;
                self.year = Some(v);
                r
            }
            Field::YearComma => {
                let (thousands, r) = number(rest, 3, "Y,YYY")?;
                let r = r.strip_prefix(',').ok_or_else(|| invalid("Y,YYY"))?;
                let (v, r) = number(r, 3, "Y,YYY")?;
                self.year = Some(thousands * 1000 + v);
                r
            }
            Field::Year3 | Field::Year2 | Field::Year1 => {
                let width = match field {
                    Field::Year3 => 3,
                    Field::Year2 => 2,
                    _ => 1,
                };
                let (v, r) = number(rest, width, "year")?;
                // As PostgreSQL: the year nearest to 2020 with those last digits.
                self.year = Some(match width {
                    2 if v < 70 => 2000 + v,
                    2 => 1900 + v,
                    3 if v < 100 => 2000 + v,
                    3 => 1000 + v,
                    _ => 2020 + v - if v > 5 { 10 } else { 0 },
                });
                r
            }
            Field::Century => {
                let (v, r) = number(rest, 2, "CC")?;
                self.century = Some(v);
                r
            }
            Field::IsoYear(width) => {
                let (v, r) = number(rest, *width, "IYYY")?;
                self.iso_year = Some(if *width == 4 { v } else { 2000 + v });
                r
            }
            Field::Month => {
                let (v, r) = number(rest, 2, "MM")?;
                self.month = Some(v);
                r
            }
            Field::MonthAbbr(_) | Field::MonthName(_) => {
                let len = matches!(field, Field::MonthAbbr(_)).then_some(3);
                let (i, r) = name_prefix(rest, &MONTHS, len).ok_or_else(|| invalid("month name"))?;
                self.month = Some(i as i64 + 1);
                r
            }
            Field::RomanMonth { .. } => {
                let (i, r) = name_prefix(rest, &ROMAN_MONTHS, None).ok_or_else(|| invalid("RM"))?;
                self.month = Some(i as i64 + 1);
                r
            }
            Field::DayAbbr(_) | Field::DayName(_) => {
                let len = matches!(field, Field::DayAbbr(_)).then_some(3);
                name_prefix(rest, &DAYS, len).ok_or_else(|| invalid("day name"))?.1
            }
            Field::Day => {
                let (v, r) = number(rest, 2, "DD")?;
                self.day = Some(v);
                r
            }
            Field::DayOfYear => {
                let (v, r) = number(rest, 3, "DDD")?;
                self.day_of_year = Some(v);
                r
            }
            Field::DayOfWeek => number(rest, 1, "D")?.1,
            Field::IsoDayOfWeek => {
                let (v, r) = number(rest, 1, "ID")?;
                self.iso_day = Some(v);
                r
            }
            Field::IsoDayOfYear => {
                let (v, r) = number(rest, 3, "IDDD")?;
                self.iso_week = Some((v - 1) / 7 + 1);
                self.iso_day = Some((v - 1) % 7 + 1);
                r
            }
            Field::WeekOfYear => {
                let (v, r) = number(rest, 2, "WW")?;
                self.week_of_year = Some(v);
                r
            }
            Field::WeekOfMonth => {
                let (v, r) = number(rest, 1, "W")?;
                self.week_of_month = Some(v);
                r
            }
            Field::IsoWeek => {
                let (v, r) = number(rest, 2, "IW")?;
                self.iso_week = Some(v);
                r
            }
            Field::Quarter => number(rest, 1, "Q")?.1,
            Field::Julian => {
                let (v, r) = number(rest, 7, "J")?;
                self.julian = Some(v);
                r
            }
            Field::Hour24 | Field::Hour12 => {
                let (v, r) = number(rest, 2, "HH")?;
                self.hour = Some(v);
                r
            }
            Field::Minute => {
                let (v, r) = number(rest, 2, "MI")?;
                self.minute = Some(v);
                r
            }
            Field::Second => {
                let (v, r) = number(rest, 2, "SS")?;
                self.second = Some(v);
                r
            }
            Field::Millis | Field::Micros => {
                let width = if matches!(field, Field::Millis) { 3 } else { 6 };
                let len = rest.bytes().take(width).take_while(u8::is_ascii_digit).count();
                if len == 0 {
                    return Err(invalid(if width == 3 { "MS" } else { "US" }));
                }
                let v: i64 = rest[..len].parse().map_err(|_| invalid("MS"))?;
                // A fraction of a second: `SS.MS` with `12.3` is 300 milliseconds, as in PostgreSQL.
                self.micros = Some(v * 10i64.pow((6 - len) as u32));
                &rest[len..]
            }
            Field::Meridian { .. } => {
                let (i, r) = name_prefix(rest, &["AM", "PM", "A.M.", "P.M."], None).ok_or_else(|| invalid("AM/PM"))?;
                self.pm = Some(i % 2 == 1);
                r
            }
            Field::Era { .. } => {
                let (i, r) = name_prefix(rest, &["AD", "BC", "A.D.", "B.C."], None).ok_or_else(|| invalid("BC/AD"))?;
                self.bc = i % 2 == 1;
                r
            }
            Field::Zone { .. } | Field::Offset => {
                return Err(Error::Invalid("\"TZ\"/\"tz\"/\"OF\" format patterns are not supported in to_date".into()));
            }
        })
    }

    fn compose(&self, input: &str, strict: bool) -> Result<NaiveDateTime> {
        let out_of_range = || Error::Invalid(format!("date/time value out of range: \"{input}\""));
        if let Some(julian) = self.julian {
            let date = NaiveDate::from_num_days_from_ce_opt((julian - 1_721_425) as i32).ok_or_else(out_of_range)?;
            return self.with_time(date, strict);
        }
        let mut year = match (self.year, self.century) {
            (Some(y), _) => y,
            (None, Some(c)) => (c - 1) * 100 + 1,
            (None, None) => 1,
        };
        if self.bc {
            year = 1 - year;
        }
        let year = i32::try_from(year).map_err(|_| out_of_range())?;
        if let (Some(week), None) = (self.iso_week, self.month) {
            let iso_year = self.iso_year.map(|y| y as i32).unwrap_or(year);
            let weekday = chrono::Weekday::try_from((self.iso_day.unwrap_or(1) - 1).clamp(0, 6) as u8)
                .map_err(|_| out_of_range())?;
            let date = NaiveDate::from_isoywd_opt(iso_year, week as u32, weekday).ok_or_else(out_of_range)?;
            return self.with_time(date, strict);
        }
        let january = NaiveDate::from_ymd_opt(year, 1, 1).ok_or_else(out_of_range)?;
        let date = match (self.month, self.day, self.day_of_year) {
            (None, None, Some(doy)) => january + chrono::Duration::days(doy - 1),
            (month, day, _) => {
                let month = month.unwrap_or(1);
                let day = match (day, self.week_of_year, self.week_of_month) {
                    (Some(d), _, _) => d,
                    (None, Some(ww), _) if self.month.is_none() => {
                        return self.with_time(january + chrono::Duration::days((ww - 1) * 7), strict);
                    }
                    (None, _, Some(w)) => (w - 1) * 7 + 1,
                    _ => 1,
                };
                if strict {
                    u32::try_from(month)
                        .ok()
                        .and_then(|m| NaiveDate::from_ymd_opt(year, m, u32::try_from(day).ok()?))
                        .ok_or_else(|| Error::Invalid(format!("date value out of range: {year}-{month}-{day}")))?
                } else {
                    let first = NaiveDate::from_ymd_opt(year, 1, 1).ok_or_else(out_of_range)?;
                    let month_start = first
                        .checked_add_months(chrono::Months::new(u32::try_from(month - 1).map_err(|_| out_of_range())?))
                        .ok_or_else(out_of_range)?;
                    month_start + chrono::Duration::days(day - 1)
                }
            }
        };
        self.with_time(date, strict)
    }

    fn with_time(&self, date: NaiveDate, strict: bool) -> Result<NaiveDateTime> {
        let mut hour = self.hour.unwrap_or(0);
        match self.pm {
            Some(true) if hour < 12 => hour += 12,
            Some(false) if hour == 12 => hour = 0,
            _ => {}
        }
        let (minute, second, micros) = (self.minute.unwrap_or(0), self.second.unwrap_or(0), self.micros.unwrap_or(0));
        if strict && (!(0..24).contains(&hour) || !(0..60).contains(&minute) || !(0..60).contains(&second)) {
            return Err(Error::Invalid("date/time field time value out of range".into()));
        }
        let offset = chrono::Duration::hours(hour)
            + chrono::Duration::minutes(minute)
            + chrono::Duration::seconds(second)
            + chrono::Duration::microseconds(micros);
        Ok(date.and_hms_opt(0, 0, 0).expect("midnight") + offset)
    }
}

fn cased(text: &str, case: Case) -> String {
    match case {
        Case::Upper => text.to_uppercase(),
        Case::Lower => text.to_lowercase(),
        Case::Title => text.to_string(),
    }
}

fn render(out: &mut String, field: &Field, fill_mode: bool, t: &NaiveDateTime) {
    use std::fmt::Write;
    let number = |out: &mut String, value: i64, width: usize| {
        if fill_mode {
            let _ = write!(out, "{value}");
        } else {
            let _ = write!(out, "{value:0width$}");
        }
    };
    let name = |out: &mut String, text: String| {
        if fill_mode {
            out.push_str(&text);
        } else {
            let _ = write!(out, "{text:<9}");
        }
    };
    let hour12 = match t.hour() % 12 {
        0 => 12,
        h => h,
    };
    match field {
        Field::Year4 => number(out, t.year() as i64, 4),
        Field::Year2 => number(out, (t.year() % 100) as i64, 2),
        Field::Month => number(out, t.month() as i64, 2),
        Field::MonthAbbr(case) => out.push_str(&cased(&MONTHS[t.month0() as usize][..3], *case)),
        Field::MonthName(case) => name(out, cased(MONTHS[t.month0() as usize], *case)),
        Field::Day => number(out, t.day() as i64, 2),
        Field::DayOfYear => number(out, t.ordinal() as i64, 3),
        Field::DayOfWeek => number(out, t.weekday().num_days_from_sunday() as i64 + 1, 1),
        Field::DayAbbr(case) => out.push_str(&cased(&DAYS[t.weekday().num_days_from_sunday() as usize][..3], *case)),
        Field::DayName(case) => name(out, cased(DAYS[t.weekday().num_days_from_sunday() as usize], *case)),
        Field::Hour24 => number(out, t.hour() as i64, 2),
        Field::Hour12 => number(out, hour12 as i64, 2),
        Field::Minute => number(out, t.minute() as i64, 2),
        Field::Second => number(out, t.second() as i64, 2),
        Field::Millis => number(out, (t.nanosecond() / 1_000_000) as i64, 3),
        Field::Micros => number(out, (t.nanosecond() / 1_000) as i64, 6),
        Field::Meridian { upper, dots } => {
            let pm = t.hour() >= 12;
            let text = match (pm, dots) {
                (false, false) => "AM",
                (true, false) => "PM",
                (false, true) => "A.M.",
                (true, true) => "P.M.",
            };
            out.push_str(&if *upper { text.to_string() } else { text.to_lowercase() });
        }
        Field::Quarter => number(out, t.month0() as i64 / 3 + 1, 1),
        Field::WeekOfYear => number(out, (t.ordinal0() / 7 + 1) as i64, 2),
        Field::IsoWeek => number(out, t.iso_week().week() as i64, 2),
        Field::Century => {
            let year = t.year() as i64;
            number(out, if year > 0 { (year + 99) / 100 } else { -((99 - year) / 100) }, 2)
        }
        Field::Year3 => number(out, (t.year() % 1000) as i64, 3),
        Field::Year1 => number(out, (t.year() % 10) as i64, 1),
        Field::YearComma => {
            let _ = write!(out, "{},{:03}", t.year() / 1000, t.year() % 1000);
        }
        Field::IsoYear(digits) => {
            let year = t.iso_week().year() as i64;
            let width = *digits;
            number(out, if width == 4 { year } else { year % 10i64.pow(width as u32) }, width)
        }
        Field::RomanMonth { upper } => {
            let roman = format!("{:<4}", ROMAN_MONTHS[t.month0() as usize]);
            out.push_str(&if *upper { roman } else { roman.to_lowercase() });
        }
        Field::WeekOfMonth => number(out, ((t.day() - 1) / 7 + 1) as i64, 1),
        Field::IsoDayOfYear => {
            let week = t.iso_week().week() as i64;
            number(out, (week - 1) * 7 + t.weekday().number_from_monday() as i64, 3)
        }
        Field::IsoDayOfWeek => number(out, t.weekday().number_from_monday() as i64, 1),
        // Days since 24 November 4714 BC (Julian day 0 is 1 January 4713 BC, proleptic Julian).
        Field::Julian => number(out, t.date().num_days_from_ce() as i64 + JULIAN_DAY_OF_CE_0, 1),
        Field::Era { upper, dots } => {
            let text = match (t.year() > 0, dots) {
                (true, false) => "AD",
                (false, false) => "BC",
                (true, true) => "A.D.",
                (false, true) => "B.C.",
            };
            out.push_str(&if *upper { text.to_string() } else { text.to_lowercase() });
        }
        // Values are kept in UTC.
        Field::Zone { upper } => out.push_str(if *upper { "UTC" } else { "utc" }),
        Field::Offset => out.push_str("+00"),
    }
}

/// `NaiveDate::num_days_from_ce` of 1970-01-01.
pub const UNIX_EPOCH_DAYS_FROM_CE: i32 = 719_163;

/// A date in one of the layouts Redshift recognises without a format (`DATEFORMAT 'auto'`,
/// text cast to a date): those of its DATEFORMAT strings, Julian days (`J2451187`), a year and
/// day of year (`1996.008`), and dates before Christ (`Jan-08-95 BC`).
pub fn auto_date(value: &str) -> Option<NaiveDate> {
    iso_date(value)
        .or_else(|| AUTO_DATES.iter().find_map(|f| NaiveDate::parse_from_str(value, f).ok()))
        .or_else(|| julian_date(value))
        .or_else(|| bc_date(value))
}

/// `J2451187`: a Julian day number (day 0 is 1 January 4713 BC, proleptic Julian calendar).
fn julian_date(value: &str) -> Option<NaiveDate> {
    let days: i64 = value.strip_prefix(['J', 'j'])?.parse().ok()?;
    NaiveDate::from_num_days_from_ce_opt(i32::try_from(days - JULIAN_DAY_OF_CE_0).ok()?)
}

/// Julian day number of 31 December 1 BC (`NaiveDate::num_days_from_ce` 0).
const JULIAN_DAY_OF_CE_0: i64 = 1_721_425;

/// `Jan-08-95 BC`: a date whose year counts back from 1 BC (year 95 BC is astronomical -94).
fn bc_date(value: &str) -> Option<NaiveDate> {
    let upper = value.trim_end().to_ascii_uppercase();
    let date = upper.strip_suffix("BC").or_else(|| upper.strip_suffix("B.C."))?.trim_end();
    let parsed = BC_DATES.iter().find_map(|f| NaiveDate::parse_from_str(date, f).ok())?;
    parsed.with_year(1 - parsed.year())
}

/// A timestamp (with its time of day) in one of the layouts Redshift recognises without a
/// format, as microseconds since the epoch in UTC. A date alone is not one: see [`auto_date`].
/// Zones are numeric offsets (`-08`, `+05:30`) or the common abbreviations (`PST`, `UTC`).
pub fn auto_timestamp(value: &str) -> Option<i64> {
    naive_timestamp(value)
        .map(|t| t.and_utc().timestamp_micros())
        .or_else(|| {
            AUTO_TIMESTAMPS_TZ
                .iter()
                .find_map(|f| chrono::DateTime::parse_from_str(value, f).ok().map(|t| t.timestamp_micros()))
        })
        .or_else(|| {
            let (local, zone) = value.trim_end().rsplit_once(' ')?;
            let offset = zone_offset(zone)?;
            Some(naive_timestamp(local.trim_end())?.and_utc().timestamp_micros() - offset * 1_000_000)
        })
}

fn naive_timestamp(value: &str) -> Option<NaiveDateTime> {
    AUTO_TIMESTAMPS.iter().find_map(|f| NaiveDateTime::parse_from_str(value, f).ok()).or_else(|| {
        // `J2345678 04:05:06.789`: a Julian day and a time.
        let (day, time) = value.split_once(' ')?;
        let time = chrono::NaiveTime::parse_from_str(time, "%H:%M:%S%.f").ok()?;
        Some(julian_date(day)?.and_time(time))
    })
}

/// Seconds east of UTC of a zone abbreviation.
fn zone_offset(zone: &str) -> Option<i64> {
    let hours = match zone.to_ascii_uppercase().as_str() {
        "UTC" | "GMT" | "UT" | "Z" | "ZULU" | "WET" => 0.0,
        "PST" => -8.0,
        "PDT" => -7.0,
        "MST" => -7.0,
        "MDT" => -6.0,
        "CST" => -6.0,
        "CDT" => -5.0,
        "EST" => -5.0,
        "EDT" => -4.0,
        "AST" => -4.0,
        "ADT" => -3.0,
        "NST" => -3.5,
        "NDT" => -2.5,
        "AKST" => -9.0,
        "AKDT" => -8.0,
        "HST" => -10.0,
        "WEST" | "BST" | "CET" => 1.0,
        "CEST" | "EET" => 2.0,
        "EEST" | "MSK" => 3.0,
        "IST" => 5.5,
        "SGT" | "HKT" | "AWST" => 8.0,
        "JST" | "KST" => 9.0,
        "ACST" => 9.5,
        "AEST" => 10.0,
        "AEDT" => 11.0,
        "NZST" => 12.0,
        "NZDT" => 13.0,
        _ => return None,
    };
    Some((hours * 3600.0) as i64)
}

/// A timestamp or a date (at midnight) in any layout `auto` recognises.
pub fn auto_date_or_timestamp(value: &str) -> Option<i64> {
    let value = value.trim();
    auto_timestamp(value)
        .or_else(|| auto_date(value).map(|d| d.and_hms_opt(0, 0, 0).expect("midnight").and_utc().timestamp_micros()))
}

/// `YYYY-MM-DD`, the common case of `auto`, without a format string.
pub(crate) fn iso_date(value: &str) -> Option<NaiveDate> {
    let b = value.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| {
        b[range].iter().try_fold(0u32, |n, &d| d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0')))
    };
    NaiveDate::from_ymd_opt(number(0..4)? as i32, number(5..7)?, number(8..10)?)
}

const AUTO_DATES: &[&str] = &[
    "%Y-%m-%d",
    "%Y%m%d",
    "%Y/%m/%d",
    "%m/%d/%Y",
    "%d-%b-%Y",
    "%d %b %Y",
    "%b %d %Y",
    "%b-%d-%Y",
    "%Y.%m.%d",
    "%d.%m.%Y",
    "%m.%d.%Y",
    "%Y.%j",
    "%B %d, %Y",
    "%b %d, %Y",
];
/// Layouts of dates before Christ (the year as written, counted back).
const BC_DATES: &[&str] = &["%b-%d-%Y", "%Y-%m-%d", "%d %b %Y", "%b %d %Y", "%m/%d/%Y", "%B %d, %Y"];
const AUTO_TIMESTAMPS: &[&str] = &[
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M",
    "%Y/%m/%d %H:%M:%S%.f",
    "%m/%d/%Y %H:%M:%S%.f",
    "%Y%m%d %H:%M:%S%.f",
    "%Y%m%d %H%M%S",
    "%y%m%d %H%M%S",
    "%d %b %H:%M:%S %Y",
    "%d.%m.%Y %H:%M:%S%.f",
    "%m.%d.%Y %H:%M:%S%.f",
];
const AUTO_TIMESTAMPS_TZ: &[&str] =
    &["%Y-%m-%d %H:%M:%S%.f%#z", "%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%.f %#z", "%Y-%m-%dT%H:%M:%S%.fZ"];

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").unwrap()
    }

    #[test]
    fn auto_recognises_every_layout_of_redshift_s_list() {
        // docs.aws.amazon.com/redshift/latest/dg/automatic-recognition.html, in its order.
        let utc = |s: &str| at(s).and_utc().timestamp_micros();
        let cases = [
            ("2019-02-11T05:09:12.195Z", utc("2019-02-11 05:09:12.195")),
            ("J2451187", utc("1999-01-08 00:00:00")),
            ("19960108 040809", utc("1996-01-08 04:08:09")),
            ("960108 040809", utc("1996-01-08 04:08:09")),
            ("1996.008", utc("1996-01-08 00:00:00")),
            ("1996-01-08 04:05:06.789", utc("1996-01-08 04:05:06.789")),
            ("17 Dec 07:37:16 1997 PST", utc("1997-12-17 15:37:16")),
            ("12/17/1997 07:37:16.00 PST", utc("1997-12-17 15:37:16")),
            ("1997-12-17 07:37:16-08", utc("1997-12-17 15:37:16")),
            ("12.17.1997 07:37:16.00 PST", utc("1997-12-17 15:37:16")),
            // The reference's CAST example, and the issue's.
            ("J2345678 04:05:06.789", utc("1710-02-23 04:05:06.789")),
            ("20200216 143208", utc("2020-02-16 14:32:08")),
        ];
        for (text, expected) in cases {
            assert_eq!(auto_date_or_timestamp(text), Some(expected), "{text}");
        }
        let bc = auto_date("Jan-08-95 BC").unwrap();
        assert_eq!((bc.year(), bc.month(), bc.day()), (-94, 1, 8));
        assert_eq!(auto_date("J2345678"), NaiveDate::from_ymd_opt(1710, 2, 23));
        assert_eq!(auto_timestamp("17 Dec 07:37:16 1997 XYZ"), None);
    }

    #[test]
    fn formats_common_patterns() {
        let t = at("2019-05-07 15:04:09.123456");
        let cases = [
            ("YYYY-MM", "2019-05"),
            ("YYYY-MM-DD HH24:MI:SS", "2019-05-07 15:04:09"),
            ("HH12:MI AM", "03:04 PM"),
            ("Mon DD, YYYY", "May 07, 2019"),
            ("MON", "MAY"),
            ("Month|", "May      |"),
            ("FMMonth FMDD", "May 7"),
            ("DY Day D", "TUE Tuesday   3"),
            ("Q", "2"),
            ("DDD", "127"),
            ("MS US", "123 123456"),
            ("\"Quarter\" Q", "Quarter 2"),
            ("YY/MM/DD", "19/05/07"),
        ];
        for (format, expected) in cases {
            assert_eq!(DateFormat::parse(format).unwrap().format(&t), expected, "{format}");
        }
    }

    #[test]
    fn converts_to_chrono_for_parsing() {
        let f = DateFormat::parse("YYYY-MM-DD HH:MI:SS").unwrap().to_chrono().unwrap();
        assert_eq!(f, "%Y-%m-%d %H:%M:%S");
        assert_eq!(NaiveDateTime::parse_from_str("2024-03-01 17:05:09", &f).unwrap(), at("2024-03-01 17:05:09.0"));
        assert_eq!(DateFormat::parse("MM/DD/YYYY HH12:MI AM").unwrap().to_chrono().unwrap(), "%m/%d/%Y %I:%M %p");
        assert!(DateFormat::parse("YYYY Q").unwrap().to_chrono().is_none());
    }

    #[test]
    fn reads_dates_and_times_back() {
        let read = |text: &str, format: &str, strict: bool| {
            DateFormat::parse(format).unwrap().read(text, strict).map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        };
        assert_eq!(read("02 Oct 2001", "DD Mon YYYY", false).unwrap(), "2001-10-02 00:00:00");
        assert_eq!(read("20010631", "YYYYMMDD", false).unwrap(), "2001-07-01 00:00:00");
        assert_eq!(read("20010631", "YYYYMMDD", true).unwrap_err().to_string(), "date value out of range: 2001-6-31");
        assert_eq!(read("2017", "YYYY", false).unwrap(), "2017-01-01 00:00:00");
        assert_eq!(read("2011-12-18 24:38:15", "YYYY-MM-DD HH24:MI:SS", false).unwrap(), "2011-12-19 00:38:15");
        assert!(read("2011-12-18 24:38:15", "YYYY-MM-DD HH24:MI:SS", true).is_err());
        assert_eq!(read("", "", false).unwrap(), "0001-01-01 00:00:00");
        assert_eq!(read("05/07/19 3:04 pm", "MM/DD/YY HH12:MI AM", false).unwrap(), "2019-05-07 15:04:00");
        assert!(read("xx", "YYYY", false).is_err());
    }

    #[test]
    fn rejects_unterminated_quotes() {
        assert!(DateFormat::parse("YYYY \"oops").is_err());
    }
}
