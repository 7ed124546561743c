//! PostgreSQL's catalog functions, as drivers and SQLAlchemy call them: `format_type`,
//! `pg_get_expr`, `pg_table_is_visible`, `pg_get_userbyid`, `obj_description`,
//! `col_description`, `pg_get_viewdef`, `current_setting`, `set_config`, `json_build_object`,
//! and `tarn_regclass` (what `'name'::regclass` becomes).

use std::sync::{Arc, Weak};

use datafusion::arrow::array::{Array, ArrayRef, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::{ScalarUDF, Volatility};
use datafusion::prelude::SessionContext;
use tarn_catalog::{CatalogState, Relation};

use crate::functions::{Udf, exec_error};
use crate::session::SessionShared;

type Shared = Arc<dyn Fn() -> Result<Arc<SessionShared>> + Send + Sync>;

/// The text of every argument, row by row.
fn texts(args: &[ArrayRef]) -> Result<Vec<StringArray>> {
    args.iter()
        .map(|a| {
            let text = cast(a, &DataType::Utf8)?;
            Ok(text
                .as_any()
                .downcast_ref::<StringArray>()
                .cloned()
                .unwrap_or_else(|| StringArray::from(vec![None::<&str>; a.len()])))
        })
        .collect()
}

fn all_text(_: &str, types: &[DataType]) -> Result<Vec<DataType>> {
    Ok(vec![DataType::Utf8; types.len()])
}

fn returns_text(_: &[DataType]) -> Result<DataType> {
    Ok(DataType::Utf8)
}

fn returns_bool(_: &[DataType]) -> Result<DataType> {
    Ok(DataType::Boolean)
}

fn returns_int(_: &[DataType]) -> Result<DataType> {
    Ok(DataType::Int64)
}

/// A function computed row by row from the text of its arguments.
fn rowwise(
    name: &str,
    arity: std::ops::RangeInclusive<usize>,
    return_type: fn(&[DataType]) -> Result<DataType>,
    volatility: Volatility,
    f: impl Fn(&[Option<&str>]) -> Result<ScalarValue> + Send + Sync + 'static,
) -> ScalarUDF {
    let name_owned = name.to_string();
    Udf::new(name, all_text, return_type, move |args, rows| {
        if !arity.contains(&args.len()) {
            return Err(exec_error(format!("function {name_owned} does not take {} arguments", args.len())));
        }
        let columns = texts(args)?;
        let values = (0..rows)
            .map(|row| {
                let values: Vec<Option<&str>> = columns
                    .iter()
                    .map(|c| if c.len() == 1 { 0 } else { row })
                    .zip(&columns)
                    .map(|(i, c)| c.is_valid(i).then(|| c.value(i)))
                    .collect();
                f(&values)
            })
            .collect::<Result<Vec<_>>>()?;
        if values.is_empty() {
            return Ok(datafusion::arrow::array::new_empty_array(&return_type(&[])?));
        }
        ScalarValue::iter_to_array(values)
    })
    .volatility(volatility)
    .build()
}

fn text(value: Option<String>) -> ScalarValue {
    ScalarValue::Utf8(value)
}

fn oid_arg(value: Option<&str>) -> Option<i64> {
    value.and_then(|v| v.trim().parse().ok())
}

/// The relation of oid `oid`.
fn relation_of(state: &CatalogState, oid: i64) -> Option<Relation<'_>> {
    let id = oid - super::FIRST_USER_OID;
    state.relations().find(|r| r.id() == id)
}

