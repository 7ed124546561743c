//! Queries over the wire: the simple protocol (one or more statements as text) and the
//! extended one (Parse, Bind, Describe, Execute), each connection running them in its own
//! engine session. Errors carry PostgreSQL's SQLSTATEs; cancel requests stop the running
//! statement, whether it is still computing or already sending rows.

use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use futures::{Sink, SinkExt, Stream, StreamExt};
use pgwire::api::cancel::CancelHandler;
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{FieldFormat, FieldInfo, QueryResponse, Response, Tag};
use pgwire::api::stmt::QueryParser;
use pgwire::api::store::PortalStore;
use pgwire::api::{ClientInfo, ClientPortalStore, ErrorHandler, PgWireServerHandlers, Type};
use pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::cancel::CancelRequest;
use pgwire::messages::data::DataRow;
use pgwire::messages::response::NoticeResponse;
use pgwire::messages::startup::ParameterStatus;
use tarn_engine::arrow::datatypes::{DataType, SchemaRef};
use tarn_engine::{CommandTag, Engine, Output, RowStream, Session};
use tokio_util::sync::CancellationToken;

use crate::AuthMethod;
use crate::auth::Startup;
use crate::cancel::{Cancels, Running, StatementSlot};
use crate::encode::{self, RowEncoder};

/// A signed-in connection: its session, its cancel slot and the settings its client knows.
pub(crate) struct Connection {
    session: tokio::sync::Mutex<Session>,
    slot: Arc<StatementSlot>,
    /// The settings last reported to the client (ParameterStatus).
    reported: std::sync::Mutex<HashMap<String, String>>,
    /// Names of the statements prepared with Parse (`DEALLOCATE ALL` forgets them).
    prepared: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

impl Connection {
    pub fn new(session: Session, slot: Arc<StatementSlot>, reported: HashMap<String, String>) -> Connection {
        Connection {
            session: tokio::sync::Mutex::new(session),
            slot,
            reported: std::sync::Mutex::new(reported),
            prepared: Default::default(),
        }
    }

    /// Settings that changed since they were last reported.
    fn changed_settings(&self, session: &Session) -> Vec<(String, String)> {
        let mut reported = self.reported.lock().unwrap_or_else(|p| p.into_inner());
        let changed: Vec<(String, String)> =
            session.reported_settings().into_iter().filter(|(name, value)| reported.get(name) != Some(value)).collect();
        reported.extend(changed.iter().cloned());
        changed
    }
}

fn connection(client: &impl ClientInfo) -> PgWireResult<Arc<Connection>> {
    client
        .session_extensions()
        .get::<Arc<Connection>>()
        .map(|c| c.as_ref().clone())
        .ok_or_else(|| error("08003", "the connection has no session (sign-in did not finish)".into()))
}

fn error(code: &str, message: String) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new("ERROR".into(), code.into(), message)))
}

fn engine_error(e: &tarn_engine::Error) -> ErrorInfo {
    ErrorInfo::new("ERROR".into(), e.sqlstate().into(), e.to_string())
}

fn cancelled() -> ErrorInfo {
    ErrorInfo::new("ERROR".into(), "57014".into(), "canceling statement due to user request".into())
}

/// Every handler of a server.
pub(crate) struct Handlers {
    startup: Arc<Startup>,
    queries: Arc<Queries>,
    pub cancels: Arc<Cancels>,
}

impl Handlers {
    pub fn new(engine: Arc<Engine>, auth: AuthMethod) -> Handlers {
        let cancels = Arc::new(Cancels::default());
        Handlers {
            startup: Arc::new(Startup::new(engine, auth, cancels.clone())),
            queries: Arc::new(Queries { cancels: cancels.clone(), parser: Arc::new(Parser) }),
            cancels,
        }
    }
}

impl PgWireServerHandlers for Handlers {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.queries.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.queries.clone()
    }

    fn startup_handler(&self) -> Arc<impl pgwire::api::auth::StartupHandler> {
        self.startup.clone()
    }

    fn cancel_handler(&self) -> Arc<impl CancelHandler> {
        self.queries.clone()
    }

    fn error_handler(&self) -> Arc<impl ErrorHandler> {
        self.queries.clone()
    }
}

/// Runs statements for the simple and the extended protocol.
pub(crate) struct Queries {
    cancels: Arc<Cancels>,
    parser: Arc<Parser>,
}

