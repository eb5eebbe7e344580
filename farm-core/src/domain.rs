//! Domain types: every value from outside is parsed into one of these before it is used.
//! A value of these types is valid by construction, so code that holds one never re-checks.

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::FarmError;

/// Shortest and longest wiki name. 63 is the DNS label limit; very short names are mostly
/// taken by infrastructure and invite squatting.
pub const NAME_MIN_LEN: usize = 3;
pub const NAME_MAX_LEN: usize = 63;

/// A wiki's name: one DNS label (`{name}.{base_domain}` is its host).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct WikiName(String);

impl WikiName {
    /// Checks the DNS label rules. Reserved names are a farm policy, see [`NamePolicy`].
    pub fn parse(input: &str) -> Result<Self, FarmError> {
        let fail = |code: &'static str, message: String| Err(FarmError::invalid("name", code, message));
        let len = input.chars().count();
        if len < NAME_MIN_LEN {
            return fail("name_too_short", format!("a wiki name needs at least {NAME_MIN_LEN} characters"));
        }
        if len > NAME_MAX_LEN {
            return fail("name_too_long", format!("a wiki name has at most {NAME_MAX_LEN} characters"));
        }
        if !input.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
            return fail(
                "name_invalid_characters",
                "a wiki name may contain only lowercase letters a-z, digits and hyphens".into(),
            );
        }
        if input.starts_with('-') || input.ends_with('-') {
            return fail("name_hyphen_edge", "a wiki name may not start or end with a hyphen".into());
        }
        // "ab--" prefixes are reserved for internationalised domain names (xn--...).
        if input.get(2..4) == Some("--") {
            return fail("name_idn_prefix", "a wiki name may not have hyphens in its third and fourth places".into());
        }
        Ok(Self(input.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for WikiName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The farm's rules on top of the syntax: reserved names, and a deny list of patterns
/// (regular expressions that must match the whole name) against squatting and abuse.
#[derive(Debug, Clone)]
pub struct NamePolicy {
    reserved: BTreeSet<String>,
    denied: Option<regex::RegexSet>,
}

impl NamePolicy {
    /// Fails when a deny pattern is not a valid regular expression.
    pub fn new(reserved: &[String], deny_patterns: &[String]) -> Result<Self, regex::Error> {
        let denied = if deny_patterns.is_empty() {
            None
        } else {
            Some(regex::RegexSet::new(deny_patterns.iter().map(|p| format!("^(?:{p})$")))?)
        };
        Ok(Self { reserved: reserved.iter().map(|s| s.to_ascii_lowercase()).collect(), denied })
    }

    pub fn parse(&self, input: &str) -> Result<WikiName, FarmError> {
        let name = WikiName::parse(input)?;
        if self.reserved.contains(name.as_str()) {
            return Err(FarmError::invalid(
                "name",
                "name_reserved",
                format!("the name {:?} is reserved by the farm", name.as_str()),
            ));
        }
        if self.denied.as_ref().is_some_and(|set| set.is_match(name.as_str())) {
            return Err(FarmError::invalid(
                "name",
                "name_denied",
                format!("the name {:?} is not allowed here", name.as_str()),
            ));
        }
        Ok(name)
    }
}

/// A wiki's display name (`$wgSitename`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Sitename(String);

pub const SITENAME_MAX_LEN: usize = 100;

impl Sitename {
    pub fn parse(input: &str) -> Result<Self, FarmError> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(FarmError::invalid("sitename", "sitename_empty", "the site name may not be empty".into()));
        }
        if trimmed.chars().count() > SITENAME_MAX_LEN {
            return Err(FarmError::invalid(
                "sitename",
                "sitename_too_long",
                format!("the site name has at most {SITENAME_MAX_LEN} characters"),
            ));
        }
        // MediaWiki builds page titles from the site name; control and title-breaking
        // characters would make it unusable there.
        if trimmed.chars().any(|c| c.is_control() || "#<>[]|{}".contains(c)) {
            return Err(FarmError::invalid(
                "sitename",
                "sitename_invalid_characters",
                "the site name may not contain control characters or any of # < > [ ] | { }".into(),
            ));
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `$wgMetaNamespace`: the site name with underscores for spaces, or `Project` (as
    /// MediaWiki's installer does) when the name would not make a valid namespace (a colon,
    /// not starting with a letter) or already names one (`Special`, `User talk`, `Datei`...):
    /// the project namespace would shadow it.
    pub fn meta_namespace(&self, taken: &NamespaceNames) -> String {
        let candidate = self.0.replace(' ', "_");
        let starts_with_letter = candidate.chars().next().is_some_and(char::is_alphabetic);
        let valid = starts_with_letter && candidate.chars().all(|c| c.is_alphanumeric() || c == '_' || c == '-');
        if valid && !taken.contains(&candidate) {
            candidate
        } else {
            "Project".to_owned()
        }
    }
}

/// The namespace names a wiki has or could have (its language's, English ones, and the
/// bundled extensions'), compared as MediaWiki does: without case, spaces and underscores
/// alike.
#[derive(Debug, Clone, Default)]
pub struct NamespaceNames(BTreeSet<String>);

impl NamespaceNames {
    pub fn new<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> Self {
        Self(names.into_iter().map(|n| Self::key(n.as_ref())).filter(|n| !n.is_empty()).collect())
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.contains(&Self::key(name))
    }

    fn key(name: &str) -> String {
        name.trim().replace(' ', "_").to_lowercase()
    }
}

/// A MediaWiki content language code that the installed codebase ships.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct LanguageCode(String);

impl LanguageCode {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LanguageCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The languages the shared codebase ships (one `languages/messages/Messages*.php` each).
#[derive(Debug, Clone)]
pub struct Languages {
    codes: BTreeSet<String>,
}

impl Languages {
    pub fn load(mediawiki_dir: &Path) -> std::io::Result<Self> {
        let mut codes = BTreeSet::new();
        for entry in std::fs::read_dir(mediawiki_dir.join("languages/messages"))? {
            let file_name = entry?.file_name();
            let Some(stem) =
                file_name.to_str().and_then(|n| n.strip_prefix("Messages")).and_then(|n| n.strip_suffix(".php"))
            else {
                continue;
            };
            codes.insert(stem.to_ascii_lowercase().replace('_', "-"));
        }
        Ok(Self { codes })
    }

    #[cfg(test)]
    pub fn from_codes(codes: &[&str]) -> Self {
        Self { codes: codes.iter().map(|c| c.to_string()).collect() }
    }

    pub fn parse(&self, input: &str) -> Result<LanguageCode, FarmError> {
        if self.codes.contains(input) {
            Ok(LanguageCode(input.to_owned()))
        } else {
            Err(FarmError::invalid(
                "language",
                "language_unknown",
                "the language must be a MediaWiki language code such as \"en\", \"de\" or \"pt-br\"".into(),
            ))
        }
    }
}

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
pub struct NewPassword(crate::secrets::Secret);

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
        Ok(Self(crate::secrets::Secret::new(input.to_owned())))
    }

    pub fn expose(&self) -> &str {
        self.0.expose()
    }
}

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

/// How the farm hands out wikis (`policy` in the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FarmMode {
    /// Members create wikis at once, within their quota.
    Open,
    /// Members ask; reviewers approve, decline or ask for more details.
    Review,
    /// Members create at once, but wikis expire unless an admin or reviewer keeps them.
    Sandbox,
}

/// Where a wiki request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RequestState {
    Pending,
    NeedsMoreInfo,
    Approved,
    Declined,
    Withdrawn,
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

/// A wiki's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WikiState {
    /// The pipeline is building its resources.
    Provisioning,
    /// Served and usable.
    Active,
    /// Provisioning gave up; its resources were cleaned up.
    Failed,
    /// The pipeline is removing its resources.
    Deleting,
    /// Gone; the row stays for the record (and keeps the name taken for a while).
    Deleted,
    /// Served read-only: a sandbox wiki past its lifetime, deleted later unless kept.
    Locked,
}

impl WikiState {
    pub const ALL: [WikiState; 6] =
        [Self::Provisioning, Self::Active, Self::Failed, Self::Deleting, Self::Deleted, Self::Locked];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Provisioning => "provisioning",
            Self::Active => "active",
            Self::Failed => "failed",
            Self::Deleting => "deleting",
            Self::Deleted => "deleted",
            Self::Locked => "locked",
        }
    }

    /// Holds resources and its name: being built, served (read-write or read-only), or going.
    pub fn is_live(self) -> bool {
        matches!(self, Self::Provisioning | Self::Active | Self::Locked | Self::Deleting)
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|state| state.as_str() == s)
    }
}

