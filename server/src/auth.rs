//! Signing in: the startup message (database, user, client settings), SCRAM-SHA-256 or md5
//! against the catalog's users (their verifiers, never passwords), then a session per
//! connection and the settings PostgreSQL reports.

use std::collections::HashMap;
use std::fmt::Debug;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::Sink;
use pgwire::api::auth::driver::AuthOutcome;
use pgwire::api::auth::md5pass::Md5PasswordAuth;
use pgwire::api::auth::mechanism::AuthMechanismFactory;
use pgwire::api::auth::sasl::SaslMechanisms;
use pgwire::api::auth::sasl::scram::{ScramAuth, ScramSecret};
use pgwire::api::auth::{
    AuthDriver, AuthSource, LoginInfo, Password, ServerParameterProvider, StartupHandler, protocol_negotiation,
    save_startup_parameters_to_metadata,
};
use pgwire::api::{ClientInfo, METADATA_DATABASE, METADATA_USER};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use tarn_engine::access::password::{ScramVerifier, hex};
use tarn_engine::{Engine, Session};

use crate::AuthMethod;
use crate::cancel::Cancels;
use crate::handler::Connection;

/// The database clients name: tarn's catalog (`current_database()`).
const DATABASE: &str = tarn_engine::CATALOG_NAME;

/// Startup parameters that are not settings.
const NOT_SETTINGS: &[&str] = &["user", "database", "options", "replication", "client_protocol_version"];

/// A FATAL error for the client.
pub(crate) fn fatal(code: &str, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new("FATAL".into(), code.into(), message)))
}

/// Passwords as the catalog keeps them.
pub(crate) struct Users {
    engine: Arc<Engine>,
}

impl Debug for Users {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Users").field("warehouse", &self.engine.path()).finish()
    }
}

/// What a user signs in with.
struct Credentials {
    name: String,
    scram: Option<String>,
    md5: Option<String>,
}

impl Users {
    /// The credentials of the user signing in; an unknown user and an expired password fail
    /// as a wrong password does (nothing tells them apart).
    fn user(&self, login: &LoginInfo) -> PgWireResult<Credentials> {
        let name = login.user().unwrap_or_default();
        let denied = || PgWireError::InvalidPassword(name.to_string());
        let state = self.engine.access_state().map_err(|e| fatal("XX000", e.to_string()))?;
        let user = state.users.get(name).ok_or_else(denied)?;
        if let Some(until) = &user.valid_until
            && chrono::DateTime::parse_from_rfc3339(until).is_ok_and(|t| t < chrono::Utc::now())
        {
            return Err(denied());
        }
        Ok(Credentials { name: user.name.clone(), scram: user.scram.clone(), md5: user.md5.clone() })
    }
}

#[async_trait]
impl AuthSource for Users {
    /// md5: the hash the client must answer with for this connection's salt.
    async fn get_password(&self, login: &LoginInfo) -> PgWireResult<Password> {
        let user = self.user(login)?;
        let stored = user.md5.ok_or_else(|| PgWireError::InvalidPassword(user.name.clone()))?;
        let stored = stored.strip_prefix("md5").unwrap_or(&stored).to_string();
        let salt: [u8; 4] = rand_salt();
        let mut salted = stored.into_bytes();
        salted.extend_from_slice(&salt);
        let expected = format!("md5{}", hex(&md5_digest(&salted)));
        Ok(Password::new(Some(salt.to_vec()), expected.into_bytes()))
    }

    async fn get_scram_secret(&self, login: &LoginInfo) -> PgWireResult<(ScramSecret, Option<()>)> {
        let user = self.user(login)?;
        let verifier = user
            .scram
            .as_deref()
            .and_then(ScramVerifier::decode)
            .ok_or_else(|| PgWireError::InvalidPassword(user.name.clone()))?;
        Ok((
            ScramSecret::Verifier {
                salt: verifier.salt,
                iterations: verifier.iterations as usize,
                stored_key: verifier.stored_key,
                server_key: verifier.server_key,
            },
            None,
        ))
    }
}

/// A fresh random md5 salt.
fn rand_salt() -> [u8; 4] {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    [bytes[0], bytes[1], bytes[2], bytes[3]]
}

