//! Functions about the session and its privileges: `current_user`, `session_user`,
//! `current_schema()`, `current_database()`, `version()`, `pg_backend_pid()`,
//! `has_schema_privilege`, `has_table_privilege`, `has_database_privilege`.

use std::sync::{Arc, Weak};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::plan_err;
use datafusion::error::Result;
use datafusion::logical_expr::simplify::ExprSimplifyResult;
use datafusion::logical_expr::{ScalarUDF, Volatility, lit};
use datafusion::prelude::SessionContext;
use tarn_catalog::{AccessState, CatalogState, Privilege, Securable};

use crate::functions::{Udf, arity, exec_error};
use crate::session::SessionShared;

/// The server version tarn reports: Redshift's (PostgreSQL 8.0.2), which keeps its drivers
/// and SQLAlchemy on the simple paths.
pub const SERVER_VERSION: &str = "8.0.2";

pub(crate) fn version_text() -> String {
    format!(
        "PostgreSQL {SERVER_VERSION} on {}-pc-linux-gnu, compiled by rustc, tarn {} (Apache DataFusion 55), Redshift-compatible",
        std::env::consts::ARCH,
        env!("CARGO_PKG_VERSION")
    )
}

pub(crate) fn register(ctx: &SessionContext, shared: Weak<SessionShared>) {
    let session = move || shared.upgrade().ok_or_else(|| exec_error("the session is closed"));
    let text_constant = |name: &str, value: Arc<dyn Fn() -> Result<String> + Send + Sync>| -> ScalarUDF {
        let simplify = value.clone();
        Udf::new(
            name,
            |name, types| {
                arity(name, types, 0..=0)?;
                Ok(vec![])
            },
            |_| Ok(DataType::Utf8),
            move |_, rows| Ok(Arc::new(StringArray::from(vec![value()?; rows])) as ArrayRef),
        )
        .nullary()
        .volatility(Volatility::Stable)
        .simplify(move |_, _| Ok(ExprSimplifyResult::Simplified(lit(simplify()?))))
        .build()
    };
    let user = {
        let session = session.clone();
        Arc::new(move || Ok(session()?.user.read().clone())) as Arc<dyn Fn() -> Result<String> + Send + Sync>
    };
    let schema = {
        let session = session.clone();
        Arc::new(move || {
            let state = session()?.session_state().map_err(|e| exec_error(e.to_string()))?;
            Ok(state.config_options().catalog.default_schema.clone())
        }) as Arc<dyn Fn() -> Result<String> + Send + Sync>
    };
    let mut udfs = vec![
        text_constant("current_user", user.clone()).with_aliases(["user", "current_role"]),
        text_constant("session_user", {
            let session = session.clone();
            Arc::new(move || Ok(session()?.login.clone()))
        }),
        text_constant("current_schema", schema.clone()),
        text_constant("current_database", Arc::new(|| Ok(crate::access::DATABASE.to_string()))),
        text_constant("version", Arc::new(|| Ok(version_text()))),
    ];
    udfs.push({
        let session = session.clone();
        Udf::new(
            "current_schemas",
            |name, types| {
                arity(name, types, 1..=1)?;
                Ok(vec![DataType::Boolean])
            },
            |_| Ok(DataType::Utf8),
            move |args, _| {
                let schema = session()?
                    .session_state()
                    .map_err(|e| exec_error(e.to_string()))?
                    .config_options()
                    .catalog
                    .default_schema
                    .clone();
                let implicit = args[0].as_boolean();
                Ok(Arc::new(
                    implicit
                        .iter()
                        .map(|i| {
                            Some(if i == Some(true) {
                                format!("{{pg_catalog,{schema}}}")
                            } else {
                                format!("{{{schema}}}")
                            })
                        })
                        .collect::<StringArray>(),
                ))
            },
        )
        .volatility(Volatility::Stable)
        .build()
    });
    udfs.push({
        let session = session.clone();
        Udf::new(
            "pg_backend_pid",
            |name, types| {
                arity(name, types, 0..=0)?;
                Ok(vec![])
            },
            |_| Ok(DataType::Int64),
            move |_, rows| Ok(Arc::new(Int64Array::from(vec![session()?.id; rows]))),
        )
        .nullary()
        .volatility(Volatility::Stable)
        .build()
    });
    for (name, kind) in [
        ("has_schema_privilege", Kind::Schema),
        ("has_table_privilege", Kind::Table),
        ("has_database_privilege", Kind::Database),
    ] {
        let session = session.clone();
        udfs.push(
            Udf::new(
                name,
                |name, types| {
                    arity(name, types, 2..=3)?;
                    Ok(vec![DataType::Utf8; types.len()])
                },
                |_| Ok(DataType::Boolean),
                move |args, _| has_privilege(&*session()?, kind, args),
            )
            .volatility(Volatility::Stable)
            .build(),
        );
    }
    for udf in udfs {
        ctx.register_udf(udf);
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Schema,
    Table,
    Database,
}

/// `has_*_privilege([user,] object, 'PRIV[, PRIV...]')`: true if the user holds any of them.
fn has_privilege(shared: &SessionShared, kind: Kind, args: &[ArrayRef]) -> Result<ArrayRef> {
    let access = shared.engine.access_state().map_err(|e| exec_error(e.to_string()))?;
    let state = shared.with_state(|s| s.clone()).map_err(|e| exec_error(e.to_string()))?;
    let texts: Vec<_> = args.iter().map(|a| a.as_string::<i32>()).collect();
    let (users, objects, privileges) = match texts.as_slice() {
        [object, privileges] => (None, *object, *privileges),
        [user, object, privileges] => (Some(*user), *object, *privileges),
        _ => return plan_err!("has_privilege takes 2 or 3 arguments"),
    };
    let current = shared.user.read().clone();
    let out = (0..objects.len())
        .map(|i| {
            if objects.is_null(i) || privileges.is_null(i) || users.is_some_and(|u| u.is_null(i)) {
                return Ok(None);
            }
            let user = users.map_or(current.clone(), |u| u.value(i).to_string());
            let wanted = privileges
                .value(i)
                .split(',')
                .map(|p| {
                    let p = p.trim().trim_end_matches(" WITH GRANT OPTION").trim_end_matches(" with grant option");
                    Privilege::parse(p).ok_or_else(|| exec_error(format!("unrecognized privilege type: \"{p}\"")))
                })
                .collect::<Result<Vec<_>>>()?;
            Ok(Some(wanted.iter().any(|p| holds(shared, &access, &state, &user, kind, objects.value(i), *p))))
        })
        .collect::<Result<BooleanArray>>()?;
    Ok(Arc::new(out))
}

fn holds(
    shared: &SessionShared,
    access: &AccessState,
    state: &CatalogState,
    user: &str,
    kind: Kind,
    object: &str,
    privilege: Privilege,
) -> bool {
    if access.is_superuser(user) || (user == shared.engine.config.user && !access.users.contains_key(user)) {
        return true;
    }
    match kind {
        Kind::Database => access.granted(user, &Securable::Database, privilege),
        Kind::Schema => match state.schema_by_name(object) {
            Some(schema) => schema.owner == user || access.granted(user, &Securable::Schema(schema.id), privilege),
            None => access.granted(user, &Securable::ExternalSchema(object.to_string()), privilege),
        },
        Kind::Table => {
            let (schema, table) = object.split_once('.').unwrap_or((tarn_catalog::DEFAULT_SCHEMA, object));
            let usable = state
                .schema_by_name(schema)
                .is_some_and(|s| s.owner == user || access.granted(user, &Securable::Schema(s.id), Privilege::Usage));
            state.relation_by_name(schema, table).is_some_and(|r| {
                usable && (r.owner() == user || access.granted(user, &Securable::Relation(r.id()), privilege))
            })
        }
    }
}
