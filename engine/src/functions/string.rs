//! String functions and pattern matching that DataFusion lacks or does differently: REGEXP_*
//! with Redshift's arguments (position, occurrence, `c`/`i`/`p`/`e` parameters), STRTOL,
//! SOUNDEX and DIFFERENCE, OCTETINDEX, QUOTE_IDENT/QUOTE_LITERAL, BPCHARCMP, the truncation of
//! explicit casts to `varchar(n)`, and SIMILAR TO's patterns.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int32Array, Int64Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::error::Result;
use datafusion::logical_expr::ScalarUDF;
use regex::{Regex, RegexBuilder};

use super::{Udf, arity, exec_error, float_arg, int_arg};

pub(super) fn udfs() -> Vec<ScalarUDF> {
    vec![
        Udf::new("regexp_substr", regexp_coerce(2..=5), |_| Ok(DataType::Utf8), regexp_substr).build(),
        Udf::new("regexp_replace", regexp_replace_coerce, |_| Ok(DataType::Utf8), regexp_replace).build(),
        Udf::new("regexp_instr", regexp_coerce(2..=6), |_| Ok(DataType::Int32), regexp_instr).build(),
        Udf::new("regexp_count", regexp_coerce(2..=4), |_| Ok(DataType::Int32), regexp_count).build(),
        Udf::new("strtol", strtol_coerce, |_| Ok(DataType::Int64), strtol).build(),
        Udf::new(
            "soundex",
            texts(1),
            |_| Ok(DataType::Utf8),
            |a, _| Ok(Arc::new(a[0].as_string::<i32>().iter().map(|s| s.map(soundex)).collect::<StringArray>())),
        )
        .build(),
        Udf::new(
            "difference",
            texts(2),
            |_| Ok(DataType::Int32),
            |a, _| {
                let (x, y) = (a[0].as_string::<i32>(), a[1].as_string::<i32>());
                Ok(Arc::new(x.iter().zip(y.iter()).map(|(x, y)| Some(difference(x?, y?))).collect::<Int32Array>()))
            },
        )
        .build(),
        Udf::new(
            "octetindex",
            texts(2),
            |_| Ok(DataType::Int32),
            |a, _| {
                let (needle, haystack) = (a[0].as_string::<i32>(), a[1].as_string::<i32>());
                Ok(Arc::new(
                    needle
                        .iter()
                        .zip(haystack.iter())
                        .map(|(n, h)| Some(h?.find(n?).map_or(0, |p| p as i32 + 1)))
                        .collect::<Int32Array>(),
                ))
            },
        )
        .build(),
        Udf::new(
            "quote_ident",
            texts(1),
            |_| Ok(DataType::Utf8),
            |a, _| Ok(Arc::new(a[0].as_string::<i32>().iter().map(|s| s.map(quote_ident)).collect::<StringArray>())),
        )
        .build(),
        Udf::new(
            "quote_literal",
            texts(1),
            |_| Ok(DataType::Utf8),
            |a, _| {
                let quote = |s: &str| format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''"));
                Ok(Arc::new(a[0].as_string::<i32>().iter().map(|s| s.map(quote)).collect::<StringArray>()))
            },
        )
        .build(),
        Udf::new("bpcharcmp", texts(2), |_| Ok(DataType::Int32), compare_blank_padded)
            .aliases(&["bttext_pattern_cmp"])
            .build(),
        // `CAST(x AS VARCHAR(n))`: Redshift cuts the text to n bytes (on a character boundary).
        Udf::new(
            "tarn_varchar",
            truncate_coerce,
            |_| Ok(DataType::Utf8),
            |a, _| {
                let (values, limits) = (a[0].as_string::<i32>(), a[1].as_primitive::<Int64Type>());
                let out = values
                    .iter()
                    .zip(limits.iter())
                    .map(|(v, n)| Some(crate::copy::truncate(v?, n?.max(0) as usize).to_string()))
                    .collect::<StringArray>();
                Ok(Arc::new(out))
            },
        )
        .build(),
        // `x SIMILAR TO pattern [ESCAPE c]` is rewritten to a match of the whole string against
        // the regular expression this builds.
        Udf::new(
            "tarn_similar_to_regex",
            similar_coerce,
            |_| Ok(DataType::Utf8),
            |a, _| {
                let patterns = a[0].as_string::<i32>();
                let escapes = a.get(1).map(|e| e.as_string::<i32>());
                let out = (0..patterns.len())
                    .map(|i| {
                        if patterns.is_null(i) || escapes.is_some_and(|e| e.is_null(i)) {
                            return Ok(None);
                        }
                        let escape = match escapes {
                            Some(e) => {
                                let text = e.value(i);
                                let mut chars = text.chars();
                                match (chars.next(), chars.next()) {
                                    (c, None) => c,
                                    _ => {
                                        return Err(exec_error(format!(
                                            "invalid escape string \"{text}\": it must be one character"
                                        )));
                                    }
                                }
                            }
                            None => Some('\\'),
                        };
                        Ok(Some(similar_to_regex(patterns.value(i), escape)))
                    })
                    .collect::<Result<StringArray>>()?;
                Ok(Arc::new(out))
            },
        )
        .build(),
        // `x LIKE pattern ESCAPE c` with a pattern known only when the query runs: the pattern
        // rewritten to escape with a backslash, as DataFusion's LIKE does.
        Udf::new(
            "tarn_like_escape",
            texts(2),
            |_| Ok(DataType::Utf8),
            |a, _| {
                let (patterns, escapes) = (a[0].as_string::<i32>(), a[1].as_string::<i32>());
                let out = (0..patterns.len())
                    .map(|i| {
                        if patterns.is_null(i) || escapes.is_null(i) {
                            return Ok(None);
                        }
                        let text = escapes.value(i);
                        let mut chars = text.chars();
                        match (chars.next(), chars.next()) {
                            (Some(escape), None) => {
                                Ok(Some(crate::sql::rewrite::backslash_escaped(patterns.value(i), escape)))
                            }
                            _ => Err(exec_error(format!("invalid escape string \"{text}\": it must be one character"))),
                        }
                    })
                    .collect::<Result<StringArray>>()?;
                Ok(Arc::new(out))
            },
        )
        .build(),
        Udf::new(
            "tarn_regexp_match",
            texts(2),
            |_| Ok(DataType::Boolean),
            |a, _| {
                let (values, patterns) = (a[0].as_string::<i32>(), a[1].as_string::<i32>());
                let mut cache = RegexCache::default();
                let out = (0..values.len())
                    .map(|i| {
                        if values.is_null(i) || patterns.is_null(i) {
                            return Ok(None);
                        }
                        Ok(Some(cache.get(patterns.value(i), "")?.is_match(values.value(i))))
                    })
                    .collect::<Result<BooleanArray>>()?;
                Ok(Arc::new(out))
            },
        )
        .build(),
        Udf::new(
            "sqrt",
            |name, types| {
                arity(name, types, 1..=1)?;
                Ok(vec![float_arg(name, &types[0])?])
            },
            |_| Ok(DataType::Float64),
            |a, _| {
                let values = a[0].as_primitive::<datafusion::arrow::datatypes::Float64Type>();
                Ok(Arc::new(
                    values.iter().map(|v| v.map(f64::sqrt)).collect::<datafusion::arrow::array::Float64Array>(),
                ))
            },
        )
        .build(),
    ]
}

