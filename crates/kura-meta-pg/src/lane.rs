//! Single statements on a few shared connections of the asynchronous driver (`tokio-postgres`), run
//! on kura's own runtime: the hot paths (the PUT's compare-and-swap, the GET's and HEAD's read)
//! without a hop to the blocking pool and a blocked thread per statement. Concurrent requests share a
//! [`Lane`]: the driver sends their statements one after the other on its connection without waiting
//! for each answer (pipelining), and PostgreSQL's backend reads them in one go.
//!
//! A lane is an optimisation, never a second set of rules: a statement it cannot run (the database
//! known to be down, a connection that cannot be made, a statement that failed before it could have
//! changed anything) is the caller's to send again through the pool ([`crate::tx`]), whose retries and
//! outage handling are the store's one account of reachability.
//!
//! What a lane costs: one statement waiting on a lock (a key another writer holds) delays those queued
//! behind it on the same connection. Lanes run only statements that are short by construction (a
//! read of one key, one swap of one key's row), and there are several lanes.

use crate::tls::MakeTls;
use crate::tx::{OUTAGE_TIMEOUT, Params};
use postgres::types::ToSql;
use postgres::{Row, Statement};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// The lanes of one store.
pub(crate) struct Lanes {
    config: tokio_postgres::Config,
    tls: MakeTls,
    /// Each lane's connection, made on first use and made again when found closed.
    slots: Vec<tokio::sync::Mutex<Option<Arc<Lane>>>>,
    /// The lane the next statement goes to (round robin).
    next: AtomicUsize,
    /// The store's note that the database is unreachable ([`crate::tx::Db::down`]): lanes are not
    /// tried while it is set.
    pub(crate) down: Arc<AtomicBool>,
}

/// One connection and the statements prepared on it.
struct Lane {
    client: tokio_postgres::Client,
    statements: Mutex<HashMap<&'static str, Statement>>,
}

/// Why a lane did not answer.
#[derive(Debug)]
pub(crate) enum LaneError {
    /// No lane could be used (the database is known to be down, or no connection could be made):
    /// nothing was sent.
    Unused,
    /// The statement failed with this driver error (it may have been applied if it was a write and
    /// the connection was lost: see [`crate::tx::pg_error`]).
    Failed(postgres::Error),
}

impl Lanes {
    /// `count` lanes to the database `config` names, connected on first use by `tls`, unused while
    /// `down` is set.
    pub(crate) fn new(config: tokio_postgres::Config, tls: MakeTls, count: usize, down: Arc<AtomicBool>) -> Self {
        let slots = (0..count.max(1)).map(|_| tokio::sync::Mutex::new(None)).collect();
        Self { config, tls, slots, next: AtomicUsize::new(0), down }
    }

    /// How many lanes there are.
    pub(crate) fn count(&self) -> usize {
        self.slots.len()
    }

    /// Runs `sql` (prepared once per lane, with the parameters' types) and returns its rows.
    pub(crate) async fn query(&self, sql: &'static str, params: &Params<'_>) -> Result<Vec<Row>, LaneError> {
        let lane = self.lane().await.ok_or(LaneError::Unused)?;
        let statement = lane.statement(sql, params).await.map_err(LaneError::Failed)?;
        let values: Vec<&(dyn ToSql + Sync)> = params.iter().map(|(value, _)| *value).collect();
        lane.client.query(&statement, &values).await.map_err(LaneError::Failed)
    }

    /// A lane with an open connection, or `None` while the database is known to be down or when a
    /// connection cannot be made.
    async fn lane(&self) -> Option<Arc<Lane>> {
        if self.down.load(Ordering::Relaxed) {
            return None;
        }
        let index = self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len();
        let mut slot = self.slots[index].lock().await;
        if let Some(lane) = slot.as_ref().filter(|lane| !lane.client.is_closed()) {
            return Some(lane.clone());
        }
        *slot = None;
        // A lane that cannot connect within the outage timeout is not waited for: the pool is there.
        let connecting = tokio::time::timeout(OUTAGE_TIMEOUT, self.config.connect(self.tls.clone()));
        match connecting.await {
            Ok(Ok((client, connection))) => {
                tokio::spawn(async move {
                    if let Err(error) = connection.await {
                        tracing::debug!(%error, "a PostgreSQL lane's connection ended");
                    }
                });
                let lane = Arc::new(Lane { client, statements: Mutex::new(HashMap::new()) });
                *slot = Some(lane.clone());
                Some(lane)
            }
            Ok(Err(error)) => {
                tracing::debug!(%error, "a PostgreSQL lane cannot connect");
                None
            }
            Err(_) => {
                tracing::debug!("a PostgreSQL lane's connection timed out");
                None
            }
        }
    }
}

impl Lane {
    /// The prepared statement for `sql`, prepared on first use with the types of `params`.
    async fn statement(&self, sql: &'static str, params: &Params<'_>) -> Result<Statement, postgres::Error> {
        if let Some(statement) = self.statements.lock().unwrap_or_else(|e| e.into_inner()).get(sql) {
            return Ok(statement.clone());
        }
        let types: Vec<_> = params.iter().map(|(_, t)| t.clone()).collect();
        let statement = self.client.prepare_typed(sql, &types).await?;
        self.statements.lock().unwrap_or_else(|e| e.into_inner()).insert(sql, statement.clone());
        Ok(statement)
    }
}