pub(crate) fn register(ctx: &SessionContext, shared: Weak<SessionShared>) {
    let session: Shared = Arc::new(move || shared.upgrade().ok_or_else(|| exec_error("the session is closed")));
    let state = {
        let session = session.clone();
        move || -> Result<Arc<SessionShared>> { session() }
    };
    let mut udfs = vec![
        rowwise("format_type", 1..=2, returns_text, Volatility::Immutable, |args| {
            let typmod = args.get(1).copied().flatten().and_then(|m| m.parse().ok()).unwrap_or(-1);
            Ok(text(oid_arg(args[0]).and_then(|oid| crate::pg_types::format_type(oid as u32, typmod))))
        }),
        rowwise("pg_get_expr", 2..=3, returns_text, Volatility::Immutable, |args| {
            Ok(text(args[0].map(str::to_string)))
        }),
        rowwise("pg_encoding_to_char", 1..=1, returns_text, Volatility::Immutable, |args| {
            Ok(text(args[0].map(|e| if e == "6" { "UTF8" } else { "" }.to_string())))
        }),
        rowwise("pg_get_serial_sequence", 2..=2, returns_text, Volatility::Stable, |_| Ok(text(None))),
        rowwise("pg_get_constraintdef", 1..=2, returns_text, Volatility::Stable, |_| Ok(text(None))),
        rowwise("pg_get_indexdef", 1..=3, returns_text, Volatility::Stable, |_| Ok(text(None))),
    ];
    for name in ["pg_type_is_visible", "pg_collation_is_visible", "pg_function_is_visible"] {
        // Built-in types, collations and functions live in pg_catalog, always searched.
        udfs.push(rowwise(name, 1..=1, returns_bool, Volatility::Stable, |args| {
            Ok(ScalarValue::Boolean(args[0].map(|_| true)))
        }));
    }
    {
        let session = session.clone();
        udfs.push(rowwise("pg_table_is_visible", 1..=1, returns_bool, Volatility::Stable, move |args| {
            let shared = session()?;
            let Some(oid) = oid_arg(args[0]) else { return Ok(ScalarValue::Boolean(None)) };
            let path = shared.search_path_schemas();
            let visible = shared
                .with_state(|state| {
                    relation_of(state, oid).is_some_and(|r| {
                        // Visible: its schema is on the path and no earlier schema has the name.
                        let schema = state.schema_name(r.schema_id());
                        let first = path.iter().find(|s| {
                            state.schema_by_name(s).is_some_and(|s| state.relation(s.id, r.name()).is_some())
                        });
                        first.is_some_and(|f| f == schema)
                    })
                })
                .map_err(|e| exec_error(e.to_string()))?;
            Ok(ScalarValue::Boolean(Some(visible)))
        }));
    }
    {
        let session = session.clone();
        udfs.push(rowwise("pg_get_userbyid", 1..=1, returns_text, Volatility::Stable, move |args| {
            let shared = session()?;
            let Some(id) = oid_arg(args[0]) else { return Ok(text(None)) };
            let access = shared.engine.access_state().map_err(|e| exec_error(e.to_string()))?;
            let name = access.users.values().find(|u| u.id == id).map(|u| u.name.clone()).unwrap_or_else(|| {
                if id == super::access::EMBEDDED_USER_ID {
                    shared.engine.config.user.clone()
                } else {
                    format!("unknown (OID={id})")
                }
            });
            Ok(text(Some(name)))
        }));
    }
    {
        let session = session.clone();
        udfs.push(rowwise("obj_description", 1..=2, returns_text, Volatility::Stable, move |args| {
            let shared = session()?;
            let Some(oid) = oid_arg(args[0]) else { return Ok(text(None)) };
            let comment = shared
                .with_state(|state| {
                    if let Some(relation) = relation_of(state, oid) {
                        return match relation {
                            Relation::Table(t) => t.comment.clone(),
                            Relation::View(v) => v.comment.clone(),
                        };
                    }
                    state.schemas.get(&(oid - super::FIRST_USER_OID)).and_then(|s| s.comment.clone())
                })
                .map_err(|e| exec_error(e.to_string()))?;
            Ok(text(comment))
        }));
    }
    {
        let session = session.clone();
        udfs.push(rowwise("col_description", 2..=2, returns_text, Volatility::Stable, move |args| {
            let shared = session()?;
            let (Some(oid), Some(column)) = (oid_arg(args[0]), oid_arg(args[1])) else { return Ok(text(None)) };
            let comment = shared
                .with_state(|state| match relation_of(state, oid) {
                    Some(Relation::Table(t)) => {
                        usize::try_from(column - 1).ok().and_then(|i| t.columns.get(i)).and_then(|c| c.comment.clone())
                    }
                    _ => None,
                })
                .map_err(|e| exec_error(e.to_string()))?;
            Ok(text(comment))
        }));
    }
    {
        let session = session.clone();
        udfs.push(rowwise("pg_get_viewdef", 1..=2, returns_text, Volatility::Stable, move |args| {
            let shared = session()?;
            let Some(argument) = args[0] else { return Ok(text(None)) };
            let sql = shared
                .with_state(|state| {
                    let view = match argument.parse::<i64>() {
                        Ok(oid) => relation_of(state, oid),
                        Err(_) => {
                            let (schema, name) =
                                argument.split_once('.').unwrap_or((tarn_catalog::DEFAULT_SCHEMA, argument));
                            state.relation_by_name(schema, name)
                        }
                    };
                    match view {
                        Some(Relation::View(v)) => Some(v.sql.clone()),
                        _ => None,
                    }
                })
                .map_err(|e| exec_error(e.to_string()))?;
            Ok(text(sql))
        }));
    }
    {
        let session = session.clone();
        udfs.push(rowwise("current_setting", 1..=2, returns_text, Volatility::Stable, move |args| {
            let shared = session()?;
            let Some(name) = args[0] else { return Ok(text(None)) };
            let missing_ok = args.get(1).copied().flatten().is_some_and(|m| matches!(m, "true" | "t" | "1"));
            match shared.setting(name) {
                Some(value) => Ok(text(Some(value))),
                None if missing_ok => Ok(text(None)),
                None => Err(exec_error(format!("unrecognized configuration parameter \"{name}\""))),
            }
        }));
    }
    {
        let session = session.clone();
        udfs.push(rowwise("set_config", 3..=3, returns_text, Volatility::Volatile, move |args| {
            let shared = session()?;
            let (Some(name), value) = (args[0], args[1]) else {
                return Err(exec_error("set_config: the setting name must not be NULL"));
            };
            let local = args[2].is_some_and(|l| matches!(l, "true" | "t" | "1"));
            let local = local && shared.in_explicit_transaction();
            shared.settings.write().set(name, value, local).map_err(|e| exec_error(e.to_string()))?;
            Ok(text(shared.setting(name)))
        }));
    }
    {
        let session = state;
        udfs.push(rowwise("tarn_regclass", 1..=1, returns_int, Volatility::Stable, move |args| {
            let shared = session()?;
            let Some(name) = args[0] else { return Ok(ScalarValue::Int64(None)) };
            if let Ok(oid) = name.trim().parse::<i64>() {
                return Ok(ScalarValue::Int64(Some(oid)));
            }
            let unquoted = |s: &str| s.trim().trim_matches('"').to_string();
            let system = match name.split_once('.') {
                Some((schema, relation)) if unquoted(schema) == super::PG_CATALOG => Some(unquoted(relation)),
                None => Some(unquoted(name)),
                _ => None,
            };
            if let Some(oid) = system.and_then(|n| super::pg::system_oid(&n)) {
                return Ok(ScalarValue::Int64(Some(oid)));
            }
            let found = shared
                .with_state(|state| match name.split_once('.') {
                    Some((schema, relation)) => {
                        state.relation_by_name(&unquoted(schema), &unquoted(relation)).map(|r| r.id())
                    }
                    None => shared
                        .search_path_schemas()
                        .iter()
                        .find_map(|schema| state.relation_by_name(schema, &unquoted(name)).map(|r| r.id())),
                })
                .map_err(|e| exec_error(e.to_string()))?;
            match found {
                Some(id) => Ok(ScalarValue::Int64(Some(super::FIRST_USER_OID + id))),
                None => Err(exec_error(format!("relation \"{name}\" does not exist"))),
            }
        }));
    }
    udfs.push(rowwise("tarn_regtype", 1..=1, returns_int, Volatility::Immutable, |args| {
        let Some(name) = args[0] else { return Ok(ScalarValue::Int64(None)) };
        if let Ok(oid) = name.trim().parse::<i64>() {
            return Ok(ScalarValue::Int64(Some(oid)));
        }
        match crate::pg_types::oid_of_name(name) {
            Some(oid) => Ok(ScalarValue::Int64(Some(oid as i64))),
            None => Err(exec_error(format!("type \"{name}\" does not exist"))),
        }
    }));
    udfs.push(json_build_object());
    for udf in udfs {
        ctx.register_udf(udf);
    }
}