fn md5_digest(bytes: &[u8]) -> [u8; 16] {
    tarn_engine::access::password::md5(bytes)
}

/// Signs clients in and opens their sessions.
pub(crate) struct Startup {
    engine: Arc<Engine>,
    driver: AuthDriver<Arc<Parameters>>,
    method: AuthMethod,
    scram: Arc<dyn AuthMechanismFactory>,
    md5: Arc<dyn AuthMechanismFactory>,
    failures: Mutex<HashMap<(String, IpAddr), u64>>,
}

impl Startup {
    pub fn new(engine: Arc<Engine>, method: AuthMethod, cancels: Arc<Cancels>) -> Startup {
        let users = Arc::new(Users { engine: engine.clone() });
        Startup {
            engine,
            driver: AuthDriver::new(Arc::new(Parameters { cancels })),
            method,
            scram: Arc::new(SaslMechanisms::new(vec![Arc::new(ScramAuth::new(users.clone()))])),
            md5: Arc::new(Md5PasswordAuth::new(users)),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Checks what a startup message asks for before any password is exchanged: the database,
    /// the settings.
    fn check_startup(&self, client: &impl ClientInfo) -> PgWireResult<()> {
        let metadata = client.metadata();
        let user = metadata.get(METADATA_USER).cloned().unwrap_or_default();
        if user.is_empty() {
            return Err(fatal("28000", "no PostgreSQL user name specified in startup packet".into()));
        }
        let database = metadata.get(METADATA_DATABASE).cloned().unwrap_or_else(|| user.clone());
        if database != DATABASE {
            return Err(fatal("3D000", format!("database \"{database}\" does not exist (tarn's is \"{DATABASE}\")")));
        }
        // Settings are checked on a scratch session: a bad value fails the connection.
        let scratch = self.engine.session().map_err(|e| fatal("XX000", e.to_string()))?;
        for (name, value) in startup_settings(metadata)? {
            apply_setting(&scratch, &name, &value)?;
        }
        Ok(())
    }

    /// How this client signs in. Redshift's own drivers (which announce a
    /// `client_protocol_version`) get md5, as Redshift answers them: they do not read
    /// PostgreSQL's list of SASL mechanisms.
    fn mechanism(&self, client: &impl ClientInfo) -> &Arc<dyn AuthMechanismFactory> {
        let redshift_driver = client.metadata().contains_key("client_protocol_version");
        match self.method {
            AuthMethod::Scram if !redshift_driver => &self.scram,
            _ => &self.md5,
        }
    }

    /// Opens the session of a signed-in user, with the settings the client sent.
    fn open_session(&self, client: &impl ClientInfo) -> PgWireResult<Session> {
        let user = client.metadata().get(METADATA_USER).cloned().unwrap_or_default();
        let session = self.engine.session_as(&user).map_err(|e| fatal("28000", e.to_string()))?;
        for (name, value) in startup_settings(client.metadata())? {
            apply_setting(&session, &name, &value)?;
        }
        Ok(session)
    }

    /// Logs a failed sign-in (never the password), with how many times it has failed.
    fn failed(&self, client: &impl ClientInfo, error: &PgWireError) {
        let user = client.metadata().get(METADATA_USER).cloned().unwrap_or_default();
        let address = client.socket_addr().ip();
        let mut failures = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let count = failures.entry((user.clone(), address)).or_default();
        *count += 1;
        let reason = match error {
            PgWireError::InvalidPassword(_) => "password authentication failed".to_string(),
            other => ErrorInfo::from(clone_error(other)).message,
        };
        log::warn!("sign-in of user \"{user}\" from {address} failed ({reason}); {count} failure(s) so far");
    }
}

/// The parts of an error worth logging (errors are not `Clone`).
fn clone_error(error: &PgWireError) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new("FATAL".into(), "28000".into(), error.to_string())))
}