#[async_trait]
impl CancelHandler for Queries {
    async fn on_cancel_request(&self, request: CancelRequest) {
        if self.cancels.cancel(request.pid, &request.secret_key.to_bytes()) {
            log::info!("cancel request for connection {}", request.pid);
        }
    }
}

impl ErrorHandler for Queries {
    fn on_error<C>(&self, client: &C, error: &mut PgWireError)
    where
        C: ClientInfo,
    {
        if error.is_fatal() {
            log::debug!("connection from {} failed: {error}", client.socket_addr());
        }
    }
}

/// What one statement produced, as the protocol sends it.
enum Outcome {
    Rows(RowStream),
    Command(CommandTag),
}

impl Queries {
    /// Runs one statement, stopping it if the client cancels. Returns the outcome and whether
    /// a transaction is open before and after.
    async fn run(
        &self,
        session: &mut Session,
        statement: tarn_engine::Statement,
        text: &str,
        token: &CancellationToken,
    ) -> (Result<Outcome, ErrorInfo>, bool, bool) {
        let before = session.in_transaction();
        let result = tokio::select! {
            result = session.run_text(statement, text) => result.map_err(|e| engine_error(&e)),
            _ = token.cancelled() => Err(cancelled()),
        };
        let outcome = result.map(|output| match output {
            Output::Rows(rows) => Outcome::Rows(rows),
            Output::Command(tag) => Outcome::Command(tag),
        });
        (outcome, before, session.in_transaction())
    }

    /// Notices (COPY's summary) and changed settings that go to the client before a command
    /// completes.
    async fn command_messages<C>(
        &self,
        client: &mut C,
        connection: &Connection,
        session: &Session,
        tag: &CommandTag,
    ) -> PgWireResult<()>
    where
        C: Sink<PgWireBackendMessage> + Unpin + Send,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if let Some(message) = &tag.message {
            let notice = ErrorInfo::new("INFO".into(), "00000".into(), message.clone());
            client.feed(PgWireBackendMessage::NoticeResponse(NoticeResponse::from(notice))).await?;
        }
        if tag.command == "SET" || tag.command == "RESET" {
            for (name, value) in connection.changed_settings(session) {
                client.feed(PgWireBackendMessage::ParameterStatus(ParameterStatus::new(name, value))).await?;
            }
        }
        Ok(())
    }
}

/// `DEALLOCATE name | ALL` of the statements a client prepared with Parse (`None`: all of
/// them). Names the client did not prepare that way are left to the engine (SQL `PREPARE`).
/// Returns whether they were the client's.
fn deallocate<S: PortalStore>(store: &S, connection: &Connection, name: Option<String>) -> bool {
    let mut prepared = connection.prepared.lock().unwrap_or_else(|p| p.into_inner());
    match name {
        None => {
            for name in std::mem::take(&mut *prepared) {
                store.rm_statement(&name);
            }
        }
        Some(name) if prepared.remove(&name) => store.rm_statement(&name),
        Some(_) => return false,
    }
    true
}

/// The completion tag of a command: `INSERT 0 5`, `UPDATE 3`, `CREATE TABLE`.
fn tag(command: &CommandTag) -> Tag {
    match (command.command.as_str(), command.rows) {
        ("INSERT", Some(rows)) => Tag::new("INSERT").with_oid(0).with_rows(rows as usize),
        (name, Some(rows)) => Tag::new(name).with_rows(rows as usize),
        (name, None) => Tag::new(name),
    }
}

/// The response of a command, telling pgwire whether a transaction began or ended.
fn command_response(command: &CommandTag, before: bool, after: bool) -> Response {
    match (before, after) {
        (false, true) => Response::TransactionStart(tag(command)),
        (true, false) => Response::TransactionEnd(tag(command)),
        _ => Response::Execution(tag(command)),
    }
}

