//! Each wiki's config shard (`LocalSettings.php`, regenerated freely from the registry) and its
//! `secrets.php` (written once).

use super::{php_string, Catalogue};
use crate::domain::settings::{AccountCreation, Configuration, EditRight};
use crate::domain::{NamespaceNames, ResourceKey, Secret, Sitename, WikiName};

/// The values that make one wiki's shard.
pub struct ShardValues<'a> {
    pub key: &'a ResourceKey,
    pub name: &'a WikiName,
    /// Its settings revision, and when it was made.
    pub revision: i64,
    pub revised_at: i64,
    pub configuration: &'a Configuration,
    pub catalogue: &'a Catalogue,
    /// Names the project namespace must not take (in the wiki's language).
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

/// The wiki's `LocalSettings.php`: everything that is not secret and not farm-wide, as plain
/// values; `FarmSettings.php` turns them into MediaWiki's settings. It holds nothing that
/// cannot be rebuilt from the registry, so it can be rewritten at any time.
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
    let config = values.configuration;
    let s = &config.settings;
    // Sitename and language were checked when the revision was made.
    let sitename = Sitename::parse(&s.sitename).map(|n| n.meta_namespace(values.taken_namespaces));
    let meta = sitename.unwrap_or_else(|_| "Project".to_owned());
    let list = |items: &mut dyn Iterator<Item = &str>| {
        let quoted: Vec<String> = items.map(php_string).collect();
        format!("[ {} ]", quoted.join(", "))
    };
    let skipped = list(
        &mut values
            .catalogue
            .skins()
            .filter(|skin| !config.skins.contains(&skin.id))
            .flat_map(|skin| skin.skin_names.iter().map(String::as_str)),
    );
    let asset =
        |file: &Option<String>| file.as_deref().map_or("null".to_owned(), |f| php_string(&format!("/farm-assets/{f}")));
    let licence = match s.licence.mediawiki() {
        Some((text, url, icon)) => format!("[ {}, {}, {} ]", php_string(text), php_string(url), php_string(icon)),
        None => "null".to_owned(),
    };
    let account_creation = match s.account_creation {
        AccountCreation::Everyone => "everyone",
        AccountCreation::Admins => "admins",
    };
    let edit = match s.edit {
        EditRight::Everyone => "everyone",
        EditRight::Registered => "registered",
        EditRight::Confirmed => "confirmed",
    };
    // Pages rendered before a change are stale once it applies (revision 1 keeps the parser
    // cache a pool entry was warmed with).
    let epoch = if values.revision > 1 {
        let at =
            time::OffsetDateTime::from_unix_timestamp(values.revised_at).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        format!("$wgCacheEpoch = '{}';\n", super::mediawiki_timestamp(at))
    } else {
        String::new()
    };
    format!(
        "<?php\n// Written by farmd for the wiki {name} from its settings revision {revision}; \
         changes here are overwritten.\n\
         if ( !defined( 'MEDIAWIKI' ) ) {{\n\texit;\n}}\n\n\
         $farmSettingsRevision = {revision};\n\
         $wgSitename = {sitename};\n$wgMetaNamespace = {meta};\n$wgLanguageCode = {lang};\n\
         $wgLocaltimezone = {timezone};\n$wgDefaultSkin = {skin};\n$wgSkipSkins = {skipped};\n\
         $farmLogo = {logo};\n$farmFavicon = {favicon};\n$farmLicence = {licence};\n\
         $farmPrivate = {private};\n$farmAccountCreation = '{account_creation}';\n$farmEdit = '{edit}';\n\
         $wgEnableUploads = {uploads};\n$farmUploadQuotaBytes = {quota};\n$wgFileExtensions = {file_types};\n\
         $farmEmail = {email};\n$farmExtensions = {extensions};\n{epoch}\n{database}",
        name = values.name,
        revision = values.revision,
        sitename = php_string(&s.sitename),
        meta = php_string(&meta),
        lang = php_string(&s.language),
        timezone = php_string(&s.timezone),
        skin = php_string(&s.skin),
        logo = asset(&s.logo),
        favicon = asset(&s.favicon),
        private = s.private,
        uploads = s.uploads,
        quota = u64::from(s.upload_quota_mb) * 1024 * 1024,
        file_types = list(&mut s.file_types.iter().map(String::as_str)),
        email = s.email,
        extensions = list(&mut config.extensions.iter().map(String::as_str)),
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
        let settings: crate::domain::settings::WikiSettings = serde_json::from_value(serde_json::json!({
            "sitename": "Bob's \\ wiki", "logo": "logo-1.png", "favicon": null, "skin": "vector-2022",
            "timezone": "Europe/Berlin", "language": "en", "private": true, "account_creation": "admins",
            "edit": "registered", "uploads": true, "upload_quota_mb": 2, "file_types": ["png"],
            "licence": "cc0", "email": false
        }))
        .expect("settings");
        let configuration = Configuration {
            settings,
            extensions: ["Cite".to_owned(), "Nuke".to_owned()].into(),
            skins: ["Vector".to_owned()].into(),
        };
        let catalogue = Catalogue::default();
        let taken = NamespaceNames::default();
        let values = |database| ShardValues {
            key: &key,
            name: &name,
            revision: 3,
            revised_at: 0,
            configuration: &configuration,
            catalogue: &catalogue,
            taken_namespaces: &taken,
            database,
        };
        let shard = render_shard(&values(ShardDatabase::Sqlite));
        assert!(shard.contains(r"$wgSitename = 'Bob\'s \\ wiki';"), "{shard}");
        assert!(shard.contains("$wgDBname = 'w0123456789abcdef';"));
        for line in [
            "$farmSettingsRevision = 3;",
            "$wgLocaltimezone = 'Europe/Berlin';",
            "$farmLogo = '/farm-assets/logo-1.png';",
            "$farmFavicon = null;",
            "$farmPrivate = true;",
            "$farmAccountCreation = 'admins';",
            "$farmEdit = 'registered';",
            "$farmUploadQuotaBytes = 2097152;",
            "$wgFileExtensions = [ 'png' ];",
            "$farmExtensions = [ 'Cite', 'Nuke' ];",
            "$wgCacheEpoch = '19700101000000';",
        ] {
            assert!(shard.contains(line), "{line} in {shard}");
        }
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