/// Coercion of `n` text arguments.
fn texts(n: usize) -> fn(&str, &[DataType]) -> Result<Vec<DataType>> {
    match n {
        1 => |name, types| {
            arity(name, types, 1..=1)?;
            Ok(vec![DataType::Utf8])
        },
        _ => |name, types| {
            arity(name, types, 2..=2)?;
            Ok(vec![DataType::Utf8, DataType::Utf8])
        },
    }
}

fn truncate_coerce(name: &str, types: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, types, 2..=2)?;
    Ok(vec![DataType::Utf8, DataType::Int64])
}

fn similar_coerce(name: &str, types: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, types, 1..=2)?;
    Ok(vec![DataType::Utf8; types.len()])
}

// ---- regular expressions -------------------------------------------------------------------

/// REGEXP_SUBSTR/INSTR/COUNT: (source, pattern, [position, [occurrence, [option,]]] [params]).
/// Arguments after the pattern are integers, but for the last one, which is the parameters.
fn regexp_coerce(range: std::ops::RangeInclusive<usize>) -> fn(&str, &[DataType]) -> Result<Vec<DataType>> {
    fn coerce(name: &str, types: &[DataType], max: usize) -> Result<Vec<DataType>> {
        arity(name, types, 2..=max)?;
        let mut out = vec![DataType::Utf8, DataType::Utf8];
        for (i, t) in types.iter().enumerate().skip(2) {
            let is_params = i == max - 1 || (super::is_text(t) && !matches!(t, DataType::Null));
            out.push(if is_params { DataType::Utf8 } else { int_arg(name, t)? });
        }
        Ok(out)
    }
    match *range.end() {
        4 => |n, t| coerce(n, t, 4),
        5 => |n, t| coerce(n, t, 5),
        _ => |n, t| coerce(n, t, 6),
    }
}

