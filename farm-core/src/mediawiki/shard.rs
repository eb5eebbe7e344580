//! Each wiki's config shard (`LocalSettings.php`, regenerated freely from the registry) and its
//! `secrets.php` (written once).

use super::php_string;
use crate::domain::{LanguageCode, NamespaceNames, ResourceKey, Secret, Sitename, WikiName};

/// The values that make one wiki's shard.
pub struct ShardValues<'a> {
    pub key: &'a ResourceKey,
    pub name: &'a WikiName,
    pub sitename: &'a Sitename,
    pub language: &'a LanguageCode,
    /// Names the project namespace must not take.
    pub taken_namespaces: &'a NamespaceNames,
    pub database: ShardDatabase,
}

/// Where the wiki's database lives, as MediaWiki needs to know it.
pub enum ShardDatabase {
    /// `{wiki}/db/{key}.sqlite`.
    Sqlite,
    /// A database on a MariaDB server at `address` (`HOST:PORT`), with an account of the
    /// same name; the password is in `secrets.php`.
    Mysql { address: String, name: String },
}

/// The wiki's `LocalSettings.php`: everything that is not secret and not farm-wide. It holds
/// nothing that cannot be rebuilt from the registry, so it can be rewritten at any time.
pub fn render_shard(values: &ShardValues<'_>) -> String {
    let database = match &values.database {
        ShardDatabase::Sqlite => format!(
            "$wgDBtype = 'sqlite';\n$wgDBname = {key};\n$wgDBserver = '';\n$wgDBuser = '';\n\
             $wgSQLiteDataDir = \"$farmWikiDir/db\";\n",
            key = php_string(values.key.as_str()),
        ),
        ShardDatabase::Mysql { address, name } => format!(
            "$wgDBtype = 'mysql';\n$wgDBserver = {address};\n$wgDBname = {name};\n$wgDBuser = {name};\n\
             $wgDBTableOptions = 'ENGINE=InnoDB, DEFAULT CHARSET=binary';\n",
            address = php_string(address),
            name = php_string(name),
        ),
    };
    format!(
        "<?php\n// Written by farmd for the wiki {name}; changes here are overwritten.\n\
         if ( !defined( 'MEDIAWIKI' ) ) {{\n\texit;\n}}\n\n\
         $wgSitename = {sitename};\n$wgMetaNamespace = {meta};\n$wgLanguageCode = {lang};\n\n{database}",
        name = values.name,
        sitename = php_string(values.sitename.as_str()),
        meta = php_string(&values.sitename.meta_namespace(values.taken_namespaces)),
        lang = php_string(values.language.as_str()),
    )
}

/// The wiki's `secrets.php`: a secret key and an upgrade key from the OS random source, and
/// the database password for MariaDB wikis.
pub fn render_secrets(db_password: Option<&Secret>) -> String {
    let mut php = format!(
        "<?php\n// Written once by farmd. Never share these between wikis.\n\
         if ( !defined( 'MEDIAWIKI' ) ) {{\n\texit;\n}}\n\n$wgSecretKey = '{}';\n$wgUpgradeKey = '{}';\n",
        crate::platform::random::random_hex(32),
        crate::platform::random::random_hex(8),
    );
    if let Some(password) = db_password {
        php.push_str(&format!("$wgDBpassword = {};\n", php_string(password.expose())));
    }
    php
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_quotes_user_text() {
        let key = ResourceKey::parse("w0123456789abcdef").expect("key");
        let name = WikiName::parse("demo").expect("name");
        let sitename = Sitename::parse("Bob's \\ wiki").expect("sitename");
        let language = crate::domain::Languages::from_codes(&["en"]).parse("en").expect("lang");
        let taken = NamespaceNames::default();
        let values = |database| ShardValues {
            key: &key,
            name: &name,
            sitename: &sitename,
            language: &language,
            taken_namespaces: &taken,
            database,
        };
        let shard = render_shard(&values(ShardDatabase::Sqlite));
        assert!(shard.contains(r"$wgSitename = 'Bob\'s \\ wiki';"), "{shard}");
        assert!(shard.contains("$wgDBname = 'w0123456789abcdef';"));
        let name = "wiki_w0123456789abcdef".to_owned();
        let shard = render_shard(&values(ShardDatabase::Mysql { address: "db1:3306".into(), name }));
        assert!(shard.contains("$wgDBtype = 'mysql';\n$wgDBserver = 'db1:3306';"), "{shard}");
        assert!(shard.contains("$wgDBuser = 'wiki_w0123456789abcdef';"));
        assert!(!shard.contains("wgDBpassword"), "the password lives in secrets.php");
    }

    #[test]
    fn secrets_hold_the_database_password_only_when_given() {
        assert!(!render_secrets(None).contains("wgDBpassword"));
        let with = render_secrets(Some(&Secret::new("pw123".into())));
        assert!(with.contains("$wgDBpassword = 'pw123';"));
        assert_ne!(render_secrets(None), render_secrets(None), "fresh keys each time");
    }
}
