use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum FactoryError {
    #[error(transparent)]
    Store(#[from] nightshift_store::StoreError),
    #[error("git failed for job `{job}`: {source}")]
    Git {
        job: String,
        #[source]
        source: nightshift_git::GitError,
    },
    #[error("cannot start the gateway: {0}")]
    Gateway(String),
    #[error("cannot create {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}
