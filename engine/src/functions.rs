//! SQL functions whose Redshift behaviour differs from DataFusion's.

use std::sync::Arc;

use chrono::DateTime;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimeUnit, TimestampMicrosecondType};
use datafusion::common::{ScalarValue, exec_err};
use datafusion::error::Result;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};
use datafusion::prelude::SessionContext;

use crate::datefmt::DateFormat;

pub(crate) fn register(ctx: &SessionContext) {
    ctx.register_udf(ScalarUDF::from(ToChar::new()));
}

/// `TO_CHAR(timestamp|date, 'YYYY-MM-DD ...')` with Redshift/PostgreSQL format patterns
/// (DataFusion's own `to_char` takes chrono `%Y` patterns).
#[derive(Debug, PartialEq, Eq, Hash)]
struct ToChar {
    signature: Signature,
}

impl ToChar {
    fn new() -> Self {
        ToChar { signature: Signature::any(2, Volatility::Immutable) }
    }
}

impl ScalarUDFImpl for ToChar {
    fn name(&self) -> &str {
        "to_char"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        match &arg_types[0] {
            DataType::Timestamp(..) | DataType::Date32 | DataType::Date64 | DataType::Null => Ok(DataType::Utf8),
            other => {
                exec_err!("not supported yet: to_char of {other} values (timestamps and dates are)")
            }
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let all_scalar = args.args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let [value, format] = args.args.as_slice() else {
            return exec_err!("to_char takes two arguments");
        };
        let values = micros_utc(&value.to_array(rows)?)?;
        let values = values.as_primitive::<TimestampMicrosecondType>();
        let mut out = StringBuilder::with_capacity(values.len(), values.len() * 16);
        match format {
            ColumnarValue::Scalar(s) => match scalar_text(s)? {
                None => (0..values.len()).for_each(|_| out.append_null()),
                Some(text) => {
                    let format = DateFormat::parse(&text).map_err(to_df)?;
                    for v in values.iter() {
                        out.append_option(v.map(|v| render(&format, v)).transpose()?);
                    }
                }
            },
            ColumnarValue::Array(formats) => {
                let formats = cast(formats, &DataType::Utf8)?;
                for (v, f) in values.iter().zip(formats.as_string::<i32>().iter()) {
                    match (v, f) {
                        (Some(v), Some(f)) => out.append_value(render(&DateFormat::parse(f).map_err(to_df)?, v)?),
                        _ => out.append_null(),
                    }
                }
            }
        }
        let result: ArrayRef = Arc::new(out.finish());
        if all_scalar {
            Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&result, 0)?))
        } else {
            Ok(ColumnarValue::Array(result))
        }
    }
}

fn to_df(e: crate::Error) -> datafusion::error::DataFusionError {
    datafusion::error::DataFusionError::Execution(e.to_string())
}

fn scalar_text(s: &ScalarValue) -> Result<Option<String>> {
    match s {
        ScalarValue::Utf8(v) | ScalarValue::Utf8View(v) | ScalarValue::LargeUtf8(v) => Ok(v.clone()),
        ScalarValue::Null => Ok(None),
        other => exec_err!("to_char format must be text, not {}", other.data_type()),
    }
}

/// Microseconds since the epoch, in UTC, of a timestamp or date array.
fn micros_utc(array: &ArrayRef) -> Result<ArrayRef> {
    let target = match array.data_type() {
        // Keep the zone: the stored value is already UTC.
        DataType::Timestamp(_, tz) => DataType::Timestamp(TimeUnit::Microsecond, tz.clone()),
        _ => DataType::Timestamp(TimeUnit::Microsecond, None),
    };
    let cast_array = cast(array, &target)?;
    // Drop the zone without converting the values.
    Ok(cast_array
        .to_data()
        .into_builder()
        .data_type(DataType::Timestamp(TimeUnit::Microsecond, None))
        .build()
        .map(datafusion::arrow::array::make_array)?)
}

fn render(format: &DateFormat, micros: i64) -> Result<String> {
    match DateTime::from_timestamp_micros(micros) {
        Some(t) => Ok(format.format(&t.naive_utc())),
        None => exec_err!("timestamp out of range: {micros} microseconds"),
    }
}
