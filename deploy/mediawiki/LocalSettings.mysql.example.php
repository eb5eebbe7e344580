<?php
/**
 * farmd: example of the per-wiki shard {data_dir}/wikis/{key}/LocalSettings.php for a wiki
 * whose database lives on a MariaDB (or MySQL) server. Loaded by FarmSettings.php after the
 * farm defaults (so it may override them) and before secrets.php.
 *
 * Placeholders farmd fills in, each as a single-quoted PHP string literal
 * (escape \ as \\ and ' as \'; values are UTF-8):
 *   {{SITENAME}}        display name, e.g. 'My Wiki'
 *   {{META_NAMESPACE}}  project namespace: sitename with ' ' -> '_', no ':' (e.g. 'My_Wiki')
 *   {{LANG}}            content language code, e.g. 'en' (pre-warm its l10n cache)
 *   {{DB_SERVER}}       host:port of the wiki's server, e.g. '127.0.0.1:3306'. An IP, not
 *                       'localhost': PHP's mysqli takes 'localhost' to mean the Unix socket.
 *   {{DB_NAME}}         the wiki's database: 'wiki_' + key, e.g. 'wiki_w0123456789abcdef'
 *   {{DB_USER}}         its account on that server, the same name as the database
 *
 * The account's password is a secret: it goes into secrets.php as
 *   $wgDBpassword = '{{DB_PASSWORD}}';   // 32 characters [A-Za-z0-9]
 * next to $wgSecretKey, never into this file.
 *
 * Everything MediaWiki keeps in the database stays in the wiki's own database: the object
 * cache (CACHE_DB: sessions, parser cache, message cache) in `objectcache`, the job queue in
 * `job`, ResourceLoader dependencies in `module_deps`. FarmSettings.php's SQLite block (side
 * files for those) does not apply here.
 */
if ( !defined( 'MEDIAWIKI' ) ) {
	exit;
}

$wgSitename = '{{SITENAME}}';
$wgMetaNamespace = '{{META_NAMESPACE}}';
$wgLanguageCode = '{{LANG}}';

## Database: MariaDB, one database and one account (privileges on that database only) per wiki
$wgDBtype = 'mysql';
$wgDBserver = '{{DB_SERVER}}';
$wgDBname = '{{DB_NAME}}';
$wgDBuser = '{{DB_USER}}';
$wgDBprefix = '';
# What MediaWiki's installer writes (and the default): tables made later by update.php
# (extensions) match the ones copied from the template.
$wgDBTableOptions = 'ENGINE=InnoDB, DEFAULT CHARSET=binary';
$wgDBssl = false;
