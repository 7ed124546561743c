//! Redshift's access-control statements: users, groups, roles, GRANT/REVOKE, default privileges
//! and `ALTER ... OWNER TO`.

use datafusion::sql::parser::DFParser;
use datafusion::sql::sqlparser::ast::ObjectName;
use datafusion::sql::sqlparser::tokenizer::Token;
use tarn_catalog::Privilege;

use super::{AccessStatement, GrantTarget, GranteeName, OwnedKind, PasswordSpec, Privileges, UserOptions};
use crate::error::{Error, Result};
use crate::sql::tokens::{P, eat, expect, identifier, object_name, peek_is, string, word_is};

/// Parses an access-control statement at the parser's position, if one starts there.
pub(crate) fn parse_access_statement(p: P) -> Result<Option<AccessStatement>> {
    if eat(p, &["set", "session", "authorization"])
        || eat(p, &["set", "session", "characteristics", "as", "authorization"])
    {
        let user = if eat(p, &["default"]) {
            None
        } else if let Token::SingleQuotedString(_) = p.parser.peek_token().token {
            Some(string(p)?)
        } else {
            Some(identifier(p)?)
        };
        return Ok(Some(AccessStatement::SetAuthorization(user)));
    }
    if eat(p, &["reset", "session", "authorization"]) {
        return Ok(Some(AccessStatement::SetAuthorization(None)));
    }
    let kinds = ["user", "group", "role"];
    for verb in ["create", "alter", "drop"] {
        for kind in kinds {
            if peek_is(p, 0, verb) && peek_is(p, 1, kind) {
                expect(p, &[verb, kind])?;
                return Ok(Some(match (verb, kind) {
                    ("create", "user") => create_user(p)?,
                    ("alter", "user") => alter_user(p)?,
                    ("create", "group") => create_group(p)?,
                    ("alter", "group") => alter_group(p)?,
                    ("create", "role") => {
                        let name = identifier(p)?;
                        skip_to_end(p);
                        AccessStatement::CreateRole { name }
                    }
                    ("alter", "role") => return Err(Error::Unsupported("ALTER ROLE".into())),
                    ("drop", kind) => {
                        let if_exists = eat(p, &["if", "exists"]);
                        let names = identifiers(p)?;
                        let _ = eat(p, &["force"]) || eat(p, &["restrict"]) || eat(p, &["cascade"]);
                        AccessStatement::Drop { kind, names, if_exists }
                    }
                    _ => unreachable!("every verb and kind"),
                }));
            }
        }
    }
    if peek_is(p, 0, "grant") || peek_is(p, 0, "revoke") {
        let revoke = peek_is(p, 0, "revoke");
        p.parser.next_token();
        return grant(p, revoke).map(Some);
    }
    if peek_is(p, 0, "alter") && peek_is(p, 1, "default") && peek_is(p, 2, "privileges") {
        expect(p, &["alter", "default", "privileges"])?;
        return default_privileges(p).map(Some);
    }
    if peek_is(p, 0, "alter") && ends_with_owner_to(p) {
        let kind = match () {
            _ if peek_is(p, 1, "table") => OwnedKind::Table,
            _ if peek_is(p, 1, "view") => OwnedKind::Table,
            _ if peek_is(p, 1, "schema") => OwnedKind::Schema,
            _ => return Ok(None),
        };
        p.parser.next_token();
        p.parser.next_token();
        let name = object_name(p)?;
        expect(p, &["owner", "to"])?;
        let owner = identifier(p)?;
        return Ok(Some(AccessStatement::OwnerTo { kind, name, owner }));
    }
    Ok(None)
}

fn at_end(p: &DFParser<'_>) -> bool {
    matches!(p.parser.peek_token().token, Token::SemiColon | Token::EOF)
}

fn skip_to_end(p: P) {
    while !at_end(p) {
        p.parser.next_token();
    }
}

/// `ALTER TABLE|VIEW|SCHEMA name OWNER TO user`.
fn ends_with_owner_to(p: &DFParser<'_>) -> bool {
    let mut n = 2;
    loop {
        match p.parser.peek_nth_token(n).token {
            Token::SemiColon | Token::EOF => return false,
            ref t if word_is(t, "owner") => return word_is(&p.parser.peek_nth_token(n + 1).token, "to"),
            _ => n += 1,
        }
        if n > 64 {
            return false;
        }
    }
}

fn identifiers(p: P) -> Result<Vec<String>> {
    let mut names = vec![identifier(p)?];
    while p.parser.consume_token(&Token::Comma) {
        names.push(identifier(p)?);
    }
    Ok(names)
}