/// The opaque identifier of a wiki's resources (directory, database, cookie prefix). It is
/// generated by the daemon from the OS random source and never derived from user text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ResourceKey(String);

impl ResourceKey {
    pub fn generate() -> Self {
        Self(format!("w{}", crate::secrets::random_hex(8)))
    }

    /// Accepts only what [`ResourceKey::generate`] makes: `w` and 16 lowercase hex digits.
    pub fn parse(s: &str) -> Option<Self> {
        let hex = s.strip_prefix('w')?;
        (hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
            .then(|| Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ResourceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(err: FarmError) -> &'static str {
        match err {
            FarmError::Invalid { code, .. } => code,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    #[test]
    fn good_names_parse() {
        for name in ["abc", "my-wiki", "wiki2024", "a1b", "x".repeat(63).as_str(), "0day"] {
            assert_eq!(WikiName::parse(name).expect(name).as_str(), name);
        }
    }

    #[test]
    fn bad_names_say_which_rule() {
        let cases = [
            ("a", "name_too_short"),
            ("", "name_too_short"),
            (&"x".repeat(64), "name_too_long"),
            ("MyWiki", "name_invalid_characters"),
            ("wïki", "name_invalid_characters"),
            ("../x", "name_invalid_characters"),
            ("a.b.c", "name_invalid_characters"),
            ("wiki'; DROP TABLE wikis;--", "name_invalid_characters"),
            ("under_score", "name_invalid_characters"),
            ("-wiki", "name_hyphen_edge"),
            ("wiki-", "name_hyphen_edge"),
            ("xn--abc", "name_idn_prefix"),
        ];
        for (input, expected) in cases {
            assert_eq!(code(WikiName::parse(input).expect_err(input)), expected, "{input:?}");
        }
    }

    #[test]
    fn reserved_names_are_refused() {
        let policy = NamePolicy::new(&["www".into(), "API".into()], &[]).expect("policy");
        assert_eq!(code(policy.parse("www").expect_err("reserved")), "name_reserved");
        assert_eq!(code(policy.parse("api").expect_err("reserved")), "name_reserved");
        assert!(policy.parse("wwwiki").is_ok());
    }

    #[test]
    fn deny_patterns_match_whole_names() {
        let policy = NamePolicy::new(&[], &[".*casino.*".into(), "mw[0-9]+".into()]).expect("policy");
        assert_eq!(code(policy.parse("best-casino-ever").expect_err("denied")), "name_denied");
        assert_eq!(code(policy.parse("mw12").expect_err("denied")), "name_denied");
        assert!(policy.parse("mw12-notes").is_ok(), "patterns are anchored");
        assert!(NamePolicy::new(&[], &["(".into()]).is_err());
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

    #[test]
    fn sitenames() {
        assert_eq!(Sitename::parse("  My Wiki ").expect("ok").as_str(), "My Wiki");
        assert_eq!(Sitename::parse("Ĉefpaĝo's wiki").expect("ok").as_str(), "Ĉefpaĝo's wiki");
        assert_eq!(code(Sitename::parse("   ").expect_err("empty")), "sitename_empty");
        assert_eq!(code(Sitename::parse(&"x".repeat(101)).expect_err("long")), "sitename_too_long");
        assert_eq!(code(Sitename::parse("a\nb").expect_err("ctl")), "sitename_invalid_characters");
        assert_eq!(code(Sitename::parse("[[x]]").expect_err("brackets")), "sitename_invalid_characters");
    }

    #[test]
    fn meta_namespace_is_always_valid_and_never_an_existing_namespace() {
        let taken = NamespaceNames::new(["Special", "User_talk", "Datei", "MediaWiki", "Module"]);
        let meta = |sitename: &str| Sitename::parse(sitename).expect("ok").meta_namespace(&taken);
        assert_eq!(meta("My Wiki"), "My_Wiki");
        assert_eq!(meta("Wiki: the sequel"), "Project");
        assert_eq!(meta("2 cool"), "Project");
        for shadowing in ["Special", "special", "User talk", "user_Talk", "DATEI", "MediaWiki", "Module"] {
            assert_eq!(meta(shadowing), "Project", "{shadowing}");
        }
        assert_eq!(meta("Specials"), "Specials");
    }

    #[test]
    fn languages() {
        let langs = Languages::from_codes(&["en", "de", "pt-br"]);
        assert!(langs.parse("pt-br").is_ok());
        assert_eq!(code(langs.parse("xx").expect_err("unknown")), "language_unknown");
        assert_eq!(code(langs.parse("../en").expect_err("path")), "language_unknown");
    }

    #[test]
    fn usernames() {
        assert_eq!(Username::parse("alice").expect("ok").mediawiki_name(), "Alice");
        assert_eq!(Username::parse("Bob.Smith-2").expect("ok").mediawiki_name(), "Bob.Smith-2");
        for bad in ["", "1.2.3.4", "a b", "a_b", "名前", "x/y", &"a".repeat(41)] {
            assert!(Username::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn resource_keys_round_trip_and_reject_anything_else() {
        let key = ResourceKey::generate();
        assert_eq!(ResourceKey::parse(key.as_str()), Some(key));
        for bad in ["w123", "../etc", "wABCDEF0123456789", "x0123456789abcdef", "w0123456789abcdef0"] {
            assert!(ResourceKey::parse(bad).is_none(), "{bad}");
        }
    }
}
