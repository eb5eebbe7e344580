//! Putting a wiki's owner in place in a copy of a template: what that means in MediaWiki's
//! schema, written once for every backend (each binds the values in its own driver).
//!
//! In a fresh install the administrator's name is only in `user` and `actor`; the groups
//! (sysop, bureaucrat, interface-admin) hang off the user id, so renaming the two rows makes the
//! owner the administrator. A new `user_token` keeps the template's token from being shared by
//! every wiki. The statements also match the owner's own name, so that running them again
//! after a crash ends the same way.
//!
//! The same statements date what the copy holds (its starter pages' revisions, their recent
//! changes, the installer's log entries) to the wiki's creation. `page_touched` stays as it
//! was: MediaWiki takes a parser cache entry older than it for stale, and a pool entry's Main
//! Page was rendered before the claim.

use super::{mediawiki_timestamp, TEMPLATE_ADMIN};

/// The owner of a new wiki, as MediaWiki stores them.
#[derive(Debug, Clone, Copy)]
pub struct Owner<'a> {
    /// MediaWiki's form of the user name (first letter upper case).
    pub name: &'a str,
    /// A hash in one of MediaWiki's formats (`:pbkdf2:...`, `:argon2:...`).
    pub password_hash: &'a str,
}

/// One statement and the values of its `?` placeholders, in order.
pub struct OwnerStatement {
    pub sql: String,
    pub values: Vec<String>,
}

impl Owner<'_> {
    /// The statements that rename the template's administrator to the owner, for tables named
    /// `{table_prefix}user` and `{table_prefix}actor` (a database-qualified prefix such as
    /// `` `wiki_w…`. `` on MariaDB, nothing on SQLite). The first must change exactly one row.
    pub fn statements(&self, table_prefix: &str) -> [OwnerStatement; 5] {
        let now = mediawiki_timestamp(time::OffsetDateTime::now_utc());
        let token = crate::platform::random::random_hex(16);
        [
            OwnerStatement {
                sql: format!(
                    "UPDATE {table_prefix}user SET user_name = ?, user_password = ?, user_token = ?, user_touched = ?, \
                     user_registration = ?, user_email = '', user_email_authenticated = NULL WHERE user_name IN (?, ?)"
                ),
                values: vec![
                    self.name.to_owned(),
                    self.password_hash.to_owned(),
                    token,
                    now.clone(),
                    now.clone(),
                    TEMPLATE_ADMIN.to_owned(),
                    self.name.to_owned(),
                ],
            },
            OwnerStatement {
                sql: format!("UPDATE {table_prefix}actor SET actor_name = ? WHERE actor_name IN (?, ?)"),
                values: vec![self.name.to_owned(), TEMPLATE_ADMIN.to_owned(), self.name.to_owned()],
            },
            OwnerStatement {
                sql: format!("UPDATE {table_prefix}revision SET rev_timestamp = ?"),
                values: vec![now.clone()],
            },
            OwnerStatement {
                sql: format!("UPDATE {table_prefix}recentchanges SET rc_timestamp = ?"),
                values: vec![now.clone()],
            },
            OwnerStatement { sql: format!("UPDATE {table_prefix}logging SET log_timestamp = ?"), values: vec![now] },
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_placeholder_has_a_value() {
        let owner = Owner { name: "Alice", password_hash: ":pbkdf2:x" };
        for statement in owner.statements("`wiki_w1`.") {
            assert_eq!(statement.sql.matches('?').count(), statement.values.len(), "{}", statement.sql);
            assert!(statement.sql.contains("`wiki_w1`."));
        }
    }
}
