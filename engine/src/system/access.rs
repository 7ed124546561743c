//! Catalog tables of access control: `pg_user`, `pg_group`, `pg_roles`, `svv_user_grants`,
//! `svv_role_grants`, `svv_relation_privileges`, `svv_schema_privileges`. Passwords never
//! show (`********`); privilege rows are limited to the objects the user may see.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::catalog::TableProvider;
use datafusion::common::ScalarValue;
use tarn_catalog::{AccessState, CatalogState, Grantee, Securable};

use super::{field, int, opt_text, table_of, text};
use crate::error::Result;
use crate::session::SessionShared;

pub(super) const TABLES: &[&str] = &[
    "pg_user",
    "pg_group",
    "pg_roles",
    "svv_user_grants",
    "svv_role_grants",
    "svv_relation_privileges",
    "svv_schema_privileges",
];

/// The id the embedded superuser shows with (Redshift's `rdsdb` is 1).
pub(crate) const EMBEDDED_USER_ID: i64 = 1;

fn boolean(b: bool) -> ScalarValue {
    ScalarValue::Boolean(Some(b))
}

/// A grantee's id, name and kind as the svv views show them.
fn identity(access: &AccessState, grantee: &Grantee) -> (i64, String, &'static str) {
    match grantee {
        Grantee::User(name) => (access.users.get(name).map_or(0, |u| u.id), name.clone(), "user"),
        Grantee::Group(name) => (access.groups.get(name).map_or(0, |g| g.id), name.clone(), "group"),
        Grantee::Role(name) => (access.roles.get(name).map_or(0, |r| r.id), name.clone(), "role"),
        Grantee::Public => (0, "public".into(), "public"),
    }
}

