//! Users, groups, roles and privileges (Redshift's model): who may connect, who belongs to
//! what, and which privileges on which objects each grantee holds. Kept apart from the
//! snapshots (as in Redshift, access control does not time-travel) and changed by
//! [`AccessOp`]s, each validated against the state it applies to.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A login user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserDef {
    /// `usesysid`: assigned when the user is created.
    #[serde(default)]
    pub id: i64,
    pub name: String,
    pub superuser: bool,
    pub create_db: bool,
    /// PostgreSQL's SCRAM verifier (`SCRAM-SHA-256$iter:salt$stored:server`); never a password.
    pub scram: Option<String>,
    /// PostgreSQL's md5 hash (`md5` + hex(md5(password ‖ user))), for older drivers.
    pub md5: Option<String>,
    /// The password stops working after this time (RFC 3339), if set.
    pub valid_until: Option<String>,
    pub connection_limit: Option<i64>,
    pub created_at: String,
}

/// A group of users (`CREATE GROUP`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GroupDef {
    #[serde(default)]
    pub id: i64,
    pub name: String,
    pub members: BTreeSet<String>,
}

/// A role (`CREATE ROLE`), granted to users and to other roles.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RoleDef {
    #[serde(default)]
    pub id: i64,
    pub name: String,
    pub owner: String,
    pub users: BTreeSet<String>,
    pub roles: BTreeSet<String>,
}

/// Who a privilege is granted to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Grantee {
    User(String),
    Group(String),
    Role(String),
    Public,
}

impl std::fmt::Display for Grantee {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Grantee::User(name) => write!(f, "{name}"),
            Grantee::Group(name) => write!(f, "group {name}"),
            Grantee::Role(name) => write!(f, "role {name}"),
            Grantee::Public => f.write_str("public"),
        }
    }
}

/// A privilege on an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Privilege {
    Select,
    Insert,
    Update,
    Delete,
    References,
    Usage,
    Create,
    Temporary,
}

impl Privilege {
    pub fn name(self) -> &'static str {
        match self {
            Privilege::Select => "SELECT",
            Privilege::Insert => "INSERT",
            Privilege::Update => "UPDATE",
            Privilege::Delete => "DELETE",
            Privilege::References => "REFERENCES",
            Privilege::Usage => "USAGE",
            Privilege::Create => "CREATE",
            Privilege::Temporary => "TEMPORARY",
        }
    }

    pub fn parse(text: &str) -> Option<Privilege> {
        Some(match text.to_ascii_uppercase().as_str() {
            "SELECT" => Privilege::Select,
            "INSERT" => Privilege::Insert,
            "UPDATE" => Privilege::Update,
            "DELETE" => Privilege::Delete,
            "REFERENCES" => Privilege::References,
            "USAGE" => Privilege::Usage,
            "CREATE" => Privilege::Create,
            "TEMPORARY" | "TEMP" => Privilege::Temporary,
            _ => return None,
        })
    }

    /// What `ALL` means on tables, schemas and databases.
    pub const TABLE: [Privilege; 5] =
        [Privilege::Select, Privilege::Insert, Privilege::Update, Privilege::Delete, Privilege::References];
    pub const SCHEMA: [Privilege; 2] = [Privilege::Usage, Privilege::Create];
    pub const DATABASE: [Privilege; 2] = [Privilege::Create, Privilege::Temporary];
}

/// What a privilege is on. Warehouse objects are named by id (renames keep their grants),
/// external schemas by name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Securable {
    Database,
    Schema(i64),
    /// A table or a view.
    Relation(i64),
    ExternalSchema(String),
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Grant {
    pub object: Securable,
    pub privilege: Privilege,
    pub grantee: Grantee,
}

/// `ALTER DEFAULT PRIVILEGES [FOR USER owner] IN SCHEMA s GRANT ... ON TABLES TO ...`: granted
/// on every table `owner` (anyone, when `None`) creates in the schema from then on.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DefaultGrant {
    pub schema: Option<i64>,
    pub owner: Option<String>,
    pub privilege: Privilege,
    pub grantee: Grantee,
}

