//! Math functions that differ from DataFusion's: TRUNC (numbers keep their type; a timestamp
//! becomes its date). The rest of Redshift's math chapter is DataFusion's, under Redshift's
//! names (see `ALIASES` in the module above) or rewritten (`MOD`, `^`, `|/`, `||/`, `@`).

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, Date32Array, Decimal128Array, Float64Array};
use datafusion::arrow::datatypes::{DataType, Decimal128Type, Float64Type, Int64Type};
use datafusion::common::plan_err;
use datafusion::error::Result;
use datafusion::logical_expr::ScalarUDF;

use super::datetime::{date_of_micros, timestamps};
use super::{Udf, arity, int_arg, is_text};

pub(super) fn udfs() -> Vec<ScalarUDF> {
    vec![
        Udf::new("trunc", trunc_coerce, trunc_type, trunc).build(),
        Udf::new("ceil", round_coerce, round_type, |a, _| to_whole(&a[0], true)).aliases(&["ceiling"]).build(),
        Udf::new("floor", round_coerce, round_type, |a, _| to_whole(&a[0], false)).build(),
    ]
}

fn round_coerce(name: &str, types: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, types, 1..=1)?;
    Ok(vec![match &types[0] {
        t @ (DataType::Decimal128(..) | DataType::Float32) => t.clone(),
        DataType::Decimal256(p, s) => DataType::Decimal128((*p).min(38), *s),
        t if t.is_integer() => DataType::Int64,
        t if t.is_floating() || is_text(t) || matches!(t, DataType::Null) => DataType::Float64,
        other => return plan_err!("function {name} expects a number, not {other}"),
    }])
}

/// CEIL and FLOOR of a DECIMAL(p,s) are whole numbers: DECIMAL(p-s+1, 0).
fn round_type(types: &[DataType]) -> Result<DataType> {
    Ok(match &types[0] {
        DataType::Decimal128(p, s) => DataType::Decimal128(((*p as i8 - *s + 1).max(1) as u8).min(38), 0),
        other => other.clone(),
    })
}

fn to_whole(values: &ArrayRef, up: bool) -> Result<ArrayRef> {
    Ok(match values.data_type() {
        DataType::Decimal128(p, s) => {
            let unit = 10i128.pow((*s).max(0) as u32);
            let out = values
                .as_primitive::<Decimal128Type>()
                .iter()
                .map(|v| {
                    v.map(|v| {
                        let (q, r) = (v / unit, v % unit);
                        if r != 0 && ((up && v > 0) || (!up && v < 0)) { q + v.signum() } else { q }
                    })
                })
                .collect::<Decimal128Array>();
            let DataType::Decimal128(precision, _) = round_type(&[DataType::Decimal128(*p, *s)])? else {
                unreachable!("a decimal")
            };
            Arc::new(out.with_precision_and_scale(precision, 0)?)
        }
        DataType::Float32 => {
            let f = |v: f32| if up { v.ceil() } else { v.floor() };
            Arc::new(
                values
                    .as_primitive::<datafusion::arrow::datatypes::Float32Type>()
                    .unary::<_, datafusion::arrow::datatypes::Float32Type>(f),
            )
        }
        DataType::Float64 => {
            let f = |v: f64| if up { v.ceil() } else { v.floor() };
            Arc::new(values.as_primitive::<Float64Type>().unary::<_, Float64Type>(f))
        }
        _ => values.clone(),
    })
}

fn trunc_coerce(name: &str, types: &[DataType]) -> Result<Vec<DataType>> {
    arity(name, types, 1..=2)?;
    let value = match &types[0] {
        DataType::Timestamp(..) | DataType::Date32 | DataType::Date64 if types.len() == 1 => types[0].clone(),
        DataType::Decimal128(..) => types[0].clone(),
        DataType::Decimal256(p, s) => DataType::Decimal128((*p).min(38), *s),
        t if t.is_integer() => DataType::Int64,
        t if t.is_floating() || matches!(t, DataType::Null) => DataType::Float64,
        t if is_text(t) => DataType::Float64,
        other => return plan_err!("function {name} expects a number or a timestamp, not {other}"),
    };
    let mut out = vec![value];
    if types.len() == 2 {
        out.push(int_arg(name, &types[1])?);
    }
    Ok(out)
}

fn trunc_type(types: &[DataType]) -> Result<DataType> {
    Ok(match &types[0] {
        DataType::Timestamp(..) | DataType::Date32 | DataType::Date64 => DataType::Date32,
        other => other.clone(),
    })
}

/// `TRUNC(n [, places])` toward zero, and `TRUNC(timestamp)`: its date.
fn trunc(args: &[ArrayRef], _rows: usize) -> Result<ArrayRef> {
    let places = |i: usize| args.get(1).map_or(Some(0), |p| p.as_primitive::<Int64Type>().iter().nth(i).flatten());
    Ok(match args[0].data_type() {
        DataType::Timestamp(..) | DataType::Date32 | DataType::Date64 => {
            Arc::new(timestamps(&args[0])?.iter().map(|v| v.map(date_of_micros)).collect::<Date32Array>())
        }
        DataType::Decimal128(precision, scale) => {
            let values = args[0].as_primitive::<Decimal128Type>();
            let out = values
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let (v, keep) = (v?, places(i)?);
                    let drop = (*scale as i64 - keep).clamp(0, 38) as u32;
                    let unit = 10i128.pow(drop);
                    Some(v / unit * unit)
                })
                .collect::<Decimal128Array>();
            Arc::new(out.with_precision_and_scale(*precision, *scale)?)
        }
        DataType::Int64 => {
            let values = args[0].as_primitive::<Int64Type>();
            let out = values
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let (v, keep) = (v?, places(i)?);
                    let unit = 10i64.checked_pow((-keep).clamp(0, 18) as u32).unwrap_or(1);
                    Some(v / unit * unit)
                })
                .collect::<datafusion::arrow::array::Int64Array>();
            Arc::new(out)
        }
        _ => {
            let values = args[0].as_primitive::<Float64Type>();
            let out = values
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let (v, keep) = (v?, places(i)?);
                    let unit = 10f64.powi(keep.clamp(-308, 308) as i32);
                    Some((v * unit).trunc() / unit)
                })
                .collect::<Float64Array>();
            Arc::new(out)
        }
    })
}
