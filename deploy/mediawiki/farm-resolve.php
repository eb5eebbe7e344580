<?php
/**
 * farmd: find which wiki a request or maintenance run is for.
 *
 * Shared by FarmSettings.php (MW_CONFIG_FILE) and router.php (php -S), so both
 * pick the same wiki the same way. Needs no MediaWiki code; defines functions only.
 *
 * Layout (written by farmd, next to this file and under data_dir):
 *   __DIR__/farm-config.php      returns ['data_dir', 'base_domain', 'scheme', 'port_suffix', 'cache_dir']
 *   {data_dir}/hosts/{name}      symlink to the wiki's directory (created last, removed first)
 *   {data_dir}/wikis/{key}/      LocalSettings.php (shard), secrets.php, db/, images/
 *   {data_dir}/pool/{key}/       a warm-pool entry (db/ for SQLite), never served
 */

// php -S runs router.php and then FarmSettings.php in one request: define once.
if ( !function_exists( 'farm_resolve' ) ) {

	/** The daemon-written farm configuration, read once per request. */
	function farm_config(): array {
		static $config = null;
		if ( $config === null ) {
			$config = require __DIR__ . '/farm-config.php';
		}
		return $config;
	}

	/**
	 * The wiki name asked for, or null. Not validated here.
	 * CLI: `--wiki NAME` defines MW_WIKI_NAME (MW_DB is only its part before the first '-').
	 * Web: the Host header must be NAME.base_domain (any :port is ignored).
	 */
	function farm_requested_name(): ?string {
		if ( defined( 'MW_WIKI_NAME' ) ) {
			return (string)MW_WIKI_NAME;
		}
		if ( defined( 'MW_DB' ) ) {
			return (string)MW_DB;
		}
		if ( PHP_SAPI === 'cli' ) {
			return null;
		}
		$host = strtolower( (string)( $_SERVER['HTTP_HOST'] ?? '' ) );
		$host = preg_replace( '/:[0-9]*$/', '', $host );
		$suffix = '.' . strtolower( farm_config()['base_domain'] );
		if ( strlen( $host ) <= strlen( $suffix ) || substr( $host, -strlen( $suffix ) ) !== $suffix ) {
			return null;
		}
		return substr( $host, 0, -strlen( $suffix ) );
	}

	/**
	 * The wiki to serve: ['name' => ..., 'key' => ..., 'dir' => {data_dir}/wikis/{key}],
	 * or null when the name is invalid or no wiki is registered under it.
	 */
	function farm_resolve(): ?array {
		// farmd's import step runs scripts for a wiki that is not served yet (no host link):
		// it names the wiki by key and name (CLI only, both validated).
		$key = PHP_SAPI === 'cli' ? getenv( 'FARM_WIKI_KEY' ) : false;
		if ( is_string( $key ) && $key !== '' ) {
			$name = (string)getenv( 'FARM_WIKI_NAME' );
			if ( !preg_match( '/^w[0-9a-f]{16}$/', $key ) || !preg_match( '/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/', $name ) ) {
				return null;
			}
			$dir = rtrim( farm_config()['data_dir'], '/' ) . "/wikis/$key";
			if ( !is_file( "$dir/LocalSettings.php" ) || !is_file( "$dir/secrets.php" ) ) {
				return null;
			}
			return [ 'name' => $name, 'key' => $key, 'dir' => $dir ];
		}
		$name = farm_requested_name();
		// Validate before the name touches the filesystem (no '/', '..', NUL, uppercase).
		if ( $name === null || !preg_match( '/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/', $name ) ) {
			return null;
		}
		$dataDir = rtrim( farm_config()['data_dir'], '/' );
		// readlink(), not realpath(): realpath() answers from PHP's per-process realpath
		// cache (up to realpath_cache_ttl = 120 s), so a removed host would linger in
		// long-lived php-fpm / php -S workers. @: a missing link is a normal "no wiki".
		$target = @readlink( "$dataDir/hosts/$name" );
		if ( $target === false ) {
			return null;
		}
		// Accept only {data_dir}/wikis/{key} or ../wikis/{key}; rebuild the path ourselves.
		$key = basename( $target );
		$parent = dirname( $target );
		if ( !preg_match( '/^w[0-9a-f]{16}$/', $key )
			|| ( $parent !== '../wikis' && rtrim( $parent, '/' ) !== "$dataDir/wikis" )
		) {
			return null;
		}
		$dir = "$dataDir/wikis/$key";
		if ( !is_file( "$dir/LocalSettings.php" ) || !is_file( "$dir/secrets.php" ) ) {
			return null;
		}
		return [ 'name' => $name, 'key' => $key, 'dir' => $dir ];
	}

	/**
	 * The old name of a renamed wiki: a permanent redirect to the same path on the new name,
	 * while {data_dir}/redirects/{old} exists (farmd writes it with the rename and removes it
	 * when the old name is free again).
	 */
	function farm_redirect_renamed(): void {
		$name = farm_requested_name();
		if ( $name === null || !preg_match( '/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/', $name ) ) {
			return;
		}
		$config = farm_config();
		$new = @file_get_contents( rtrim( $config['data_dir'], '/' ) . "/redirects/$name" );
		if ( !is_string( $new ) || !preg_match( '/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/', $new ) || headers_sent() ) {
			return;
		}
		$uri = (string)( $_SERVER['REQUEST_URI'] ?? '/' );
		if ( $uri === '' || $uri[0] !== '/' || str_starts_with( $uri, '//' ) ) {
			$uri = '/';
		}
		http_response_code( 301 );
		header( 'Location: ' . $config['scheme'] . '://' . $new . '.' . $config['base_domain'] . $config['port_suffix'] . $uri );
		header( 'Cache-Control: no-store' );
		exit;
	}

	/** Stop here: 404 page on the web, message + exit 1 on the CLI (a renamed wiki's old name
	 * redirects instead). */
	function farm_not_found(): void {
		if ( PHP_SAPI === 'cli' ) {
			$name = farm_requested_name();
			fwrite( STDERR, $name === null
				? "farm: no wiki given; use --wiki NAME\n"
				: "farm: no wiki named '" . addcslashes( $name, "\0..\37\\'" ) . "'\n" );
			exit( 1 );
		}
		farm_redirect_renamed();
		if ( !headers_sent() ) {
			http_response_code( 404 );
			header( 'Content-Type: text/html; charset=utf-8' );
			header( 'Cache-Control: no-store' );
		}
		echo "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">" .
			"<title>No wiki here</title></head>\n<body><h1>No wiki lives at this address</h1>\n" .
			"<p>Check the address, or create the wiki first.</p></body></html>\n";
		exit;
	}
}