/// Everything access control knows.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct AccessState {
    /// Bumped by every change (caches compare it).
    #[serde(default)]
    pub version: i64,
    pub users: BTreeMap<String, UserDef>,
    pub groups: BTreeMap<String, GroupDef>,
    pub roles: BTreeMap<String, RoleDef>,
    pub grants: BTreeSet<Grant>,
    pub defaults: BTreeSet<DefaultGrant>,
    /// The next id for a user, group or role (ids below are Redshift's system users).
    #[serde(default)]
    pub next_id: i64,
}

/// A change of the access state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccessOp {
    CreateUser(UserDef),
    /// Replaces a user's definition (password, flags, name).
    AlterUser {
        name: String,
        user: UserDef,
    },
    DropUser(String),
    CreateGroup(GroupDef),
    DropGroup(String),
    AddToGroup {
        group: String,
        users: Vec<String>,
    },
    DropFromGroup {
        group: String,
        users: Vec<String>,
    },
    CreateRole(RoleDef),
    DropRole(String),
    /// `GRANT ROLE role TO user | ROLE other`.
    GrantRole {
        role: String,
        to: Grantee,
    },
    RevokeRole {
        role: String,
        from: Grantee,
    },
    Grant(Grant),
    Revoke(Grant),
    AddDefault(DefaultGrant),
    RemoveDefault(DefaultGrant),
    /// An object is gone: its grants go with it.
    Forget(Securable),
}

fn missing(kind: &str, name: &str) -> Error {
    Error::NotFound(format!("{kind} \"{name}\" does not exist"))
}

impl AccessState {
    /// The names users, groups and roles share (PostgreSQL keeps them in one namespace).
    fn name_taken(&self, name: &str) -> bool {
        self.users.contains_key(name) || self.roles.contains_key(name) || self.groups.contains_key(name)
    }

    fn check_grantee(&self, grantee: &Grantee) -> Result<()> {
        match grantee {
            Grantee::User(name) if !self.users.contains_key(name) => Err(missing("user", name)),
            Grantee::Group(name) if !self.groups.contains_key(name) => Err(missing("group", name)),
            Grantee::Role(name) if !self.roles.contains_key(name) => Err(missing("role", name)),
            _ => Ok(()),
        }
    }

    fn allocate_id(&mut self) -> i64 {
        self.next_id = self.next_id.max(100) + 1;
        self.next_id
    }

