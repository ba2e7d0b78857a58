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
    /// A stored value the store cannot read back: a state no version wrote, an event that
    /// does not parse. The database was edited by hand or by a newer nightshift.
    #[error("the store holds {what} it cannot read: {detail}")]
    Corrupt { what: String, detail: String },
}
