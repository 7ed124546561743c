//! Access control: Redshift's users, groups, roles and privileges, and the one place where a
//! statement's privileges are checked ([`authorize`]).
//!
//! The embedded session is the warehouse's superuser; a session opened for a user
//! ([`crate::Engine::session_as`]) is checked: every relation a statement touches needs the
//! privilege the statement uses it with (and USAGE on its schema), DDL needs CREATE on the
//! schema or ownership, access-control statements need a superuser or the object's owner.
//! Views run with their owner's rights (only the view is checked). Changes of access control
//! are part of the transaction: they take effect when it commits.

mod check;
mod parse;
pub mod password;

use datafusion::sql::sqlparser::ast::ObjectName;
use tarn_catalog::{AccessOp, DefaultGrant, Grant, Grantee, GroupDef, Privilege, RoleDef, Securable, UserDef, now};

pub(crate) use check::{admit, authorize, may_see_relation, may_see_schema};
pub(crate) use parse::parse_access_statement;

use crate::error::{Error, Result};
use crate::session::{Output, Session};

/// A parsed access-control statement.
#[derive(Debug, Clone, PartialEq)]
pub enum AccessStatement {
    CreateUser {
        name: String,
        options: UserOptions,
    },
    AlterUser {
        name: String,
        options: UserOptions,
        rename: Option<String>,
    },
    CreateGroup {
        name: String,
        users: Vec<String>,
    },
    AlterGroup {
        name: String,
        add: bool,
        users: Vec<String>,
    },
    CreateRole {
        name: String,
    },
    /// `DROP USER|GROUP|ROLE`.
    Drop {
        kind: &'static str,
        names: Vec<String>,
        if_exists: bool,
    },
    GrantRole {
        roles: Vec<String>,
        to: Vec<GranteeName>,
        revoke: bool,
    },
    Grant {
        privileges: Privileges,
        on: GrantTarget,
        to: Vec<GranteeName>,
        revoke: bool,
    },
    DefaultPrivileges {
        for_users: Vec<String>,
        schemas: Vec<String>,
        privileges: Privileges,
        to: Vec<GranteeName>,
        revoke: bool,
    },
    OwnerTo {
        kind: OwnedKind,
        name: ObjectName,
        owner: String,
    },
    /// `SET SESSION AUTHORIZATION user | DEFAULT`, `RESET SESSION AUTHORIZATION`.
    SetAuthorization(Option<String>),
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserOptions {
    pub password: Option<PasswordSpec>,
    pub create_db: Option<bool>,
    pub superuser: Option<bool>,
    pub groups: Vec<String>,
    pub valid_until: Option<String>,
    pub connection_limit: Option<Option<i64>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSpec {
    Plain(String),
    /// A precomputed md5 hash (`md5` + 32 hex digits).
    Md5Hash(String),
    Disable,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GranteeName {
    User(String),
    Group(String),
    Role(String),
    Public,
}

impl GranteeName {
    fn grantee(&self) -> Grantee {
        match self {
            GranteeName::User(n) => Grantee::User(n.clone()),
            GranteeName::Group(n) => Grantee::Group(n.clone()),
            GranteeName::Role(n) => Grantee::Role(n.clone()),
            GranteeName::Public => Grantee::Public,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Privileges {
    All,
    List(Vec<Privilege>),
}

impl Privileges {
    /// The privileges meant on an object whose `ALL` is `all`; an error for one that does not
    /// apply to it.
    fn resolve(&self, all: &[Privilege], what: &str) -> Result<Vec<Privilege>> {
        match self {
            Privileges::All => Ok(all.to_vec()),
            Privileges::List(list) => {
                if let Some(p) = list.iter().find(|p| !all.contains(p)) {
                    return Err(Error::Invalid(format!("invalid privilege type {} for {what}", p.name())));
                }
                Ok(list.clone())
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum GrantTarget {
    Tables(Vec<ObjectName>),
    AllTablesIn(Vec<String>),
    Schemas(Vec<String>),
    Database(Vec<String>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnedKind {
    /// A table or a view.
    Table,
    Schema,
}

/// The name of tarn's one database (`current_database()`).
pub const DATABASE: &str = crate::provider::CATALOG_NAME;

fn denied(what: String) -> Error {
    Error::PermissionDenied(what)
}

/// Runs an access-control statement: its changes join the session's transaction.
pub(crate) fn execute(session: &Session, statement: AccessStatement) -> Result<Output> {
    let state = session.access_state()?;
    let me = session.user().to_string();
    let superuser = session.is_superuser(&state);
    let need_superuser = |what: &str| {
        if superuser { Ok(()) } else { Err(denied(format!("to {what} (only superusers may)"))) }
    };
    let (ops, tag) = match statement {
        AccessStatement::CreateUser { name, options } => {
            need_superuser("create a user")?;
            let mut user = UserDef {
                id: 0,
                name: name.clone(),
                superuser: options.superuser.unwrap_or(false),
                create_db: options.create_db.unwrap_or(false),
                scram: None,
                md5: None,
                valid_until: options.valid_until.clone(),
                connection_limit: options.connection_limit.flatten(),
                created_at: now(),
            };
            set_password(&mut user, options.password.as_ref());
            let mut ops = vec![AccessOp::CreateUser(user)];
            for group in &options.groups {
                ops.push(AccessOp::AddToGroup { group: group.clone(), users: vec![name.clone()] });
            }
            (ops, "CREATE USER")
        }
        AccessStatement::AlterUser { name, options, rename } => {
            let current =
                state.users.get(&name).ok_or_else(|| Error::Invalid(format!("user \"{name}\" does not exist")))?;
            // A user may change their own password; everything else is for superusers.
            let only_password = rename.is_none()
                && options.create_db.is_none()
                && options.superuser.is_none()
                && options.groups.is_empty()
                && options.connection_limit.is_none();
            if !(superuser || (name == me && only_password)) {
                return Err(denied(format!("to alter user {name}")));
            }
            let mut user = current.clone();
            if let Some(new_name) = &rename {
                user.name = new_name.clone();
                // An md5 hash includes the name: it no longer matches.
                user.md5 = None;
            }
            if options.password.is_some() {
                set_password(&mut user, options.password.as_ref());
            }
            if let Some(v) = options.create_db {
                user.create_db = v;
            }
            if let Some(v) = options.superuser {
                user.superuser = v;
            }
            if let Some(v) = &options.valid_until {
                user.valid_until = Some(v.clone());
            }
            if let Some(limit) = options.connection_limit {
                user.connection_limit = limit;
            }
            let mut ops = vec![AccessOp::AlterUser { name: name.clone(), user }];
            for group in &options.groups {
                ops.push(AccessOp::AddToGroup {
                    group: group.clone(),
                    users: vec![rename.clone().unwrap_or(name.clone())],
                });
            }
            (ops, "ALTER USER")
        }
        AccessStatement::CreateGroup { name, users } => {
            need_superuser("create a group")?;
            (
                vec![AccessOp::CreateGroup(GroupDef { id: 0, name, members: users.into_iter().collect() })],
                "CREATE GROUP",
            )
        }
        AccessStatement::AlterGroup { name, add, users } => {
            need_superuser("alter a group")?;
            let op = if add {
                AccessOp::AddToGroup { group: name, users }
            } else {
                AccessOp::DropFromGroup { group: name, users }
            };
            (vec![op], "ALTER GROUP")
        }
        AccessStatement::CreateRole { name } => {
            need_superuser("create a role")?;
            (vec![AccessOp::CreateRole(RoleDef { name, owner: me.clone(), ..Default::default() })], "CREATE ROLE")
        }
        AccessStatement::Drop { kind, names, if_exists } => {
            need_superuser(&format!("drop a {kind}"))?;
            let mut ops = Vec::new();
            for name in names {
                let exists = match kind {
                    "user" => state.users.contains_key(&name),
                    "group" => state.groups.contains_key(&name),
                    _ => state.roles.contains_key(&name),
                };
                if !exists {
                    if if_exists {
                        continue;
                    }
                    return Err(Error::Invalid(format!("{kind} \"{name}\" does not exist")));
                }
                if kind == "user" {
                    if name == me {
                        return Err(Error::Invalid("current user cannot be dropped".into()));
                    }
                    let owned = session
                        .shared
                        .with_state(|s| s.relations().find(|r| r.owner() == name).map(|r| r.name().to_string()))?;
                    if let Some(relation) = owned {
                        return Err(Error::Invalid(format!(
                            "user \"{name}\" cannot be dropped because the user owns some object ({relation}); ALTER TABLE ... OWNER TO another user first"
                        )));
                    }
                }
                ops.push(match kind {
                    "user" => AccessOp::DropUser(name),
                    "group" => AccessOp::DropGroup(name),
                    _ => AccessOp::DropRole(name),
                });
            }
            (
                ops,
                match kind {
                    "user" => "DROP USER",
                    "group" => "DROP GROUP",
                    _ => "DROP ROLE",
                },
            )
        }
        AccessStatement::GrantRole { roles, to, revoke } => {
            let mut ops = Vec::new();
            for role in roles {
                let owner = state.roles.get(&role).map(|r| r.owner.clone());
                if !superuser && owner.as_deref() != Some(me.as_str()) {
                    return Err(denied(format!("to grant role {role}")));
                }
                for grantee in &to {
                    let grantee = grantee.grantee();
                    ops.push(if revoke {
                        AccessOp::RevokeRole { role: role.clone(), from: grantee }
                    } else {
                        AccessOp::GrantRole { role: role.clone(), to: grantee }
                    });
                }
            }
            (ops, if revoke { "REVOKE ROLE" } else { "GRANT ROLE" })
        }
        AccessStatement::Grant { privileges, on, to, revoke } => {
            let mut ops = Vec::new();
            for (object, all, what) in securables(session, &on, superuser, &me)? {
                for privilege in privileges.resolve(all, &what)? {
                    for grantee in &to {
                        let grant = Grant { object: object.clone(), privilege, grantee: grantee.grantee() };
                        ops.push(if revoke { AccessOp::Revoke(grant) } else { AccessOp::Grant(grant) });
                    }
                }
            }
            (ops, if revoke { "REVOKE" } else { "GRANT" })
        }
        AccessStatement::DefaultPrivileges { for_users, schemas, privileges, to, revoke } => {
            if !superuser && for_users.iter().any(|u| *u != me) {
                return Err(denied("to alter default privileges of other users".into()));
            }
            let owners: Vec<Option<String>> =
                if for_users.is_empty() { vec![Some(me.clone())] } else { for_users.into_iter().map(Some).collect() };
            let schema_ids: Vec<Option<i64>> = if schemas.is_empty() {
                vec![None]
            } else {
                schemas
                    .iter()
                    .map(|name| {
                        session
                            .shared
                            .with_state(|s| s.schema_by_name(name).map(|d| d.id))?
                            .map(Some)
                            .ok_or_else(|| Error::Invalid(format!("schema \"{name}\" does not exist")))
                    })
                    .collect::<Result<_>>()?
            };
            let mut ops = Vec::new();
            for privilege in privileges.resolve(&Privilege::TABLE, "tables")? {
                for owner in &owners {
                    for schema in &schema_ids {
                        for grantee in &to {
                            let default = DefaultGrant {
                                schema: *schema,
                                owner: owner.clone(),
                                privilege,
                                grantee: grantee.grantee(),
                            };
                            ops.push(if revoke {
                                AccessOp::RemoveDefault(default)
                            } else {
                                AccessOp::AddDefault(default)
                            });
                        }
                    }
                }
            }
            (ops, "ALTER DEFAULT PRIVILEGES")
        }
        AccessStatement::SetAuthorization(user) => return session.set_authorization(user),
        AccessStatement::OwnerTo { kind, name, owner } => {
            if !state.users.contains_key(&owner) && owner != session.shared.engine.config.user {
                return Err(Error::Invalid(format!("user \"{owner}\" does not exist")));
            }
            return crate::ddl::set_owner(session, kind, &name, &owner, superuser);
        }
    };
    // Validate now (against the state this session sees) and apply at commit.
    let mut preview = state.as_ref().clone();
    for op in &ops {
        preview.apply(op)?;
    }
    session.queue_access(ops)?;
    Ok(Output::command(tag))
}

/// A user with a password (its verifiers, never the text).
pub(crate) fn new_user(name: &str, superuser: bool, password: &str) -> UserDef {
    let mut user = UserDef {
        id: 0,
        name: name.to_string(),
        superuser,
        create_db: superuser,
        scram: None,
        md5: None,
        valid_until: None,
        connection_limit: None,
        created_at: now(),
    };
    set_password(&mut user, Some(&PasswordSpec::Plain(password.to_string())));
    user
}

fn set_password(user: &mut UserDef, password: Option<&PasswordSpec>) {
    match password {
        Some(PasswordSpec::Plain(text)) => {
            user.scram = Some(password::ScramVerifier::new(text).encode());
            user.md5 = Some(password::md5_hash(&user.name, text));
        }
        Some(PasswordSpec::Md5Hash(hash)) => {
            user.scram = None;
            user.md5 = Some(hash.clone());
        }
        Some(PasswordSpec::Disable) | None => {
            user.scram = None;
            user.md5 = None;
        }
    }
}

/// The objects a GRANT names, with what `ALL` means on each and how to name it in errors;
/// the granting user must own each one (or be a superuser).
fn securables(
    session: &Session,
    on: &GrantTarget,
    superuser: bool,
    me: &str,
) -> Result<Vec<(Securable, &'static [Privilege], String)>> {
    let owns = |owner: &str| superuser || owner == me;
    let mut out = Vec::new();
    match on {
        GrantTarget::Tables(names) => {
            for name in names {
                let (schema, table) = session.resolve_name(name)?;
                let relation = session
                    .shared
                    .with_state(|s| s.relation_by_name(&schema, &table).map(|r| (r.id(), r.owner().to_string())))?;
                let (id, owner) =
                    relation.ok_or_else(|| Error::Invalid(format!("relation \"{schema}.{table}\" does not exist")))?;
                if !owns(&owner) {
                    return Err(denied(format!("for relation {table}")));
                }
                out.push((Securable::Relation(id), &Privilege::TABLE[..], format!("relation {table}")));
            }
        }
        GrantTarget::AllTablesIn(schemas) => {
            for schema in schemas {
                let relations = session.shared.with_state(|s| {
                    s.schema_by_name(schema).map(|d| {
                        s.relations_in(d.id)
                            .iter()
                            .map(|r| (r.id(), r.owner().to_string(), r.name().to_string()))
                            .collect::<Vec<_>>()
                    })
                })?;
                let relations =
                    relations.ok_or_else(|| Error::Invalid(format!("schema \"{schema}\" does not exist")))?;
                for (id, owner, name) in relations {
                    if !owns(&owner) {
                        return Err(denied(format!("for relation {name}")));
                    }
                    out.push((Securable::Relation(id), &Privilege::TABLE[..], format!("relation {name}")));
                }
            }
        }
        GrantTarget::Schemas(names) => {
            for name in names {
                if let Some(owner) =
                    session.shared.with_state(|s| s.schema_by_name(name).map(|d| (d.id, d.owner.clone())))?
                {
                    if !owns(&owner.1) {
                        return Err(denied(format!("for schema {name}")));
                    }
                    out.push((Securable::Schema(owner.0), &Privilege::SCHEMA[..], format!("schema {name}")));
                } else if let Some(external) = session.shared.lake_state()?.schema(name) {
                    if !owns(&external.owner) {
                        return Err(denied(format!("for schema {name}")));
                    }
                    out.push((
                        Securable::ExternalSchema(name.clone()),
                        &Privilege::SCHEMA[..],
                        format!("schema {name}"),
                    ));
                } else {
                    return Err(Error::Invalid(format!("schema \"{name}\" does not exist")));
                }
            }
        }
        GrantTarget::Database(names) => {
            for name in names {
                if name != DATABASE {
                    return Err(Error::Invalid(format!(
                        "database \"{name}\" does not exist (tarn's is \"{DATABASE}\")"
                    )));
                }
                if !superuser {
                    return Err(denied(format!("for database {name}")));
                }
                out.push((Securable::Database, &Privilege::DATABASE[..], format!("database {name}")));
            }
        }
    }
    Ok(out)
}

/// The grants a new relation gets from `ALTER DEFAULT PRIVILEGES` (queued with its creation).
pub(crate) fn default_grants(session: &Session, schema: i64, owner: &str, relation: i64) -> Result<()> {
    let state = session.access_state()?;
    let grants = state.default_grants(schema, owner, relation);
    if grants.is_empty() {
        return Ok(());
    }
    session.queue_access(grants.into_iter().map(AccessOp::Grant).collect())
}

/// The grants of a dropped object go with it.
pub(crate) fn forget(session: &Session, object: Securable) -> Result<()> {
    session.queue_access(vec![AccessOp::Forget(object)])
}