    /// Applies one change, or fails without changing anything.
    pub fn apply(&mut self, op: &AccessOp) -> Result<()> {
        match op {
            AccessOp::CreateUser(user) => {
                if self.name_taken(&user.name) {
                    return Err(Error::AlreadyExists(format!("user \"{}\" already exists", user.name)));
                }
                let id = self.allocate_id();
                self.users.insert(user.name.clone(), UserDef { id, ..user.clone() });
            }
            AccessOp::AlterUser { name, user } => {
                if !self.users.contains_key(name) {
                    return Err(missing("user", name));
                }
                if user.name != *name {
                    if self.name_taken(&user.name) {
                        return Err(Error::AlreadyExists(format!("user \"{}\" already exists", user.name)));
                    }
                    self.rename_user(name, &user.name);
                }
                let id = self.users[name].id;
                self.users.remove(name);
                self.users.insert(user.name.clone(), UserDef { id, ..user.clone() });
            }
            AccessOp::DropUser(name) => {
                if self.users.remove(name).is_none() {
                    return Err(missing("user", name));
                }
                for group in self.groups.values_mut() {
                    group.members.remove(name);
                }
                for role in self.roles.values_mut() {
                    role.users.remove(name);
                }
                let gone = Grantee::User(name.clone());
                self.grants.retain(|g| g.grantee != gone);
                self.defaults.retain(|d| d.grantee != gone && d.owner.as_deref() != Some(name));
            }
            AccessOp::CreateGroup(group) => {
                if self.name_taken(&group.name) {
                    return Err(Error::AlreadyExists(format!("group \"{}\" already exists", group.name)));
                }
                if let Some(user) = group.members.iter().find(|u| !self.users.contains_key(*u)) {
                    return Err(missing("user", user));
                }
                let id = self.allocate_id();
                self.groups.insert(group.name.clone(), GroupDef { id, ..group.clone() });
            }
            AccessOp::DropGroup(name) => {
                if self.groups.remove(name).is_none() {
                    return Err(missing("group", name));
                }
                let gone = Grantee::Group(name.clone());
                self.grants.retain(|g| g.grantee != gone);
                self.defaults.retain(|d| d.grantee != gone);
            }
            AccessOp::AddToGroup { group, users } | AccessOp::DropFromGroup { group, users } => {
                if let Some(user) = users.iter().find(|u| !self.users.contains_key(*u)) {
                    return Err(missing("user", user));
                }
                let add = matches!(op, AccessOp::AddToGroup { .. });
                let def = self.groups.get_mut(group).ok_or_else(|| missing("group", group))?;
                for user in users {
                    if add {
                        def.members.insert(user.clone());
                    } else {
                        def.members.remove(user);
                    }
                }
            }
            AccessOp::CreateRole(role) => {
                if self.name_taken(&role.name) {
                    return Err(Error::AlreadyExists(format!("role \"{}\" already exists", role.name)));
                }
                let id = self.allocate_id();
                self.roles.insert(role.name.clone(), RoleDef { id, ..role.clone() });
            }
            AccessOp::DropRole(name) => {
                if self.roles.remove(name).is_none() {
                    return Err(missing("role", name));
                }
                for role in self.roles.values_mut() {
                    role.roles.remove(name);
                }
                let gone = Grantee::Role(name.clone());
                self.grants.retain(|g| g.grantee != gone);
                self.defaults.retain(|d| d.grantee != gone);
            }
            AccessOp::GrantRole { role, to } | AccessOp::RevokeRole { role, from: to } => {
                self.check_grantee(to)?;
                if !self.roles.contains_key(role) {
                    return Err(missing("role", role));
                }
                let grant = matches!(op, AccessOp::GrantRole { .. });
                // `other` would hold `role`: a cycle if `role` already holds `other`.
                if grant
                    && let Grantee::Role(other) = to
                    && (other == role || self.role_closure_of_role(role).contains(other.as_str()))
                {
                    return Err(Error::Unsupported(format!(
                        "granting role \"{role}\" to \"{other}\" would make a cycle"
                    )));
                }
                let def = self.roles.get_mut(role).expect("checked");
                let (set, name) = match to {
                    Grantee::User(name) => (&mut def.users, name),
                    Grantee::Role(name) => (&mut def.roles, name),
                    other => return Err(Error::Unsupported(format!("granting a role to {other}"))),
                };
                if grant {
                    set.insert(name.clone());
                } else {
                    set.remove(name);
                }
            }
            AccessOp::Grant(grant) => {
                self.check_grantee(&grant.grantee)?;
                self.grants.insert(grant.clone());
            }
            AccessOp::Revoke(grant) => {
                self.grants.remove(grant);
            }
            AccessOp::AddDefault(default) => {
                self.check_grantee(&default.grantee)?;
                self.defaults.insert(default.clone());
            }
            AccessOp::RemoveDefault(default) => {
                self.defaults.remove(default);
            }
            AccessOp::Forget(object) => {
                self.grants.retain(|g| g.object != *object);
                if let Securable::Schema(id) = object {
                    self.defaults.retain(|d| d.schema != Some(*id));
                }
            }
        }
        Ok(())
    }

    fn rename_user(&mut self, old: &str, new: &str) {
        for group in self.groups.values_mut() {
            if group.members.remove(old) {
                group.members.insert(new.to_string());
            }
        }
        for role in self.roles.values_mut() {
            if role.users.remove(old) {
                role.users.insert(new.to_string());
            }
        }
        let grants = std::mem::take(&mut self.grants);
        self.grants = grants
            .into_iter()
            .map(|mut g| {
                if g.grantee == Grantee::User(old.to_string()) {
                    g.grantee = Grantee::User(new.to_string());
                }
                g
            })
            .collect();
    }

    /// The roles granted to `role`, directly or through other roles.
    fn role_closure_of_role(&self, role: &str) -> BTreeSet<&str> {
        let mut out = BTreeSet::new();
        let mut stack = vec![role];
        while let Some(current) = stack.pop() {
            for (name, def) in &self.roles {
                if def.roles.contains(current) && out.insert(name.as_str()) {
                    stack.push(name);
                }
            }
        }
        out
    }

