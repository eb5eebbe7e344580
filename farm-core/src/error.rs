//! The domain's error type. Each variant is something a caller can act on; the HTTP layer maps
//! them one to one onto status codes.

#[derive(Debug, thiserror::Error)]
pub enum FarmError {
    /// A field broke a rule; `code` names the rule in a stable, machine-readable way.
    #[error("{message}")]
    Invalid { field: &'static str, code: &'static str, message: String },
    #[error("the name {0:?} is already taken")]
    NameTaken(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("not allowed: {0}")]
    Forbidden(&'static str),
    /// The request is valid but conflicts with the resource's state (for example deleting a
    /// wiki that is already being deleted).
    #[error("{0}")]
    Conflict(String),
    /// The farm cannot do this right now (for example no database server takes new wikis);
    /// trying again later may work.
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl FarmError {
    pub fn invalid(field: &'static str, code: &'static str, message: String) -> Self {
        Self::Invalid { field, code, message }
    }
}

impl From<sqlx::Error> for FarmError {
    fn from(err: sqlx::Error) -> Self {
        Self::Internal(anyhow::Error::new(err).context("control store"))
    }
}
