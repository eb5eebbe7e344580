//! The domain's error type. Each variant is something a caller can act on; the HTTP layer maps
//! them one to one onto status codes.

#[derive(Debug, thiserror::Error)]
pub enum FarmError {
    /// The request itself is malformed (a query parameter that does not parse); `code` names
    /// what was wrong.
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// A field broke a rule; `code` names the rule in a stable, machine-readable way.
    #[error("{message}")]
    Invalid { field: &'static str, code: &'static str, message: String },
    #[error("the name {0:?} is already taken")]
    NameTaken(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("not allowed: {0}")]
    Forbidden(&'static str),
    /// Not allowed for a reason the caller can fix or wait out (`email_unconfirmed`,
    /// `quota_exceeded`, `review_required`...).
    #[error("{message}")]
    Denied { code: &'static str, message: String },
    /// A unique value is already in use (`username_taken`, `email_taken`, `request_exists`).
    #[error("{message}")]
    Taken { field: &'static str, code: &'static str, message: String },
    /// Too many attempts from this source or for this account; try again after the delay.
    #[error("too many attempts; try again in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// Login failed. One answer for an unknown user and a wrong password.
    #[error("wrong user name or password")]
    BadCredentials,
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

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest { code, message: message.into() }
    }

    pub fn denied(code: &'static str, message: impl Into<String>) -> Self {
        Self::Denied { code, message: message.into() }
    }

    /// The stable, machine-readable name of this error (the API's `error.code`, and the key
    /// the portal translates).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid { code, .. }
            | Self::Denied { code, .. }
            | Self::Taken { code, .. }
            | Self::BadRequest { code, .. } => code,
            Self::NameTaken(_) => "name_taken",
            Self::NotFound(_) => "not_found",
            Self::Forbidden(_) => "forbidden",
            Self::Conflict(_) => "conflict",
            Self::Unavailable(_) => "unavailable",
            Self::RateLimited { .. } => "rate_limited",
            Self::BadCredentials => "invalid_credentials",
            Self::Internal(_) => "internal",
        }
    }

    /// The input field the error is about, if one.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::Invalid { field, .. } | Self::Taken { field, .. } => Some(field),
            Self::NameTaken(_) => Some("name"),
            _ => None,
        }
    }
}

impl From<sqlx::Error> for FarmError {
    fn from(err: sqlx::Error) -> Self {
        Self::Internal(anyhow::Error::new(err).context("control store"))
    }
}