fn regexp_replace_coerce(name: &str, types: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, types, 2..=5)?;
    let mut out = vec![DataType::Utf8, DataType::Utf8];
    for (i, t) in types.iter().enumerate().skip(2) {
        out.push(match i {
            2 => DataType::Utf8,
            3 if super::is_text(t) && !matches!(t, DataType::Null) => DataType::Utf8,
            3 => int_arg(name, t)?,
            _ => DataType::Utf8,
        });
    }
    Ok(out)
}

/// The last compiled pattern, for the usual case of a constant pattern.
#[derive(Default)]
struct RegexCache {
    last: Option<(String, String, Regex)>,
}

impl RegexCache {
    fn get(&mut self, pattern: &str, params: &str) -> Result<&Regex> {
        let fresh = !matches!(&self.last, Some((p, f, _)) if p == pattern && f == params);
        if fresh {
            let mut builder = RegexBuilder::new(pattern);
            for flag in params.chars() {
                match flag {
                    'i' => builder.case_insensitive(true),
                    'c' => builder.case_insensitive(false),
                    // PCRE and "return the subexpression": the pattern syntax is the same here.
                    'p' | 'e' => &mut builder,
                    'm' | 'n' => builder.multi_line(true),
                    's' => builder.dot_matches_new_line(true),
                    other => {
                        return Err(exec_error(format!("invalid regular expression parameter '{other}' (c, i, p, e)")));
                    }
                };
            }
            let regex = builder.size_limit(1 << 22).build().map_err(|e| {
                exec_error(format!(
                    "invalid regular expression '{pattern}': {}",
                    e.to_string().lines().last().unwrap_or("")
                ))
            })?;
            self.last = Some((pattern.to_string(), params.to_string(), regex));
        }
        Ok(&self.last.as_ref().expect("just compiled").2)
    }
}

/// Arguments of REGEXP_SUBSTR/INSTR/COUNT at one row.
struct RegexpArgs<'a> {
    source: &'a str,
    pattern: &'a str,
    position: i64,
    occurrence: i64,
    option: i64,
    params: &'a str,
}