/// Applies a setting a client sent when connecting. Parameters that are not settings (drivers
/// send their own, such as `driver_discovery_version`) are passed over, as Redshift does; a
/// setting with a value tarn cannot honour fails the connection.
fn apply_setting(session: &Session, name: &str, value: &str) -> PgWireResult<()> {
    if session.setting(name).is_none() {
        log::debug!("startup parameter {name} is not a setting; passed over");
        return Ok(());
    }
    // Drivers may quote the value (asyncpg sends client_encoding='utf-8').
    let value = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')).unwrap_or(value);
    session.set_setting(name, value).map_err(|e| fatal("22023", e.to_string()))
}

/// The settings of a startup message: its parameters and `options=-c name=value ...`.
fn startup_settings(metadata: &HashMap<String, String>) -> PgWireResult<Vec<(String, String)>> {
    let mut settings: Vec<(String, String)> = metadata
        .iter()
        .filter(|(k, _)| !NOT_SETTINGS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if let Some(options) = metadata.get("options") {
        let mut words = options.split_whitespace();
        while let Some(word) = words.next() {
            let assignment = match word {
                "-c" => words.next().unwrap_or_default(),
                other => other.strip_prefix("-c").or_else(|| other.strip_prefix("--")).unwrap_or(other),
            };
            let (name, value) = assignment
                .split_once('=')
                .ok_or_else(|| fatal("22023", format!("invalid command-line argument in options: {word}")))?;
            settings.push((name.replace('-', "_"), value.to_string()));
        }
    }
    settings.sort();
    Ok(settings)
}

#[async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(&self, client: &mut C, message: PgWireFrontendMessage) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let outcome = match message {
            PgWireFrontendMessage::Startup(ref startup) => {
                protocol_negotiation(client, startup).await?;
                save_startup_parameters_to_metadata(client, startup);
                if let Err(e) = self.check_startup(client) {
                    self.failed(client, &e);
                    return refuse(client, e).await;
                }
                self.driver.begin_authentication(client, self.mechanism(client).create()).await
            }
            PgWireFrontendMessage::PasswordMessageFamily(message) => {
                self.driver.advance_authentication(client, message).await
            }
            _ => return Ok(()),
        };
        match outcome {
            Ok(AuthOutcome::InProgress) => Ok(()),
            Ok(AuthOutcome::Authenticated { final_message, .. }) => {
                let session = self.open_session(client)?;
                client.session_extensions().insert(OpenedSession(Mutex::new(Some(session))));
                self.driver.complete_authentication(client, final_message).await
            }
            Err(e) => {
                self.failed(client, &e);
                refuse(client, e).await
            }
        }
    }
}

/// Sends a sign-in failure and closes the connection (no ReadyForQuery follows a FATAL error
/// at sign-in; some drivers would take one for a half-open session).
async fn refuse<C>(client: &mut C, error: PgWireError) -> PgWireResult<()>
where
    C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    use futures::SinkExt;
    let wrong_password = matches!(error, PgWireError::InvalidPassword(_));
    let mut info = ErrorInfo::from(error);
    info.severity = "FATAL".into();
    if wrong_password {
        // PostgreSQL's words, the same for an unknown user.
        let user = client.metadata().get(METADATA_USER).cloned().unwrap_or_default();
        info.code = "28P01".into();
        info.message = format!("password authentication failed for user \"{user}\"");
    }
    client.send(PgWireBackendMessage::ErrorResponse(info.into())).await?;
    client.close().await?;
    Ok(())
}

/// A session opened at sign-in, until the connection takes it.
struct OpenedSession(Mutex<Option<Session>>);

/// The settings reported at sign-in; the connection is set up here, once its process id and
/// secret key (for cancel requests) exist.
pub(crate) struct Parameters {
    cancels: Arc<Cancels>,
}

impl ServerParameterProvider for Parameters {
    fn server_parameters<C>(&self, client: &C) -> Option<HashMap<String, String>>
    where
        C: ClientInfo,
    {
        let session = client.session_extensions().get::<OpenedSession>()?.0.lock().ok()?.take()?;
        let reported: HashMap<String, String> = session.reported_settings().into_iter().collect();
        let (pid, secret) = client.pid_and_secret_key();
        let slot = self.cancels.register(pid, secret.to_bytes());
        client.session_extensions().insert(Arc::new(Connection::new(session, slot, reported.clone())));
        Some(reported)
    }
}
