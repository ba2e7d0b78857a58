#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open store {url}: {source}")]
    Open {
        url: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("cannot migrate store {url}: {source}")]
    Migrate {
        url: String,
        #[source]
        source: sqlx::migrate::MigrateError,
    },
    #[error("store query failed: {0}")]
    Query(#[from] sqlx::Error),
    #[error("the ledger writer has stopped; the call was not recorded")]
    WriterGone,
    #[error("{0}")]
    Invalid(String),
    /// The store is another gateway's (its journal is locked): the user asked for two
    /// gateways on one store.
    #[error("{0}")]
    InUse(String),
    /// A stored value the store cannot read back: a state no version wrote, an event that
    /// does not parse. The database was edited by hand or by a newer nightshift.
    #[error("the store holds {what} it cannot read: {detail}")]
    Corrupt { what: String, detail: String },
}

impl StoreError {
    /// Whether what the user asked for is the cause (exit code 2): a second gateway on a
    /// store that has one.
    pub fn is_bad_input(&self) -> bool {
        matches!(self, Self::InUse(_))
    }

    /// Whether trying the same write again later may succeed: the database was busy or
    /// locked, the disk full or failing, the pool out of connections. A row the schema
    /// refuses (a constraint, a trigger, a value it cannot hold) fails the same way every
    /// time.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Query(e) => query_is_transient(e),
            Self::Open { .. } | Self::WriterGone => true,
            Self::Migrate { .. } | Self::Invalid(_) | Self::Corrupt { .. } => false,
            Self::InUse(_) => true,
        }
    }
}

fn query_is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            // SQLite's primary result code is the low byte of the extended one.
            let primary = db
                .code()
                .and_then(|c| c.parse::<i32>().ok())
                .map(|c| c & 0xff);
            // BUSY, LOCKED, IOERR, FULL, CANTOPEN, PROTOCOL.
            matches!(primary, Some(5 | 6 | 10 | 13 | 14 | 15))
        }
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        _ => false,
    }
}
