//! Wiki names: the DNS-label rules, and the farm's reserved and denied names.

use std::collections::BTreeSet;
use std::fmt;

use serde::Serialize;

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
}
