//! [`RestoreLock`]: what `kura restore --config` holds for the whole of a restore into PostgreSQL, so
//! that two restores into one database cannot both find it empty and both write. A session advisory
//! lock on a connection of its own (not the pool's: a pooled connection goes back to the pool, and a
//! pool of one would leave the restore none), taken without waiting: the second restore is refused
//! at once, before it reads or writes anything. PostgreSQL releases the lock when the connection
//! ends, so a restore that dies holds nothing.

use crate::tls::{ConnectError, MakeTls};
use kura_store::{StoreError, StoreResult};
use postgres::types::Type;

/// The advisory lock of restores (an arbitrary constant: "kura" in ASCII, then 2; the migrations' is 1).
const RESTORE_LOCK: i64 = 0x6b75_7261_0000_0002;

/// The lock, held until this value is dropped.
#[derive(Debug)]
pub struct RestoreLock {
    /// Dropping it tells the connection's thread to end the session (and so release the lock).
    _release: std::sync::mpsc::Sender<()>,
}

impl RestoreLock {
    /// Connects to the database of `config` (made by `tls`, as the store's connections are) and takes
    /// the lock; [`StoreError::Backend`] saying another restore holds it if one does,
    /// [`StoreError::Unavailable`] if the database cannot be reached.
    pub async fn take(config: tokio_postgres::Config, tls: MakeTls) -> StoreResult<Self> {
        let (taken_tx, taken_rx) = tokio::sync::oneshot::channel();
        let (release, released) = std::sync::mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("kura-pg-restore-lock".into())
            .spawn(move || {
                let mut client = match postgres::Config::from(tls.apply(config)).connect(tls) {
                    Ok(client) => client,
                    Err(e) => {
                        let why = ConnectError(e);
                        let _ =
                            taken_tx.send(Err(StoreError::Unavailable(format!("cannot connect to PostgreSQL: {why}"))));
                        return;
                    }
                };
                let taken = client
                    .query_typed("SELECT pg_try_advisory_lock($1)", &[(&RESTORE_LOCK, Type::INT8)])
                    .map_err(|e| crate::pg_error(&e))
                    .and_then(|rows| {
                        rows.first()
                            .map(|r| r.get::<_, bool>(0))
                            .ok_or_else(|| StoreError::Backend("pg_try_advisory_lock answered no row".into()))
                    });
                let holding = matches!(taken, Ok(true));
                let _ = taken_tx.send(taken);
                if holding {
                    // Until the lock's owner drops it (or goes away): then the session ends.
                    let _ = released.recv();
                }
                drop(client);
            })
            .map_err(|e| StoreError::Backend(format!("cannot start a thread for the restore lock: {e}")))?;
        match taken_rx.await {
            Ok(Ok(true)) => Ok(Self { _release: release }),
            Ok(Ok(false)) => Err(StoreError::Backend(
                "another `kura restore` is writing to this PostgreSQL database; wait for it to end (a restore \
                 into a database that is not empty is refused anyway)"
                    .into(),
            )),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(StoreError::Backend("the restore lock's thread ended without an answer".into())),
        }
    }
}