/// Reads row `i`'s arguments: the integers in order, then the parameters (`None` for NULLs).
fn regexp_args<'a>(args: &'a [ArrayRef], i: usize, integers: &[&str]) -> Option<RegexpArgs<'a>> {
    if args.iter().any(|a| a.is_null(i)) {
        return None;
    }
    let mut out = RegexpArgs {
        source: args[0].as_string::<i32>().value(i),
        pattern: args[1].as_string::<i32>().value(i),
        position: 1,
        occurrence: 1,
        option: 0,
        params: "",
    };
    let mut names = integers.iter();
    for a in &args[2..] {
        match a.data_type() {
            DataType::Utf8 => out.params = a.as_string::<i32>().value(i),
            _ => {
                let v = a.as_primitive::<Int64Type>().value(i);
                match names.next() {
                    Some(&"position") => out.position = v,
                    Some(&"occurrence") => out.occurrence = v,
                    _ => out.option = v,
                }
            }
        }
    }
    Some(out)
}

/// The byte offset of 1-based character `position` in `source` (`None` past the end).
fn start_at(source: &str, position: i64) -> Option<usize> {
    let skip = (position.max(1) - 1) as usize;
    if skip == 0 {
        return Some(0);
    }
    source.char_indices().nth(skip).map(|(b, _)| b).or((source.chars().count() == skip).then_some(source.len()))
}

/// The `occurrence`th match at or after `start` (a match of the first subexpression with `e`).
fn nth_match(
    regex: &Regex,
    source: &str,
    start: usize,
    occurrence: i64,
    subexpression: bool,
) -> Option<(usize, usize)> {
    let occurrence = occurrence.max(1) as usize;
    let captures = regex.captures_iter(&source[start..]).nth(occurrence - 1)?;
    let m = if subexpression { captures.get(1).or_else(|| captures.get(0))? } else { captures.get(0)? };
    Some((start + m.start(), start + m.end()))
}

fn regexp_substr(args: &[ArrayRef], _rows: usize) -> Result<ArrayRef> {
    let mut cache = RegexCache::default();
    let out = (0..args[0].len())
        .map(|i| {
            let Some(a) = regexp_args(args, i, &["position", "occurrence"]) else { return Ok(None) };
            let regex = cache.get(a.pattern, a.params)?;
            let Some(start) = start_at(a.source, a.position) else { return Ok(Some(String::new())) };
            Ok(nth_match(regex, a.source, start, a.occurrence, a.params.contains('e'))
                .map(|(s, e)| a.source[s..e].to_string()))
        })
        .collect::<Result<StringArray>>()?;
    Ok(Arc::new(out))
}

fn regexp_instr(args: &[ArrayRef], _rows: usize) -> Result<ArrayRef> {
    let mut cache = RegexCache::default();
    let out = (0..args[0].len())
        .map(|i| {
            let Some(a) = regexp_args(args, i, &["position", "occurrence", "option"]) else { return Ok(None) };
            let regex = cache.get(a.pattern, a.params)?;
            let Some(start) = start_at(a.source, a.position) else { return Ok(Some(0)) };
            Ok(Some(match nth_match(regex, a.source, start, a.occurrence, a.params.contains('e')) {
                // 1-based character positions: of the match, or just after it with option 1.
                Some((s, e)) => {
                    let at = if a.option == 1 { e } else { s };
                    a.source[..at].chars().count() as i32 + 1
                }
                None => 0,
            }))
        })
        .collect::<Result<Int32Array>>()?;
    Ok(Arc::new(out))
}

fn regexp_count(args: &[ArrayRef], _rows: usize) -> Result<ArrayRef> {
    let mut cache = RegexCache::default();
    let out = (0..args[0].len())
        .map(|i| {
            let Some(a) = regexp_args(args, i, &["position"]) else { return Ok(None) };
            let regex = cache.get(a.pattern, a.params)?;
            Ok(Some(match start_at(a.source, a.position) {
                Some(start) => regex.find_iter(&a.source[start..]).count() as i32,
                None => 0,
            }))
        })
        .collect::<Result<Int32Array>>()?;
    Ok(Arc::new(out))
}