fn number(p: P) -> Result<i64> {
    match p.parser.next_token().token {
        Token::Number(n, _) => n.parse().map_err(|_| Error::Parse(format!("invalid number {n}"))),
        Token::Minus => Ok(-number(p)?),
        other => Err(Error::Parse(format!("expected a number, found {other}"))),
    }
}

/// The options of CREATE USER and ALTER USER, in any order.
fn user_options(p: P, options: &mut UserOptions, rename: &mut Option<String>) -> Result<()> {
    eat(p, &["with"]);
    while !at_end(p) {
        if eat(p, &["password"]) {
            options.password = Some(if eat(p, &["disable"]) {
                PasswordSpec::Disable
            } else {
                let text = string(p)?;
                match text.strip_prefix("md5") {
                    Some(hash) if hash.len() == 32 && hash.chars().all(|c| c.is_ascii_hexdigit()) => {
                        PasswordSpec::Md5Hash(text)
                    }
                    _ if text.starts_with("sha256|") => {
                        return Err(Error::Unsupported(
                            "SHA-256 password hashes (give the password, or its md5 hash)".into(),
                        ));
                    }
                    _ => PasswordSpec::Plain(text),
                }
            });
        } else if eat(p, &["createdb"]) {
            options.create_db = Some(true);
        } else if eat(p, &["nocreatedb"]) {
            options.create_db = Some(false);
        } else if eat(p, &["createuser"]) || eat(p, &["superuser"]) {
            options.superuser = Some(true);
        } else if eat(p, &["nocreateuser"]) || eat(p, &["nosuperuser"]) {
            options.superuser = Some(false);
        } else if eat(p, &["in", "group"]) {
            options.groups.extend(identifiers(p)?);
        } else if eat(p, &["valid", "until"]) {
            options.valid_until = Some(string(p)?);
        } else if eat(p, &["connection", "limit"]) {
            options.connection_limit = Some(if eat(p, &["unlimited"]) { None } else { Some(number(p)?) });
        } else if eat(p, &["rename", "to"]) {
            *rename = Some(identifier(p)?);
        } else if eat(p, &["syslog", "access"]) {
            // RESTRICTED | UNRESTRICTED: which system-table rows a user sees; tarn shows each
            // user what it may use.
            p.parser.next_token();
        } else if eat(p, &["session", "timeout"]) {
            number(p)?;
        } else {
            return Err(Error::Unsupported(format!("user option {}", p.parser.peek_token())));
        }
    }
    Ok(())
}

fn create_user(p: P) -> Result<AccessStatement> {
    let name = identifier(p)?;
    let mut options = UserOptions::default();
    let mut rename = None;
    user_options(p, &mut options, &mut rename)?;
    if rename.is_some() {
        return Err(Error::Parse("RENAME TO belongs to ALTER USER".into()));
    }
    Ok(AccessStatement::CreateUser { name, options })
}

fn alter_user(p: P) -> Result<AccessStatement> {
    let name = identifier(p)?;
    if eat(p, &["set"]) || eat(p, &["reset"]) {
        return Err(Error::Unsupported("ALTER USER ... SET/RESET of configuration parameters".into()));
    }
    let mut options = UserOptions::default();
    let mut rename = None;
    user_options(p, &mut options, &mut rename)?;
    Ok(AccessStatement::AlterUser { name, options, rename })
}

fn create_group(p: P) -> Result<AccessStatement> {
    let name = identifier(p)?;
    eat(p, &["with"]);
    let users = if eat(p, &["user"]) { identifiers(p)? } else { Vec::new() };
    Ok(AccessStatement::CreateGroup { name, users })
}

fn alter_group(p: P) -> Result<AccessStatement> {
    let name = identifier(p)?;
    if eat(p, &["rename", "to"]) {
        return Err(Error::Unsupported(format!("ALTER GROUP {name} RENAME TO")));
    }
    let add = if eat(p, &["add", "user"]) {
        true
    } else if eat(p, &["drop", "user"]) {
        false
    } else {
        return Err(Error::Parse(format!("expected ADD USER or DROP USER, found {}", p.parser.peek_token())));
    };
    Ok(AccessStatement::AlterGroup { name, add, users: identifiers(p)? })
}

/// `{ user | GROUP g | ROLE r | PUBLIC } [, ...]`.
fn grantees(p: P) -> Result<Vec<GranteeName>> {
    let mut out = Vec::new();
    loop {
        out.push(if eat(p, &["group"]) {
            GranteeName::Group(identifier(p)?)
        } else if eat(p, &["role"]) {
            GranteeName::Role(identifier(p)?)
        } else if eat(p, &["public"]) {
            GranteeName::Public
        } else {
            GranteeName::User(identifier(p)?)
        });
        if !p.parser.consume_token(&Token::Comma) {
            return Ok(out);
        }
    }
}

