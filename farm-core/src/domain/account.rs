//! Who acts: farm accounts' names, roles, email addresses and new passwords.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::Secret;
use crate::error::FarmError;

/// A farm account name; also the owner's user name on every wiki they own.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Username(String);

pub const USERNAME_MAX_LEN: usize = 40;

impl Username {
    pub fn parse(input: &str) -> Result<Self, FarmError> {
        let mut bytes = input.bytes();
        let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphabetic());
        let rest_ok = bytes.all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
        if !first_ok || !rest_ok || input.len() > USERNAME_MAX_LEN {
            return Err(FarmError::invalid(
                "username",
                "username_invalid",
                format!(
                    "a user name starts with a letter, has at most {USERNAME_MAX_LEN} characters and \
                     contains only letters, digits, '-' and '.'"
                ),
            ));
        }
        Ok(Self(input.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name MediaWiki stores: it upper-cases the first letter of every user name.
    pub fn mediawiki_name(&self) -> String {
        let mut chars = self.0.chars();
        match chars.next() {
            Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
            None => String::new(),
        }
    }
}

impl TryFrom<String> for Username {
    type Error = FarmError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<Username> for String {
    fn from(value: Username) -> Self {
        value.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What an account may do: members ask for and own wikis, reviewers also work the request
/// queue and keep sandbox wikis, admins do everything.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Reviewer,
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Reviewer => "reviewer",
            Role::Member => "member",
        }
    }
}

impl TryFrom<String> for Role {
    type Error = super::UnknownValue;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse().map_err(|_| super::UnknownValue { kind: "role", value })
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "admin" => Ok(Role::Admin),
            "reviewer" => Ok(Role::Reviewer),
            "member" => Ok(Role::Member),
            other => Err(format!("unknown role {other:?} (expected admin, reviewer or member)")),
        }
    }
}

/// Which kind of session a login makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    /// A bearer token for the API.
    Api,
    /// A cookie for the portal.
    Portal,
}

impl SessionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionKind::Api => "api",
            SessionKind::Portal => "portal",
        }
    }
}

/// Who is acting: the authenticated caller of an API call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub username: Username,
    pub role: Role,
    /// Whether the account's email address is confirmed; unconfirmed accounts may look but
    /// not create or request wikis.
    pub confirmed: bool,
    pub account_id: i64,
}

impl Actor {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Admins and reviewers: they see every wiki and request and decide on requests.
    pub fn is_staff(&self) -> bool {
        matches!(self.role, Role::Admin | Role::Reviewer)
    }
}

/// An email address: one `local@domain` address as RFC 5321 allows it, at most 254 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

pub const EMAIL_MAX_LEN: usize = 254;

impl Email {
    pub fn parse(input: &str) -> Result<Self, FarmError> {
        let trimmed = input.trim();
        let valid = trimmed.len() <= EMAIL_MAX_LEN
            && email_address::EmailAddress::parse_with_options(
                trimmed,
                email_address::Options::default().without_display_text().without_domain_literal(),
            )
            .is_ok()
            // A mail header cannot carry these, whatever the address grammar says.
            && !trimmed.chars().any(|c| c.is_control() || c.is_whitespace() || c == '"');
        if !valid {
            return Err(FarmError::invalid("email", "email_invalid", "that is not an email address".into()));
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The address in lower case: one mailbox, one account.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

/// A new password: 10 to 200 characters (long passphrases welcome; the upper bound keeps
/// hashing cheap to refuse).
pub struct NewPassword(Secret);

pub const PASSWORD_MIN_LEN: usize = 10;
pub const PASSWORD_MAX_LEN: usize = 200;

impl NewPassword {
    pub fn parse(input: &str, username: Option<&Username>) -> Result<Self, FarmError> {
        let len = input.chars().count();
        if !(PASSWORD_MIN_LEN..=PASSWORD_MAX_LEN).contains(&len) {
            return Err(FarmError::invalid(
                "password",
                "password_length",
                format!("a password has {PASSWORD_MIN_LEN} to {PASSWORD_MAX_LEN} characters"),
            ));
        }
        if username.is_some_and(|u| input.eq_ignore_ascii_case(u.as_str())) {
            return Err(FarmError::invalid(
                "password",
                "password_is_username",
                "the password may not be the user name".into(),
            ));
        }
        Ok(Self(Secret::new(input.to_owned())))
    }

    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::FarmError;

    fn code(err: FarmError) -> &'static str {
        match err {
            FarmError::Invalid { code, .. } => code,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn emails() {
        for good in ["a@example.org", "first.last+tag@sub.example.co.uk", "  x@y.example  "] {
            assert!(Email::parse(good).is_ok(), "{good:?}");
        }
        assert_eq!(Email::parse("Alice@Example.ORG").expect("ok").key(), "alice@example.org");
        let long = format!("{}@example.org", "a".repeat(250));
        for bad in ["", "plain", "@example.org", "a@", "a b@example.org", "a@[127.0.0.1]", "A <a@b.org>", &long] {
            assert_eq!(code(Email::parse(bad).expect_err(bad)), "email_invalid", "{bad:?}");
        }
    }

    #[test]
    fn usernames() {
        assert_eq!(Username::parse("alice").expect("ok").mediawiki_name(), "Alice");
        assert_eq!(Username::parse("Bob.Smith-2").expect("ok").mediawiki_name(), "Bob.Smith-2");
        for bad in ["", "1.2.3.4", "a b", "a_b", "名前", "x/y", &"a".repeat(41)] {
            assert!(Username::parse(bad).is_err(), "{bad:?}");
        }
    }
}