/// `REGEXP_REPLACE(source, pattern [, replacement [, position [, params]]])`: every match from
/// `position` on; `\1` in the replacement is the first subexpression.
fn regexp_replace(args: &[ArrayRef], _rows: usize) -> Result<ArrayRef> {
    let mut cache = RegexCache::default();
    fn text(i: usize, a: Option<&ArrayRef>) -> Option<Option<&str>> {
        a.map(|a| (!a.is_null(i)).then(|| a.as_string::<i32>().value(i)))
    }
    let out = (0..args[0].len())
        .map(|i| {
            if args[0].is_null(i) || args[1].is_null(i) {
                return Ok(None);
            }
            let (source, pattern) = (args[0].as_string::<i32>().value(i), args[1].as_string::<i32>().value(i));
            let replacement = match text(i, args.get(2)) {
                Some(None) => return Ok(None),
                Some(Some(r)) => r,
                None => "",
            };
            let (mut position, mut params) = (1, "");
            for a in args.iter().skip(3) {
                if a.is_null(i) {
                    return Ok(None);
                }
                match a.data_type() {
                    DataType::Utf8 => params = a.as_string::<i32>().value(i),
                    _ => position = a.as_primitive::<Int64Type>().value(i),
                }
            }
            let regex = cache.get(pattern, params)?;
            let Some(start) = start_at(source, position) else { return Ok(Some(source.to_string())) };
            let replacement = backreferences(replacement);
            Ok(Some(format!("{}{}", &source[..start], regex.replace_all(&source[start..], replacement.as_str()))))
        })
        .collect::<Result<StringArray>>()?;
    Ok(Arc::new(out))
}

/// A replacement with `\1`-style references in the regex crate's `${1}` syntax.
fn backreferences(replacement: &str) -> String {
    let mut out = String::with_capacity(replacement.len());
    let mut chars = replacement.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '$' => out.push_str("$$"),
            '\\' => match chars.peek() {
                Some(d) if d.is_ascii_digit() => {
                    out.push_str(&format!("${{{d}}}"));
                    chars.next();
                }
                Some('\\') => {
                    out.push('\\');
                    chars.next();
                }
                _ => out.push('\\'),
            },
            other => out.push(other),
        }
    }
    out
}

/// A SQL `SIMILAR TO` pattern as a regular expression matching the whole string.
fn similar_to_regex(pattern: &str, escape: Option<char>) -> String {
    let mut out = String::from("^(?:");
    let mut chars = pattern.chars();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        if Some(c) == escape {
            if let Some(next) = chars.next() {
                out.push_str(&regex::escape(&next.to_string()));
            }
            continue;
        }
        match c {
            '[' => {
                in_class = true;
                out.push('[');
            }
            ']' => {
                in_class = false;
                out.push(']');
            }
            _ if in_class => out.push(c),
            '%' => out.push_str(".*"),
            '_' => out.push('.'),
            '|' | '*' | '+' | '?' | '{' | '}' | '(' | ')' => out.push(c),
            other => out.push_str(&regex::escape(&other.to_string())),
        }
    }
    out.push_str(")$");
    out
}

// ---- STRTOL --------------------------------------------------------------------------------

fn strtol_coerce(name: &str, types: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, types, 2..=2)?;
    Ok(vec![DataType::Utf8, int_arg(name, &types[1])?])
}

/// `STRTOL(text, base)`: leading blanks and a sign allowed, `0x` in base 16, empty text is 0.
fn strtol(args: &[ArrayRef], _rows: usize) -> Result<ArrayRef> {
    let (texts, bases) = (args[0].as_string::<i32>(), args[1].as_primitive::<Int64Type>());
    let out = texts
        .iter()
        .zip(bases.iter())
        .map(|(t, base)| {
            let (Some(t), Some(base)) = (t, base) else { return Ok(None) };
            if !(2..=36).contains(&base) {
                return Err(exec_error(format!("strtol: base {base} is not between 2 and 36")));
            }
            let trimmed = t.trim_start();
            if trimmed.is_empty() {
                return Ok(Some(0));
            }
            let (negative, digits) = match trimmed.as_bytes()[0] {
                b'-' => (true, &trimmed[1..]),
                b'+' => (false, &trimmed[1..]),
                _ => (false, trimmed),
            };
            let digits = if base == 16 {
                digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0X")).unwrap_or(digits)
            } else {
                digits
            };
            let value = i64::from_str_radix(digits.trim_end(), base as u32)
                .map_err(|e| exec_error(format!("strtol: \"{t}\" is not a base {base} number ({e})")))?;
            Ok(Some(if negative { -value } else { value }))
        })
        .collect::<Result<Int64Array>>()?;
    Ok(Arc::new(out))
}