/// A result's rows as data rows, read as the client takes them; a cancel request stops it
/// (and fails the open transaction, as an error would).
fn data_rows(
    rows: RowStream,
    fields: &[FieldInfo],
    token: CancellationToken,
    running: Option<Running>,
    connection: Arc<Connection>,
) -> impl Stream<Item = PgWireResult<DataRow>> + Send + 'static {
    let encoder = RowEncoder::new(&rows.schema(), fields);
    struct State {
        rows: RowStream,
        encoder: RowEncoder,
        pending: std::collections::VecDeque<DataRow>,
        token: CancellationToken,
        running: Option<Running>,
        connection: Arc<Connection>,
        done: bool,
    }
    let state = State { rows, encoder, pending: Default::default(), token, running, connection, done: false };
    futures::stream::unfold(state, |mut state| async move {
        loop {
            if let Some(row) = state.pending.pop_front() {
                return Some((Ok(row), state));
            }
            if state.done {
                state.running.take();
                return None;
            }
            let next = tokio::select! {
                batch = state.rows.next() => batch,
                _ = state.token.cancelled() => {
                    state.done = true;
                    state.connection.session.lock().await.abort_transaction();
                    return Some((Err(PgWireError::UserError(Box::new(cancelled()))), state));
                }
            };
            match next {
                None => state.done = true,
                Some(Ok(batch)) => match state.encoder.encode(&batch) {
                    Ok(rows) => state.pending.extend(rows),
                    Err(e) => {
                        state.done = true;
                        return Some((Err(error("XX000", format!("encoding a row: {e}"))), state));
                    }
                },
                Some(Err(e)) => {
                    state.done = true;
                    return Some((Err(PgWireError::UserError(Box::new(engine_error(&e)))), state));
                }
            }
        }
    })
}

#[async_trait]
impl SimpleQueryHandler for Queries {
    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let connection = connection(client)?;
        let (token, running) = self.cancels.start(&connection.slot);
        let mut running = Some(running);
        let mut session = connection.session.lock().await;
        let statements = match tarn_engine::parser::parse_with_text(query) {
            Ok(statements) => statements,
            Err(e) => {
                session.abort_transaction();
                return Ok(vec![Response::Error(Box::new(engine_error(&e)))]);
            }
        };
        let count = statements.len();
        let mut responses = Vec::with_capacity(count);
        for (i, (statement, text)) in statements.into_iter().enumerate() {
            if statement.deallocation().is_some_and(|name| deallocate(client.portal_store(), &connection, name)) {
                responses.push(Response::Execution(Tag::new("DEALLOCATE")));
                continue;
            }
            let (outcome, before, after) = self.run(&mut session, statement, &text, &token).await;
            match outcome {
                Ok(Outcome::Rows(rows)) => {
                    let fields = Arc::new(encode::fields(&rows.schema(), |_| FieldFormat::Text));
                    if i + 1 == count {
                        // The last result streams to the client.
                        let stream = data_rows(rows, &fields, token.clone(), running.take(), connection.clone());
                        responses.push(Response::Query(QueryResponse::new(fields, stream)));
                    } else {
                        let stream = data_rows(rows, &fields, token.clone(), None, connection.clone());
                        drop(session);
                        let collected: PgWireResult<Vec<DataRow>> =
                            stream.collect::<Vec<_>>().await.into_iter().collect();
                        session = connection.session.lock().await;
                        match collected {
                            Ok(rows) => responses.push(Response::Query(QueryResponse::new(
                                fields,
                                futures::stream::iter(rows.into_iter().map(Ok)),
                            ))),
                            Err(e) => {
                                responses.push(Response::Error(Box::new(ErrorInfo::from(e))));
                                break;
                            }
                        }
                    }
                }
                Ok(Outcome::Command(command)) => {
                    self.command_messages(client, &connection, &session, &command).await?;
                    responses.push(command_response(&command, before, after));
                }
                Err(info) => {
                    if info.code == "57014" {
                        session.abort_transaction();
                    }
                    responses.push(Response::Error(Box::new(info)));
                    break;
                }
            }
        }
        if responses.is_empty() {
            responses.push(Response::EmptyQuery);
        }
        Ok(responses)
    }
}

/// A statement prepared with Parse: its text and what planning found.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    sql: String,
    parameters: Vec<Option<DataType>>,
    columns: Option<SchemaRef>,
}

/// Plans statements for Parse and Describe.
pub(crate) struct Parser;

#[async_trait]
impl QueryParser for Parser {
    type Statement = Arc<Prepared>;

