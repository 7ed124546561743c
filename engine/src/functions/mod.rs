//! Redshift's SQL function library, as DataFusion functions.
//!
//! One module per chapter of Redshift's function reference. Most functions are scalar UDFs
//! built with [`Udf`]: a name, how arguments are coerced, the result type, and a function over
//! whole arrays. Syntax that is not a plain call (`DECODE`, `NVL2`, `LISTAGG ... WITHIN GROUP`,
//! `RATIO_TO_REPORT`, datepart keywords) is rewritten in [`crate::sql::rewrite`]. [`REFERENCE`]
//! lists every function of the reference with what tarn does with it (the README's table).

mod aggregate;
mod datetime;
mod format;
mod hash;
mod json;
mod math;
mod reference;
mod string;

use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, TimeUnit};
use datafusion::common::{ScalarValue, plan_err};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;

pub(crate) use datetime::{TransactionClock, date_plus_time};
pub(crate) use reference::not_supported;
pub use reference::{REFERENCE, Status, markdown_table};

/// Registers tarn's functions with a session. `clock` tells when the session's transaction began
/// (`SYSDATE`, `CURRENT_DATE`).
pub(crate) fn register(ctx: &SessionContext, clock: Arc<TransactionClock>) {
    let state = ctx.state();
    let existing = |name: &str| state.scalar_functions().get(name).cloned();
    let mut udfs = Vec::new();
    udfs.extend(datetime::udfs(clock));
    udfs.extend(format::udfs());
    udfs.extend(string::udfs());
    udfs.extend(math::udfs());
    udfs.extend(json::udfs());
    udfs.extend(hash::udfs());
    // DataFusion's own functions under Redshift's other names.
    for (name, aliases) in ALIASES {
        if let Some(f) = existing(name) {
            udfs.push(f.as_ref().clone().with_aliases(aliases.iter().copied()));
        }
    }
    udfs.push(crate::sql::timestamp_text::timestamp_text().as_ref().clone());
    for udf in udfs {
        ctx.register_udf(udf);
    }
    for udaf in aggregate::udafs() {
        ctx.register_udaf(udaf);
    }
}

/// DataFusion functions that Redshift also knows by other names.
const ALIASES: &[(&str, &[&str])] = &[
    ("character_length", &["len", "textlen"]),
    ("repeat", &["replicate"]),
    ("exp", &["dexp"]),
    ("ln", &["dlog1"]),
    ("log10", &["dlog10"]),
    ("signum", &["sign"]),
];

/// The function over arrays a [`Udf`] runs: its arguments (scalars expanded to arrays of the
/// batch's length, already coerced) and the number of rows.
pub(crate) type Invoke = dyn Fn(&[ArrayRef], usize) -> Result<ArrayRef> + Send + Sync;
/// Replaces a call by another expression at planning time (constants such as `GETDATE()`).
pub(crate) type Simplify = dyn Fn(Vec<Expr>, &SimplifyContext) -> Result<ExprSimplifyResult> + Send + Sync;

/// A scalar function defined by closures.
pub(crate) struct Udf {
    name: String,
    aliases: Vec<String>,
    signature: Signature,
    return_type: fn(&[DataType]) -> Result<DataType>,
    /// The result type when it depends on constant arguments (a format's scale).
    return_from_literals: Option<ReturnFromLiterals>,
    coerce: fn(&str, &[DataType]) -> Result<Vec<DataType>>,
    invoke: Box<Invoke>,
    simplify: Option<Box<Simplify>>,
}

pub(crate) type ReturnFromLiterals = fn(&[DataType], &[Option<&ScalarValue>]) -> Result<DataType>;

impl Udf {
    /// A function whose arguments `coerce` checks and converts (`name` is passed for errors).
    pub fn new(
        name: &str,
        coerce: fn(&str, &[DataType]) -> Result<Vec<DataType>>,
        return_type: fn(&[DataType]) -> Result<DataType>,
        invoke: impl Fn(&[ArrayRef], usize) -> Result<ArrayRef> + Send + Sync + 'static,
    ) -> Udf {
        Udf {
            name: name.to_string(),
            aliases: Vec::new(),
            signature: Signature::user_defined(Volatility::Immutable),
            return_type,
            return_from_literals: None,
            coerce,
            invoke: Box::new(invoke),
            simplify: None,
        }
    }

    pub fn return_from_literals(mut self, f: ReturnFromLiterals) -> Udf {
        self.return_from_literals = Some(f);
        self
    }