// ---- SOUNDEX, DIFFERENCE ---------------------------------------------------------------------

/// American Soundex of the ASCII letters (other characters are skipped); `''` without letters.
fn soundex(text: &str) -> String {
    let code = |c: char| match c.to_ascii_uppercase() {
        'B' | 'F' | 'P' | 'V' => '1',
        'C' | 'G' | 'J' | 'K' | 'Q' | 'S' | 'X' | 'Z' => '2',
        'D' | 'T' => '3',
        'L' => '4',
        'M' | 'N' => '5',
        'R' => '6',
        'H' | 'W' => '-',
        _ => '0',
    };
    let mut letters = text.chars().filter(|c| c.is_ascii_alphabetic());
    let Some(first) = letters.next() else { return String::new() };
    let mut out = String::from(first.to_ascii_uppercase());
    let mut last = code(first);
    for c in letters {
        let digit = code(c);
        match digit {
            // H and W do not separate letters of the same code.
            '-' => continue,
            '0' => last = '0',
            d if d != last => {
                out.push(d);
                last = d;
            }
            _ => {}
        }
        if out.len() == 4 {
            break;
        }
    }
    while out.len() < 4 {
        out.push('0');
    }
    out
}

/// How many of the four Soundex characters agree: 0 if one string has no letters, 1 if neither.
fn difference(a: &str, b: &str) -> i32 {
    let (x, y) = (soundex(a), soundex(b));
    match (x.is_empty(), y.is_empty()) {
        (true, true) => 1,
        (true, false) | (false, true) => 0,
        _ => x.chars().zip(y.chars()).filter(|(a, b)| a == b).count() as i32,
    }
}

fn quote_ident(name: &str) -> String {
    let plain = name.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '$');
    if plain { name.to_string() } else { format!("\"{}\"", name.replace('"', "\"\"")) }
}

/// BPCHARCMP: -1, 0 or 1, comparing without trailing blanks.
fn compare_blank_padded(args: &[ArrayRef], _rows: usize) -> Result<ArrayRef> {
    let (a, b) = (args[0].as_string::<i32>(), args[1].as_string::<i32>());
    let out = a
        .iter()
        .zip(b.iter())
        .map(|(a, b)| Some(a?.trim_end_matches(' ').cmp(b?.trim_end_matches(' ')) as i32))
        .collect::<Int32Array>();
    Ok(Arc::new(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soundex_and_difference_as_documented() {
        assert_eq!(soundex("Amazon"), "A525");
        assert_eq!(soundex("AWS Amazon"), "A252");
        assert_eq!(soundex("+-*/%"), "");
        assert_eq!(difference("AC/DC", "Ay See Dee See"), 4);
        assert_eq!(difference("Amazon", "+-*/%"), 0);
    }

    #[test]
    fn similar_to_patterns() {
        let matches = |s: &str, p: &str| Regex::new(&similar_to_regex(p, Some('\\'))).unwrap().is_match(s);
        assert!(matches("xyz", "x%"));
        assert!(!matches("axyz", "x%"));
        assert!(matches("Agoura Hills", "%E%|%H%"));
        assert!(matches("abc", "(a|b)bc"));
        assert!(matches("a.c", "a.c") && !matches("abc", "a.c"));
    }

    #[test]
    fn replacement_references() {
        assert_eq!(backreferences(r"<\1>$"), "<${1}>$$");
    }
}
