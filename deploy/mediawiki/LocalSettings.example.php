<?php
/**
 * farmd: example of the per-wiki shard {data_dir}/wikis/{key}/LocalSettings.php.
 * Loaded by FarmSettings.php after the farm defaults (so it may override them) and
 * before secrets.php. $farmWikiDir = {data_dir}/wikis/{key} is set by FarmSettings.php.
 *
 * Placeholders farmd fills in, each as a single-quoted PHP string literal
 * (escape \ as \\ and ' as \'; values are UTF-8):
 *   {{SITENAME}}        display name, e.g. 'My Wiki'
 *   {{META_NAMESPACE}}  project namespace: sitename with ' ' -> '_', no ':' (e.g. 'My_Wiki')
 *   {{LANG}}            content language code, e.g. 'en' (pre-warm its l10n cache)
 *   {{KEY}}             the wiki key, w + 16 hex; also the SQLite file db/{{KEY}}.sqlite
 */
if ( !defined( 'MEDIAWIKI' ) ) {
	exit;
}

$wgSitename = '{{SITENAME}}';
$wgMetaNamespace = '{{META_NAMESPACE}}';
$wgLanguageCode = '{{LANG}}';

## Database: SQLite files in {wiki}/db/ ({{KEY}}.sqlite, {{KEY}}_jobqueue.sqlite, wikicache.sqlite)
$wgDBtype = 'sqlite';
$wgDBname = '{{KEY}}';
$wgDBserver = '';
$wgDBuser = '';
$wgDBpassword = '';
$wgSQLiteDataDir = "$farmWikiDir/db";
