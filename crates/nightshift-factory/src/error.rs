use std::path::PathBuf;

/// Why a shift or a job could not go on.
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
    /// A mistake in a file the user wrote, with its position.
    #[error(transparent)]
    Spec(#[from] nightshift_spec::SpecError),
    /// What the user asked for cannot be done as asked (a name that is not in the store, a
    /// branch someone else owns, a spec that differs from the shift's): the message says
    /// what and what to do.
    #[error("{0}")]
    Invalid(String),
    /// Something that should not happen did (a task panicked, a row vanished): a bug.
    #[error("{0}")]
    Internal(String),
}

impl FactoryError {
    /// Whether the user can fix this by changing what they gave (exit code 2), rather than
    /// a failure of ours or of the machine (exit code 1).
    pub fn is_bad_input(&self) -> bool {
        match self {
            Self::Invalid(_) | Self::Spec(_) => true,
            Self::Store(e) => e.is_bad_input(),
            Self::Git { .. } | Self::Gateway(_) | Self::Io { .. } | Self::Internal(_) => false,
        }
    }
}
