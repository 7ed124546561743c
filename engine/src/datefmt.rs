//! Redshift (PostgreSQL) datetime format strings: `YYYY-MM-DD HH24:MI:SS`, `Mon DD`, `FMMonth`...
//! Used by `TO_CHAR` and by COPY's `DATEFORMAT`/`TIMEFORMAT`.

use chrono::{Datelike, NaiveDateTime, Timelike};

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
const DAYS: [&str; 7] = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];

/// Patterns, longest first so that `HH24` wins over `HH` and `MONTH` over `MON`/`MM`.
const PATTERNS: &[(&str, Field)] = &[
    ("YYYY", Field::Year4),
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
                    Field::Quarter | Field::WeekOfYear | Field::IsoWeek | Field::DayOfWeek => return None,
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").unwrap()
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
    fn rejects_unterminated_quotes() {
        assert!(DateFormat::parse("YYYY \"oops").is_err());
    }
}