/// `json_build_object(key, value, ...)`: a JSON object of text keys and typed values.
fn json_build_object() -> ScalarUDF {
    Udf::new(
        "json_build_object",
        |name, types| {
            if types.len() % 2 != 0 {
                return Err(exec_error(format!("{name}: the arguments must alternate keys and values")));
            }
            Ok(types
                .iter()
                .enumerate()
                .map(|(i, t)| if i % 2 == 0 || t.is_null() { DataType::Utf8 } else { t.clone() })
                .collect())
        },
        returns_text,
        |args, rows| {
            let value_at = |array: &ArrayRef, row: usize| -> Result<serde_json::Value> {
                let row = if array.len() == 1 { 0 } else { row };
                let scalar = ScalarValue::try_from_array(array, row)?;
                Ok(match scalar {
                    s if s.is_null() => serde_json::Value::Null,
                    ScalarValue::Boolean(Some(b)) => serde_json::Value::Bool(b),
                    ScalarValue::Int8(Some(i)) => i.into(),
                    ScalarValue::Int16(Some(i)) => i.into(),
                    ScalarValue::Int32(Some(i)) => i.into(),
                    ScalarValue::Int64(Some(i)) => i.into(),
                    ScalarValue::Float64(Some(f)) => {
                        serde_json::Number::from_f64(f).map_or(serde_json::Value::Null, Into::into)
                    }
                    ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s)) => {
                        s.into()
                    }
                    other => other.to_string().into(),
                })
            };
            let out = (0..rows)
                .map(|row| {
                    let mut object = serde_json::Map::new();
                    for pair in args.chunks(2) {
                        let key = match value_at(&pair[0], row)? {
                            serde_json::Value::String(s) => s,
                            serde_json::Value::Null => {
                                return Err(exec_error("json_build_object: a key must not be NULL"));
                            }
                            other => other.to_string(),
                        };
                        object.insert(key, value_at(&pair[1], row)?);
                    }
                    Ok(Some(serde_json::Value::Object(object).to_string()))
                })
                .collect::<Result<StringArray>>()?;
            Ok(Arc::new(out) as ArrayRef)
        },
    )
    .build()
}
