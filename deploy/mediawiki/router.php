<?php
/**
 * farmd: router for PHP's built-in server, serving every wiki of the farm:
 *   MW_CONFIG_FILE=/abs/FarmSettings.php php -S 127.0.0.1:8080 -t /usr/share/mediawiki /abs/router.php
 *
 * - unknown or invalid host: the farm's 404 page, for every path;
 * - /images/...: the wiki's own upload directory (refused on private wikis: img_auth.php);
 * - /farm-assets/...: the wiki's logo and favicon, or the farm's default logo;
 * - MediaWiki's web entry points and static assets: `return false`, php -S serves them;
 * - anything else in the codebase (mw-config/ = the web installer, maintenance/, vendor/,
 *   includes/, stray .php files): 404, since php -S would otherwise run or send it.
 */

require_once __DIR__ . '/farm-resolve.php';

// Without MW_CONFIG_FILE MediaWiki would answer "LocalSettings.php not found, set up the
// wiki" (the installer) for every host: refuse to serve instead.
if ( realpath( (string)getenv( 'MW_CONFIG_FILE' ) ) !== realpath( __DIR__ . '/FarmSettings.php' ) ) {
	http_response_code( 500 );
	header( 'Content-Type: text/plain; charset=utf-8' );
	echo "Farm misconfigured: MW_CONFIG_FILE must point at FarmSettings.php\n";
	return true;
}

$farmWiki = farm_resolve();
if ( $farmWiki === null ) {
	farm_not_found();
}

// The path as sent, decoded once. Not parse_url(): it reads "//images/..." as a host name.
$path = rawurldecode( explode( '?', (string)( $_SERVER['REQUEST_URI'] ?? '/' ), 2 )[0] );
if ( $path === '' || $path[0] !== '/' || str_contains( $path, "\0" ) ) {
	farm_router_deny( 400 );
}

if ( $path === '/' ) {
	return false; // php -S runs index.php
}

// Entry points: what follows the script is a page title (PATH_INFO), which may hold anything
// a title may, a backslash included ("Path\Backslash"). php -S runs the script itself.
if ( preg_match( '#^/(index|api|load|rest|opensearch_desc|img_auth)\.php(/|$)#', $path ) ) {
	return false;
}

// Everything else names a file: no backslash and no dot-segment, and repeated slashes count
// as one, so that every spelling of a path is checked as the one file it reaches.
if ( preg_match( '#\\\\|(^|/)\.\.?(/|$)#', $path ) ) {
	farm_router_deny( 400 );
}
$segments = array_values( array_filter( explode( '/', $path ), static fn ( $s ) => $s !== '' ) );
$normalized = '/' . implode( '/', $segments );

if ( preg_match( '#^/(resources|skins|extensions)/[^?]*\.(css|js|json|png|gif|jpe?g|svg|ico|webp|woff2?|ttf|eot|otf|cur)$#i', $normalized )
	&& is_file( $_SERVER['DOCUMENT_ROOT'] . $normalized )
) {
	return false;
}

// The wiki's logo and favicon (named by content), else the farm's own images.
if ( ( $segments[0] ?? '' ) === 'farm-assets' && count( $segments ) === 2 ) {
	$asset = $segments[1];
	if ( preg_match( '/^(logo|favicon)-[0-9a-f]{16}\.(png|jpg|webp|svg|ico)$/', $asset ) ) {
		farm_router_send_file( $farmWiki['dir'] . '/assets/' . $asset, true );
	}
	if ( preg_match( '/^farm-logo\.(png|jpg|webp|svg)$/', $asset ) ) {
		farm_router_send_file( __DIR__ . '/assets/' . $asset, false );
	}
	farm_router_deny( 404 );
}

if ( ( $segments[0] ?? '' ) === 'images' ) {
	$rel = array_slice( $segments, 1 );
	// A private wiki's files go only through img_auth.php, which checks who asks.
	if ( !$rel || farm_router_is_private_upload( $rel ) || is_file( $farmWiki['dir'] . '/private' ) ) {
		farm_router_deny( 404 );
	}
	farm_router_send_file( $farmWiki['dir'] . '/images/' . implode( '/', $rel ), false );
}

farm_router_deny( 404 );

/**
 * Sends a file of a wiki (or of the farm) and stops. Uploaded files are user content on the
 * wiki's own origin: never sniffed, never scripted; only media, PDFs and text display inline.
 */
function farm_router_send_file( string $file, bool $isAsset ): void {
	if ( !is_file( $file ) || !is_readable( $file ) ) {
		farm_router_deny( 404 );
	}
	$type = ( new finfo( FILEINFO_MIME_TYPE ) )->file( $file ) ?: 'application/octet-stream';
	// Media and PDFs display inline; anything else (HTML, scripts...) only downloads.
	if ( $type === 'image/svg' ) {
		$type = 'image/svg+xml';
	}
	if ( !preg_match( '#^(image|audio|video)/|^application/pdf$|^text/plain$#', $type ) ) {
		$type = 'application/octet-stream';
		header( 'Content-Disposition: attachment' );
	}
	header( "Content-Type: $type" );
	header( 'Content-Length: ' . filesize( $file ) );
	header( 'Last-Modified: ' . gmdate( 'D, d M Y H:i:s', filemtime( $file ) ) . ' GMT' );
	// Uploaded files are user content on the wiki's own origin: never sniff, never script.
	header( 'X-Content-Type-Options: nosniff' );
	header( "Content-Security-Policy: default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; sandbox" );
	if ( $isAsset ) {
		// Named by their content: they never change.
		header( 'Cache-Control: public, max-age=31536000, immutable' );
	}
	if ( ( $_SERVER['REQUEST_METHOD'] ?? 'GET' ) !== 'HEAD' ) {
		readfile( $file );
	}
	exit;
}

/**
 * The upload area's private zones: the upload stash (temp), locks, the file cache, deleted
 * files, and dot files anywhere. Compared without case and without trailing dots or spaces,
 * so that no spelling reaches them on a file system that folds either.
 */
function farm_router_is_private_upload( array $segments ): bool {
	foreach ( $segments as $segment ) {
		if ( $segment[0] === '.' ) {
			return true;
		}
	}
	$zone = strtolower( rtrim( $segments[0], ". \t" ) );
	return in_array( $zone, [ 'temp', 'lockdir', 'cache', 'deleted' ], true );
}

/** A plain error for paths that are not part of any wiki. */
function farm_router_deny( int $status ): void {
	http_response_code( $status );
	header( 'Content-Type: text/plain; charset=utf-8' );
	echo $status === 404 ? "Not found\n" : "Bad request\n";
	exit;
}