    /// Everyone `user` acts as: itself, its groups, its roles (with the roles granted to them)
    /// and PUBLIC.
    pub fn grantees_of(&self, user: &str) -> BTreeSet<Grantee> {
        let mut out = BTreeSet::from([Grantee::User(user.to_string()), Grantee::Public]);
        for group in self.groups.values().filter(|g| g.members.contains(user)) {
            out.insert(Grantee::Group(group.name.clone()));
        }
        let mut roles: Vec<&str> =
            self.roles.values().filter(|r| r.users.contains(user)).map(|r| r.name.as_str()).collect();
        while let Some(role) = roles.pop() {
            if out.insert(Grantee::Role(role.to_string())) {
                roles.extend(self.role_closure_of_role(role));
            }
        }
        out
    }

    pub fn is_superuser(&self, user: &str) -> bool {
        self.users.get(user).is_some_and(|u| u.superuser)
    }

    /// Whether `user` holds `privilege` on `object` by a grant (ownership and superusers are
    /// the caller's business).
    pub fn granted(&self, user: &str, object: &Securable, privilege: Privilege) -> bool {
        let grantees = self.grantees_of(user);
        self.grants.iter().any(|g| g.object == *object && g.privilege == privilege && grantees.contains(&g.grantee))
    }

    /// The grants that `ALTER DEFAULT PRIVILEGES` gives a new table of `owner` in `schema`.
    pub fn default_grants(&self, schema: i64, owner: &str, relation: i64) -> Vec<Grant> {
        self.defaults
            .iter()
            .filter(|d| d.schema.is_none_or(|s| s == schema) && d.owner.as_deref().is_none_or(|o| o == owner))
            .map(|d| Grant {
                object: Securable::Relation(relation),
                privilege: d.privilege,
                grantee: d.grantee.clone(),
            })
            .collect()
    }
}

/// Where the access state is kept.
pub trait AccessCatalog: Send + Sync {
    fn access_state(&self) -> Result<AccessState>;

    /// The version of the stored state, without loading it.
    fn access_version(&self) -> Result<i64>;

    /// Applies `ops` in order, atomically: all of them or none.
    fn apply_access(&self, ops: &[AccessOp]) -> Result<()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str) -> UserDef {
        UserDef {
            id: 0,
            name: name.into(),
            superuser: false,
            create_db: false,
            scram: None,
            md5: None,
            valid_until: None,
            connection_limit: None,
            created_at: String::new(),
        }
    }

    #[test]
    fn users_act_through_groups_and_roles() {
        let mut state = AccessState::default();
        for op in [
            AccessOp::CreateUser(user("keeyong")),
            AccessOp::CreateGroup(GroupDef { name: "analytics_users".into(), ..Default::default() }),
            AccessOp::AddToGroup { group: "analytics_users".into(), users: vec!["keeyong".into()] },
            AccessOp::CreateRole(RoleDef { name: "staff".into(), ..Default::default() }),
            AccessOp::CreateRole(RoleDef { name: "manager".into(), ..Default::default() }),
            AccessOp::GrantRole { role: "staff".into(), to: Grantee::User("keeyong".into()) },
            AccessOp::GrantRole { role: "staff".into(), to: Grantee::Role("manager".into()) },
            AccessOp::Grant(Grant {
                object: Securable::Schema(7),
                privilege: Privilege::Usage,
                grantee: Grantee::Group("analytics_users".into()),
            }),
        ] {
            state.apply(&op).unwrap();
        }
        assert!(state.granted("keeyong", &Securable::Schema(7), Privilege::Usage));
        assert!(!state.granted("keeyong", &Securable::Schema(7), Privilege::Create));
        let grantees = state.grantees_of("keeyong");
        assert!(grantees.contains(&Grantee::Role("staff".into())));
        assert!(state.apply(&AccessOp::CreateUser(user("staff"))).is_err(), "one namespace");
        assert!(
            state.apply(&AccessOp::GrantRole { role: "manager".into(), to: Grantee::Role("staff".into()) }).is_err()
        );
        state.apply(&AccessOp::DropUser("keeyong".into())).unwrap();
        assert!(state.groups["analytics_users"].members.is_empty());
    }
}