    async fn parse_sql<C>(
        &self,
        client: &C,
        sql: &str,
        _types: &[Option<Type>],
    ) -> PgWireResult<Option<Self::Statement>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let connection = connection(client)?;
        let mut session = connection.session.lock().await;
        let prepared = session.prepare(sql).await.map_err(|e| PgWireError::UserError(Box::new(engine_error(&e))))?;
        Ok(Some(Arc::new(Prepared {
            sql: sql.to_string(),
            parameters: prepared.parameters,
            columns: prepared.columns,
        })))
    }

    fn get_parameter_types(&self, statement: &Self::Statement) -> PgWireResult<Vec<Type>> {
        Ok(statement
            .parameters
            .iter()
            .map(|t| match t {
                None => Type::TEXT,
                Some(t) => encode::pg_type(tarn_engine::pg_types::of_parameter(Some(t))),
            })
            .collect())
    }

    fn get_result_schema(&self, statement: &Self::Statement, format: Option<&Format>) -> PgWireResult<Vec<FieldInfo>> {
        Ok(match &statement.columns {
            None => Vec::new(),
            Some(schema) => encode::fields(schema, |i| format.map_or(FieldFormat::Text, |f| f.format_for(i))),
        })
    }
}

impl Queries {
    /// The statement text with the portal's parameters in place.
    fn bind(&self, portal: &Portal<Arc<Prepared>>) -> PgWireResult<String> {
        let statement = &portal.statement;
        let declared = self.parser.get_parameter_types(&statement.statement)?;
        let values = portal
            .parameters
            .iter()
            .enumerate()
            .map(|(i, value)| {
                let oid = statement
                    .parameter_types
                    .get(i)
                    .cloned()
                    .flatten()
                    .or_else(|| declared.get(i).cloned())
                    .map_or(0, |t| t.oid());
                let binary = portal.parameter_format.format_for(i) == FieldFormat::Binary;
                crate::params::sql_literal(value.as_ref(), oid, binary)
                    .map_err(|e| error("22P02", format!("parameter ${}: {e}", i + 1)))
            })
            .collect::<PgWireResult<Vec<String>>>()?;
        tarn_engine::sql::params::bind_parameters(&statement.statement.sql, &values)
            .map_err(|e| PgWireError::UserError(Box::new(engine_error(&e))))
    }
}

#[async_trait]
impl ExtendedQueryHandler for Queries {
    type Statement = Arc<Prepared>;
    type QueryParser = Parser;

    fn query_parser(&self) -> Arc<Self::QueryParser> {
        self.parser.clone()
    }

    /// Parse, as pgwire does it, remembering the statement's name for `DEALLOCATE ALL`.
    async fn on_parse<C>(&self, client: &mut C, message: pgwire::messages::extendedquery::Parse) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let name = message.name.clone().unwrap_or_else(|| pgwire::api::DEFAULT_NAME.to_owned());
        match pgwire::api::stmt::StoredStatement::parse(client, &message, self.parser.clone()).await? {
            Some(statement) => client.portal_store().put_statement(Arc::new(statement)),
            None => client.portal_store().put_empty_statement(&name),
        }
        connection(client)?.prepared.lock().unwrap_or_else(|p| p.into_inner()).insert(name);
        client.send(PgWireBackendMessage::ParseComplete(pgwire::messages::extendedquery::ParseComplete::new())).await?;
        Ok(())
    }

    async fn do_query<C>(
        &self,
        client: &mut C,
        portal: &Portal<Self::Statement>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let connection = connection(client)?;
        let sql = self.bind(portal)?;
        let (token, running) = self.cancels.start(&connection.slot);
        let mut session = connection.session.lock().await;
        let mut statements = tarn_engine::parser::parse_with_text(&sql).map_err(|e| {
            session.abort_transaction();
            PgWireError::UserError(Box::new(engine_error(&e)))
        })?;
        let Some((statement, text)) = statements.pop() else {
            return Ok(Response::EmptyQuery);
        };
        if statement.deallocation().is_some_and(|name| deallocate(client.portal_store(), &connection, name)) {
            return Ok(Response::Execution(Tag::new("DEALLOCATE")));
        }
        let (outcome, before, after) = self.run(&mut session, statement, &text, &token).await;
        match outcome {
            Ok(Outcome::Rows(rows)) => {
                let fields = Arc::new(encode::fields(&rows.schema(), |i| portal.result_column_format.format_for(i)));
                drop(session);
                let stream = data_rows(rows, &fields, token, Some(running), connection.clone());
                Ok(Response::Query(QueryResponse::new(fields, stream)))
            }
            Ok(Outcome::Command(command)) => {
                self.command_messages(client, &connection, &session, &command).await?;
                Ok(command_response(&command, before, after))
            }
            Err(info) => {
                if info.code == "57014" {
                    session.abort_transaction();
                }
                Err(PgWireError::UserError(Box::new(info)))
            }
        }
    }
}