/// The privilege list of GRANT/REVOKE, up to ON.
fn privileges(p: P) -> Result<Privileges> {
    if eat(p, &["all"]) {
        eat(p, &["privileges"]);
        return Ok(Privileges::All);
    }
    let mut list = Vec::new();
    loop {
        let word = match p.parser.next_token().token {
            Token::Word(w) => w.value,
            other => return Err(Error::Parse(format!("expected a privilege, found {other}"))),
        };
        let privilege = Privilege::parse(&word).ok_or_else(|| match word.to_ascii_uppercase().as_str() {
            "DROP" | "ALTER" | "TRUNCATE" | "EXECUTE" | "ASSUMEROLE" => {
                Error::Unsupported(format!("the {} privilege", word.to_ascii_uppercase()))
            }
            _ => Error::Parse(format!("unknown privilege {word}")),
        })?;
        list.push(privilege);
        if !p.parser.consume_token(&Token::Comma) {
            return Ok(Privileges::List(list));
        }
    }
}

fn object_names(p: P) -> Result<Vec<ObjectName>> {
    let mut names = vec![object_name(p)?];
    while p.parser.consume_token(&Token::Comma) {
        names.push(object_name(p)?);
    }
    Ok(names)
}

/// What GRANT/REVOKE is on, after ON.
fn target(p: P) -> Result<GrantTarget> {
    if eat(p, &["all", "tables", "in", "schema"]) {
        return Ok(GrantTarget::AllTablesIn(identifiers(p)?));
    }
    if eat(p, &["schema"]) {
        return Ok(GrantTarget::Schemas(identifiers(p)?));
    }
    if eat(p, &["database"]) {
        return Ok(GrantTarget::Database(identifiers(p)?));
    }
    for unsupported in ["function", "procedure", "language", "external", "model", "datashare", "all"] {
        if peek_is(p, 0, unsupported) {
            return Err(Error::Unsupported(format!("GRANT ... ON {}", p.parser.peek_token()).to_uppercase()));
        }
    }
    eat(p, &["table"]);
    Ok(GrantTarget::Tables(object_names(p)?))
}

fn grant(p: P, revoke: bool) -> Result<AccessStatement> {
    if eat(p, &["role"]) {
        let roles = identifiers(p)?;
        expect(p, &[if revoke { "from" } else { "to" }])?;
        let to = grantees(p)?;
        if eat(p, &["with", "admin", "option"]) {
            return Err(Error::Unsupported("WITH ADMIN OPTION (owners and superusers grant roles)".into()));
        }
        return Ok(AccessStatement::GrantRole { roles, to, revoke });
    }
    if revoke && eat(p, &["grant", "option", "for"]) {
        return Err(Error::Unsupported("REVOKE GRANT OPTION FOR (tarn has no grant options)".into()));
    }
    let privileges = privileges(p)?;
    expect(p, &["on"])?;
    let on = target(p)?;
    expect(p, &[if revoke { "from" } else { "to" }])?;
    let to = grantees(p)?;
    if eat(p, &["with", "grant", "option"]) {
        return Err(Error::Unsupported("WITH GRANT OPTION (owners and superusers grant)".into()));
    }
    // There are no grant options to cascade to, so CASCADE and RESTRICT revoke alike.
    let _ = eat(p, &["cascade"]) || eat(p, &["restrict"]);
    Ok(AccessStatement::Grant { privileges, on, to, revoke })
}

/// `[FOR USER u, ...] [IN SCHEMA s, ...] GRANT ... ON TABLES TO ... | REVOKE ... FROM ...`.
fn default_privileges(p: P) -> Result<AccessStatement> {
    let for_users = if eat(p, &["for", "user"]) { identifiers(p)? } else { Vec::new() };
    let schemas = if eat(p, &["in", "schema"]) { identifiers(p)? } else { Vec::new() };
    let revoke = if eat(p, &["grant"]) {
        false
    } else if eat(p, &["revoke"]) {
        true
    } else {
        return Err(Error::Parse(format!("expected GRANT or REVOKE, found {}", p.parser.peek_token())));
    };
    let privileges = privileges(p)?;
    expect(p, &["on"])?;
    if !eat(p, &["tables"]) {
        return Err(Error::Unsupported(format!(
            "default privileges on {} (tarn keeps them for TABLES)",
            p.parser.peek_token()
        )));
    }
    expect(p, &[if revoke { "from" } else { "to" }])?;
    let to = grantees(p)?;
    eat(p, &["with", "grant", "option"]);
    Ok(AccessStatement::DefaultPrivileges { for_users, schemas, privileges, to, revoke })
}
