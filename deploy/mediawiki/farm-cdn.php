<?php
/**
 * farmd: MediaWiki's CDN support for the farm's read caches ([cache] in farmd's configuration;
 * FarmSettings.php loads this after the wiki's shard). Anonymous page views are marked
 * cacheable (`Cache-Control: s-maxage`) and every edit sends an HTTP PURGE of the page's
 * addresses to each cache: farmd's own proxy, or a Varnish in front of php-fpm.
 *
 * A private wiki stays without: MediaWiki then sends `Cache-Control: private` on everything it
 * renders, so no cache keeps a page of it for anonymous readers.
 */
if ( !defined( 'MEDIAWIKI' ) ) {
	exit;
}

if ( !empty( $farmConfig['cdn_servers'] ) && !$farmPrivate ) {
	$wgUseCdn = true;
	$wgCdnServers = $farmConfig['cdn_servers'];
	$wgCdnMaxAge = (int)$farmConfig['cdn_max_age'];
	// MediaWiki sends a PURGE through the cache as through a proxy; an https URL would become
	// a CONNECT tunnel, which no cache answers. Purges (and the URLs they are matched against)
	// use the plain-http form of the same host; caches key on host and path, not the scheme.
	if ( str_starts_with( $wgServer, 'https://' ) ) {
		$wgInternalServer = 'http://' . substr( $wgServer, strlen( 'https://' ) );
	}
	// MediaWiki purges a page's canonical address and its history. The canonical form depends
	// on the server (index.php/Title under PHP's own server, index.php?title=Title under
	// php-fpm, whose SAPI MediaWiki trusts with no PATH_INFO); people and links use both, and
	// the Main Page also as /index.php: purge them all, which also lets MediaWiki mark each
	// cacheable for the whole max age (it caches other page views for an hour, unpurged).
	$wgHooks['HtmlCacheUpdaterAppendUrls'][] = static function ( $title, $mode, array &$append ) {
		global $wgScript;
		$key = wfUrlencode( $title->getPrefixedDBkey() );
		$append[] = wfExpandUrl( "$wgScript?title=$key", PROTO_INTERNAL );
		$append[] = wfExpandUrl( "$wgScript/$key", PROTO_INTERNAL );
		if ( $title->isMainPage() ) {
			$append[] = wfExpandUrl( $wgScript, PROTO_INTERNAL );
		}
	};
}
