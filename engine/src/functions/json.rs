//! JSON functions over VARCHAR text: IS_VALID_JSON, IS_VALID_JSON_ARRAY, CAN_JSON_PARSE,
//! JSON_ARRAY_LENGTH, JSON_EXTRACT_ARRAY_ELEMENT_TEXT, JSON_EXTRACT_PATH_TEXT.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int32Array, StringArray};
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::common::plan_err;
use datafusion::error::Result;
use datafusion::logical_expr::ScalarUDF;
use serde_json::Value;

use super::{Udf, arity, bool_arg, exec_error, int_arg, is_text};

pub(super) fn udfs() -> Vec<ScalarUDF> {
    vec![
        Udf::new("is_valid_json", one_text, |_| Ok(DataType::Boolean), |a, _| Ok(validity(&a[0], |v| v.is_object())))
            .build(),
        Udf::new(
            "is_valid_json_array",
            one_text,
            |_| Ok(DataType::Boolean),
            |a, _| Ok(validity(&a[0], Value::is_array)),
        )
        .build(),
        Udf::new("can_json_parse", one_text, |_| Ok(DataType::Boolean), |a, _| Ok(validity(&a[0], |_| true))).build(),
        Udf::new("json_array_length", array_length_coerce, |_| Ok(DataType::Int32), json_array_length).build(),
        Udf::new(
            "json_extract_array_element_text",
            element_coerce,
            |_| Ok(DataType::Utf8),
            json_extract_array_element_text,
        )
        .build(),
        Udf::new("json_extract_path_text", path_coerce, |_| Ok(DataType::Utf8), json_extract_path_text).build(),
    ]
}

fn one_text(name: &str, types: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, types, 1..=1)?;
    Ok(vec![DataType::Utf8])
}

fn validity(texts: &ArrayRef, test: impl Fn(&Value) -> bool) -> ArrayRef {
    let texts = texts.as_string::<i32>();
    Arc::new(
        texts
            .iter()
            .map(|t| t.map(|t| serde_json::from_str::<Value>(t).is_ok_and(|v| test(&v))))
            .collect::<BooleanArray>(),
    )
}

/// Parses one row's JSON; invalid JSON is an error, or NULL when `null_if_invalid`.
fn parse(name: &str, text: &str, null_if_invalid: bool) -> Result<Option<Value>> {
    match serde_json::from_str::<Value>(text) {
        Ok(v) => Ok(Some(v)),
        Err(_) if null_if_invalid => Ok(None),
        Err(e) => Err(exec_error(format!("{name}: invalid JSON \"{}\": {e}", shorten(text)))),
    }
}

fn shorten(text: &str) -> String {
    match text.char_indices().nth(60) {
        Some((i, _)) => format!("{}...", &text[..i]),
        None => text.to_string(),
    }
}

fn flag(flags: Option<&ArrayRef>, i: usize) -> bool {
    flags.is_some_and(|f| !f.is_null(i) && f.as_boolean().value(i))
}

/// A JSON value as text: strings without their quotes, anything else as JSON.
fn as_text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

fn array_length_coerce(name: &str, types: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, types, 1..=2)?;
    let mut out = vec![DataType::Utf8];
    if types.len() == 2 {
        out.push(bool_arg(name, &types[1])?);
    }
    Ok(out)
}

fn json_array_length(args: &[ArrayRef], _rows: usize) -> Result<ArrayRef> {
    let texts = args[0].as_string::<i32>();
    let out = (0..texts.len())
        .map(|i| {
            if texts.is_null(i) {
                return Ok(None);
            }
            let lenient = flag(args.get(1), i);
            match parse("json_array_length", texts.value(i), lenient)? {
                Some(Value::Array(items)) => Ok(Some(items.len() as i32)),
                Some(_) if lenient => Ok(None),
                Some(_) => {
                    Err(exec_error(format!("json_array_length: \"{}\" is not a JSON array", shorten(texts.value(i)))))
                }
                None => Ok(None),
            }
        })
        .collect::<Result<Int32Array>>()?;
    Ok(Arc::new(out))
}

fn element_coerce(name: &str, types: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, types, 2..=3)?;
    let mut out = vec![DataType::Utf8, int_arg(name, &types[1])?];
    if types.len() == 3 {
        out.push(bool_arg(name, &types[2])?);
    }
    Ok(out)
}

/// The element at a 0-based position of a JSON array, as text; NULL out of bounds.
fn json_extract_array_element_text(args: &[ArrayRef], _rows: usize) -> Result<ArrayRef> {
    let (texts, positions) = (args[0].as_string::<i32>(), args[1].as_primitive::<Int64Type>());
    let out = (0..texts.len())
        .map(|i| {
            if texts.is_null(i) || positions.is_null(i) {
                return Ok(None);
            }
            let lenient = flag(args.get(2), i);
            match parse("json_extract_array_element_text", texts.value(i), lenient)? {
                Some(Value::Array(items)) => {
                    Ok(usize::try_from(positions.value(i)).ok().and_then(|p| items.get(p)).and_then(as_text))
                }
                Some(_) if lenient => Ok(None),
                Some(_) => Err(exec_error(format!(
                    "json_extract_array_element_text: \"{}\" is not a JSON array",
                    shorten(texts.value(i))
                ))),
                None => Ok(None),
            }
        })
        .collect::<Result<StringArray>>()?;
    Ok(Arc::new(out))
}

/// `(json, key1 [, key2 ...] [, null_if_invalid])`: keys are text, the flag a boolean.
fn path_coerce(name: &str, types: &[DataType]) -> Result<Vec<DataType>> {
    if types.len() < 2 {
        return plan_err!("function {name} takes the JSON text and at least one key");
    }
    let last = types.len() - 1;
    types
        .iter()
        .enumerate()
        .map(|(i, t)| match t {
            DataType::Boolean if i == last && i >= 2 => Ok(DataType::Boolean),
            t if is_text(t) => Ok(DataType::Utf8),
            other => plan_err!("function {name} expects text keys, not {other}"),
        })
        .collect()
}

/// The value at a path of keys, as text; NULL when the path is missing.
fn json_extract_path_text(args: &[ArrayRef], _rows: usize) -> Result<ArrayRef> {
    let texts = args[0].as_string::<i32>();
    let (keys, flags) = match args.last() {
        Some(last) if last.data_type() == &DataType::Boolean && args.len() > 2 => {
            (&args[1..args.len() - 1], Some(last))
        }
        _ => (&args[1..], None),
    };
    let keys: Vec<_> = keys.iter().map(|k| k.as_string::<i32>()).collect();
    let out = (0..texts.len())
        .map(|i| {
            if texts.is_null(i) || keys.iter().any(|k| k.is_null(i)) {
                return Ok(None);
            }
            let Some(mut value) = parse("json_extract_path_text", texts.value(i), flag(flags, i))? else {
                return Ok(None);
            };
            for key in &keys {
                let key = key.value(i);
                let next = match &mut value {
                    Value::Object(map) => map.remove(key),
                    Value::Array(items) => {
                        key.parse::<usize>().ok().filter(|p| *p < items.len()).map(|p| items.swap_remove(p))
                    }
                    _ => None,
                };
                match next {
                    Some(v) => value = v,
                    None => return Ok(None),
                }
            }
            Ok(as_text(&value))
        })
        .collect::<Result<StringArray>>()?;
    Ok(Arc::new(out))
}
