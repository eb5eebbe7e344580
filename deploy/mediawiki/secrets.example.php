<?php
/**
 * farmd: example of {data_dir}/wikis/{key}/secrets.php (mode 0600/0640, readable only
 * by the PHP user). Fresh random values per wiki, never shared across wikis:
 *   {{SECRET_KEY}}   64 lowercase hex chars (32 random bytes): signs sessions, tokens, cookies
 *   {{UPGRADE_KEY}}  16 lowercase hex chars (8 random bytes): web updater gate (unused by the farm)
 */
if ( !defined( 'MEDIAWIKI' ) ) {
	exit;
}

$wgSecretKey = '{{SECRET_KEY}}';
$wgUpgradeKey = '{{UPGRADE_KEY}}';