    pub fn aliases(mut self, aliases: &[&str]) -> Udf {
        self.aliases = aliases.iter().map(|a| a.to_string()).collect();
        self
    }

    pub fn volatility(mut self, volatility: Volatility) -> Udf {
        self.signature = match self.signature.type_signature {
            datafusion::logical_expr::TypeSignature::Nullary => Signature::nullary(volatility),
            _ => Signature::user_defined(volatility),
        };
        self
    }

    /// A function of no arguments.
    pub fn nullary(mut self) -> Udf {
        self.signature = Signature::nullary(self.signature.volatility);
        self
    }

    pub fn simplify(
        mut self,
        simplify: impl Fn(Vec<Expr>, &SimplifyContext) -> Result<ExprSimplifyResult> + Send + Sync + 'static,
    ) -> Udf {
        self.simplify = Some(Box::new(simplify));
        self
    }

    pub fn build(self) -> ScalarUDF {
        ScalarUDF::new_from_impl(self)
    }
}

impl fmt::Debug for Udf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Udf").field("name", &self.name).finish()
    }
}

impl PartialEq for Udf {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for Udf {}

impl Hash for Udf {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl ScalarUDFImpl for Udf {
    fn name(&self) -> &str {
        &self.name
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        (self.return_type)(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let types: Vec<DataType> = args.arg_fields.iter().map(|f| f.data_type().clone()).collect();
        let data_type = match self.return_from_literals {
            Some(f) => f(&types, args.scalar_arguments)?,
            None => (self.return_type)(&types)?,
        };
        Ok(Arc::new(Field::new(&self.name, data_type, true)))
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        (self.coerce)(&self.name, arg_types)
    }

    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        match &self.simplify {
            Some(simplify) => simplify(args, info),
            None => Ok(ExprSimplifyResult::Original(args)),
        }
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let rows = args.number_rows;
        let all_scalar = !args.args.is_empty() && args.args.iter().all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let length = if all_scalar { 1 } else { rows };
        let arrays = args.args.iter().map(|a| a.to_array(length)).collect::<Result<Vec<_>>>()?;
        let result = (self.invoke)(&arrays, length)?;
        if all_scalar {
            Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&result, 0)?))
        } else {
            Ok(ColumnarValue::Array(result))
        }
    }
}

// Argument coercion helpers: each returns the type an argument is converted to, or an error
// that names the function and the argument.

/// The timestamp type tarn computes with: microseconds, no zone.
pub(crate) const TIMESTAMP: DataType = DataType::Timestamp(TimeUnit::Microsecond, None);

/// `timestamptz`: microseconds in UTC.
pub(crate) fn timestamptz() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some(Arc::from("+00:00")))
}

pub(crate) fn arity(name: &str, types: &[DataType], range: std::ops::RangeInclusive<usize>) -> Result<()> {
    if range.contains(&types.len()) {
        return Ok(());
    }
    let expected = if range.start() == range.end() {
        format!("{}", range.start())
    } else {
        format!("{} to {}", range.start(), range.end())
    };
    plan_err!("function {name} takes {expected} arguments, not {}", types.len())
}

pub(crate) fn is_text(t: &DataType) -> bool {
    matches!(t, DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Null)
}

/// Any value as text (Redshift casts numbers and dates to text where a string is expected).
pub(crate) fn text_arg(_name: &str, _t: &DataType) -> Result<DataType> {
    Ok(DataType::Utf8)
}

pub(crate) fn int_arg(name: &str, t: &DataType) -> Result<DataType> {
    match t {
        t if t.is_integer() || is_text(t) => Ok(DataType::Int64),
        t if t.is_floating() || matches!(t, DataType::Decimal128(..) | DataType::Decimal256(..)) => Ok(DataType::Int64),
        other => plan_err!("function {name} expects an integer, not {other}"),
    }
}

pub(crate) fn float_arg(name: &str, t: &DataType) -> Result<DataType> {
    match t {
        t if t.is_numeric() || is_text(t) => Ok(DataType::Float64),
        other => plan_err!("function {name} expects a number, not {other}"),
    }
}

pub(crate) fn bool_arg(name: &str, t: &DataType) -> Result<DataType> {
    match t {
        DataType::Boolean | DataType::Null => Ok(DataType::Boolean),
        t if is_text(t) => Ok(DataType::Boolean),
        other => plan_err!("function {name} expects a boolean, not {other}"),
    }
}

pub(crate) fn exec_error(message: impl Into<String>) -> DataFusionError {
    DataFusionError::Execution(message.into())
}
