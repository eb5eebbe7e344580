//! Wiki requests: their states, and the free text people write in them.

use serde::{Deserialize, Serialize};

use crate::error::FarmError;

/// Free text a person writes (a request's purpose, a reviewer's comment): trimmed, at most
/// `max` characters, no control characters but line breaks and tabs.
pub fn parse_text(field: &'static str, input: &str, max: usize, required: bool) -> Result<String, FarmError> {
    let trimmed = input.trim();
    if required && trimmed.is_empty() {
        return Err(FarmError::invalid(field, "text_empty", format!("{field} may not be empty")));
    }
    if trimmed.chars().count() > max {
        return Err(FarmError::invalid(field, "text_too_long", format!("{field} has at most {max} characters")));
    }
    if trimmed.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
        return Err(FarmError::invalid(field, "text_control_characters", format!("{field} has control characters")));
    }
    Ok(trimmed.to_owned())
}

/// Where a wiki request stands.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RequestState {
    Pending,
    NeedsMoreInfo,
    Approved,
    Declined,
    Withdrawn,
}

impl TryFrom<String> for RequestState {
    type Error = super::UnknownValue;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value).ok_or(super::UnknownValue { kind: "request state", value })
    }
}

impl RequestState {
    pub const ALL: [RequestState; 5] =
        [Self::Pending, Self::NeedsMoreInfo, Self::Approved, Self::Declined, Self::Withdrawn];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::NeedsMoreInfo => "needs-more-info",
            Self::Approved => "approved",
            Self::Declined => "declined",
            Self::Withdrawn => "withdrawn",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == s)
    }

    /// Open requests hold their name and can still change.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Pending | Self::NeedsMoreInfo)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{NewPassword, Username};
    use crate::error::FarmError;

    fn code(err: FarmError) -> &'static str {
        match err {
            FarmError::Invalid { code, .. } => code,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn passwords_and_texts() {
        let alice = Username::parse("alice").expect("valid");
        assert!(NewPassword::parse("correct horse battery", Some(&alice)).is_ok());
        assert_eq!(code(NewPassword::parse("short", None).err().expect("short")), "password_length");
        assert_eq!(code(NewPassword::parse(&"x".repeat(201), None).err().expect("long")), "password_length");
        assert_eq!(
            code(NewPassword::parse("AliceAlice", Some(&Username::parse("alicealice").expect("ok"))).err().expect("x")),
            "password_is_username"
        );
        assert_eq!(parse_text("purpose", "  a class wiki\n", 100, true).expect("ok"), "a class wiki");
        assert_eq!(code(parse_text("purpose", " ", 100, true).expect_err("empty")), "text_empty");
        assert_eq!(code(parse_text("purpose", "abc", 2, true).expect_err("long")), "text_too_long");
        assert_eq!(code(parse_text("purpose", "a\u{0}b", 10, true).expect_err("nul")), "text_control_characters");
        assert_eq!(RequestState::parse("needs-more-info"), Some(RequestState::NeedsMoreInfo));
        assert!(RequestState::parse("on-hold").is_none());
    }
}