pub(super) fn table(
    shared: &SessionShared,
    state: &CatalogState,
    name: &str,
) -> Result<Option<Arc<dyn TableProvider>>> {
    let access = shared.engine.access_state()?;
    let embedded = &shared.engine.config.user;
    Ok(Some(match name {
        "pg_user" => {
            let mut rows = Vec::new();
            if !access.users.contains_key(embedded) {
                rows.push(vec![
                    text(embedded),
                    int(EMBEDDED_USER_ID),
                    boolean(true),
                    boolean(true),
                    boolean(true),
                    text("********"),
                    opt_text(None::<String>),
                ]);
            }
            rows.extend(access.users.values().map(|u| {
                vec![
                    text(&u.name),
                    int(u.id),
                    boolean(u.create_db || u.superuser),
                    boolean(u.superuser),
                    boolean(u.superuser),
                    text("********"),
                    opt_text(u.valid_until.clone()),
                ]
            }));
            table_of(
                vec![
                    field("usename", DataType::Utf8),
                    field("usesysid", DataType::Int64),
                    field("usecreatedb", DataType::Boolean),
                    field("usesuper", DataType::Boolean),
                    field("usecatupd", DataType::Boolean),
                    field("passwd", DataType::Utf8),
                    field("valuntil", DataType::Utf8),
                ],
                rows,
            )?
        }
        "pg_group" => table_of(
            vec![
                field("groname", DataType::Utf8),
                field("grosysid", DataType::Int64),
                field("grolist", DataType::Utf8),
            ],
            access
                .groups
                .values()
                .map(|g| {
                    let ids: Vec<String> =
                        g.members.iter().filter_map(|m| access.users.get(m)).map(|u| u.id.to_string()).collect();
                    vec![text(&g.name), int(g.id), text(format!("{{{}}}", ids.join(",")))]
                })
                .collect(),
        )?,
        "pg_roles" => {
            let mut rows = Vec::new();
            let mut role =
                |name: &str, id: i64, superuser: bool, create_db: bool, login: bool, valid: Option<String>| {
                    rows.push(vec![
                        text(name),
                        boolean(superuser),
                        boolean(true),
                        boolean(superuser),
                        boolean(create_db || superuser),
                        boolean(login),
                        int(-1),
                        text("********"),
                        opt_text(valid),
                        int(id),
                    ])
                };
            if !access.users.contains_key(embedded) {
                role(embedded, EMBEDDED_USER_ID, true, true, true, None);
            }
            for u in access.users.values() {
                role(&u.name, u.id, u.superuser, u.create_db, true, u.valid_until.clone());
            }
            for r in access.roles.values() {
                role(&r.name, r.id, false, false, false, None);
            }
            for g in access.groups.values() {
                role(&g.name, g.id, false, false, false, None);
            }
            table_of(
                vec![
                    field("rolname", DataType::Utf8),
                    field("rolsuper", DataType::Boolean),
                    field("rolinherit", DataType::Boolean),
                    field("rolcreaterole", DataType::Boolean),
                    field("rolcreatedb", DataType::Boolean),
                    field("rolcanlogin", DataType::Boolean),
                    field("rolconnlimit", DataType::Int64),
                    field("rolpassword", DataType::Utf8),
                    field("rolvaliduntil", DataType::Utf8),
                    field("oid", DataType::Int64),
                ],
                rows,
            )?
        }
        // Who holds each role: users (svv_user_grants) and roles (svv_role_grants).
        "svv_user_grants" => role_grants(
            ("user_id", "user_name"),
            ("role_id", "role_name"),
            access.roles.values().flat_map(|r| {
                r.users.iter().map(|u| ((access.users.get(u).map_or(0, |u| u.id), u.as_str()), (r.id, r.name.as_str())))
            }),
        )?,
        "svv_role_grants" => role_grants(
            ("role_id", "role_name"),
            ("granted_role_id", "granted_role_name"),
            access.roles.values().flat_map(|granted| {
                granted.roles.iter().map(|holder| {
                    (
                        (access.roles.get(holder).map_or(0, |r| r.id), holder.as_str()),
                        (granted.id, granted.name.as_str()),
                    )
                })
            }),
        )?,
        "svv_relation_privileges" => {
            let mut rows = Vec::new();
            for grant in &access.grants {
                let Securable::Relation(id) = grant.object else { continue };
                let relation = state
                    .tables
                    .get(&id)
                    .map(|t| (t.schema_id, &t.name))
                    .or_else(|| state.views.get(&id).map(|v| (v.schema_id, &v.name)));
                let Some((schema_id, relation)) = relation else { continue };
                let (identity_id, identity_name, kind) = identity(&access, &grant.grantee);
                rows.push(vec![
                    text(state.schema_name(schema_id)),
                    text(relation),
                    text(grant.privilege.name()),
                    int(identity_id),
                    text(identity_name),
                    text(kind),
                    boolean(false),
                ]);
            }
            table_of(
                vec![
                    field("namespace_name", DataType::Utf8),
                    field("relation_name", DataType::Utf8),
                    field("privilege_type", DataType::Utf8),
                    field("identity_id", DataType::Int64),
                    field("identity_name", DataType::Utf8),
                    field("identity_type", DataType::Utf8),
                    field("admin_option", DataType::Boolean),
                ],
                rows,
            )?
        }
        "svv_schema_privileges" => {
            let mut rows = Vec::new();
            for grant in &access.grants {
                let schema = match &grant.object {
                    Securable::Schema(id) => match state.schemas.get(id) {
                        Some(schema) => schema.name.clone(),
                        None => continue,
                    },
                    Securable::ExternalSchema(name) => name.clone(),
                    _ => continue,
                };
                let (identity_id, identity_name, kind) = identity(&access, &grant.grantee);
                rows.push(vec![
                    text(schema),
                    text(grant.privilege.name()),
                    int(identity_id),
                    text(identity_name),
                    text(kind),
                    boolean(false),
                ]);
            }
            table_of(
                vec![
                    field("namespace_name", DataType::Utf8),
                    field("privilege_type", DataType::Utf8),
                    field("identity_id", DataType::Int64),
                    field("identity_name", DataType::Utf8),
                    field("identity_type", DataType::Utf8),
                    field("admin_option", DataType::Boolean),
                ],
                rows,
            )?
        }
        _ => return Ok(None),
    }))
}

/// A table of (holder, role) pairs with Redshift's columns for them, and `admin_option`
/// (always false: tarn has no admin option).
fn role_grants<'a>(
    holder: (&str, &str),
    role: (&str, &str),
    pairs: impl Iterator<Item = ((i64, &'a str), (i64, &'a str))>,
) -> Result<std::sync::Arc<dyn datafusion::catalog::TableProvider>> {
    table_of(
        vec![
            field(holder.0, DataType::Int64),
            field(holder.1, DataType::Utf8),
            field(role.0, DataType::Int64),
            field(role.1, DataType::Utf8),
            field("admin_option", DataType::Boolean),
        ],
        pairs
            .map(|((hid, hname), (rid, rname))| vec![int(hid), text(hname), int(rid), text(rname), boolean(false)])
            .collect(),
    )
}
