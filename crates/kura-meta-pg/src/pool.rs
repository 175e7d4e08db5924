//! The connection pool: r2d2 over [`Manager`], whose connections ([`PgConn`]) keep the statements they
//! have prepared, so that PostgreSQL parses and plans each of kura's statements once per connection
//! instead of on every call, and that know whether they are inside a transaction.

use crate::tls::{ConnectError, MakeTls};
use postgres::types::Type;
use postgres::{Client, Config, Statement};
use std::collections::HashMap;

/// How many statements a connection keeps prepared. kura's statements are a fixed set of a few dozen
/// texts; the cap only bounds what a bug building texts on the fly could cost (past it, a statement is
/// sent unprepared).
const STATEMENT_CACHE: usize = 256;

/// The connection pool.
pub(crate) type Pool = r2d2::Pool<Manager>;

/// What the pool opens connections with: the database's address and the connector (TLS or not).
#[derive(Debug)]
pub(crate) struct Manager {
    config: Config,
    tls: MakeTls,
}

impl Manager {
    /// Connections to `config` made by `tls` (which decides the `sslmode`: [`MakeTls::apply`]).
    pub(crate) fn new(config: tokio_postgres::Config, tls: MakeTls) -> Self {
        Self { config: Config::from(tls.apply(config)), tls }
    }
}

/// One connection to PostgreSQL and what it holds beyond the driver's client.
pub(crate) struct PgConn {
    /// The driver's connection.
    pub(crate) client: Client,
    /// The statements prepared on this connection, by their text.
    statements: HashMap<String, Statement>,
    /// Set between the transaction's start and its end; a connection returned to the pool while set
    /// (its end failed, or its call never ended it) is closed rather than reused mid-transaction.
    pub(crate) in_transaction: bool,
}

impl PgConn {
    /// The prepared statement for `sql` with parameters of the types `types` gives, prepared on first
    /// use (a round trip, once per connection; the types are asked for only then). `None` when the
    /// cache is full: the caller sends the text unprepared.
    pub(crate) fn statement(
        &mut self,
        sql: &str,
        types: impl FnOnce() -> Vec<Type>,
    ) -> Result<Option<Statement>, postgres::Error> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(Some(statement.clone()));
        }
        if self.statements.len() >= STATEMENT_CACHE {
            return Ok(None);
        }
        let statement = self.client.prepare_typed(sql, &types())?;
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(Some(statement))
    }
}

impl r2d2::ManageConnection for Manager {
    type Connection = PgConn;
    type Error = ConnectError;

    fn connect(&self) -> Result<PgConn, ConnectError> {
        let client = self.config.connect(self.tls.clone()).map_err(ConnectError)?;
        Ok(PgConn { client, statements: HashMap::new(), in_transaction: false })
    }

    fn is_valid(&self, conn: &mut PgConn) -> Result<(), ConnectError> {
        conn.client.simple_query("").map(drop).map_err(ConnectError)
    }

    fn has_broken(&self, conn: &mut PgConn) -> bool {
        conn.in_transaction || conn.client.is_closed()
    }
}
