<?php
/**
 * farmd: every namespace name a wiki in LANGUAGE could have, as a JSON list, so that farmd
 * never makes a wiki's project namespace ($wgMetaNamespace) out of a sitename that already
 * names a namespace ("Special", "User talk", "Datei", "Module"...).
 *
 *   php farm-namespaces.php /usr/share/mediawiki LANGUAGE
 *
 * Reads MediaWiki's message files and the bundled extensions' namespace files directly;
 * boots no MediaWiki and touches no wiki. Names come out as MediaWiki stores them (spaces as
 * underscores); farmd compares them without case.
 */

if ( PHP_SAPI !== 'cli' || $argc !== 3 ) {
	fwrite( STDERR, "usage: php farm-namespaces.php MEDIAWIKI_DIR LANGUAGE\n" );
	exit( 2 );
}
[ , $dir, $language ] = $argv;
if ( !preg_match( '/^[a-z0-9-]{2,35}$/', $language ) || !is_file( "$dir/includes/Defines.php" ) ) {
	fwrite( STDERR, "farm-namespaces: bad arguments\n" );
	exit( 2 );
}
// The NS_* constants the message files use. Defines.php itself needs MediaWiki's autoloader,
// so its namespace definitions are read out of it instead.
preg_match_all( "/define\\(\\s*'(NS_[A-Z_]+)',\\s*(-?[0-9]+)\\s*\\)/", (string)file_get_contents( "$dir/includes/Defines.php" ), $constants, PREG_SET_ORDER );
foreach ( $constants as [ , $constant, $value ] ) {
	define( $constant, (int)$value );
}

$names = [ 'Project', 'Project_talk', 'Image', 'Image_talk' ];

/** The names a message file (core or an extension's) gives, for one language. */
function farm_names_of( array $namespaceNames, array $namespaceAliases, array $genderAliases ): array {
	$found = array_merge( array_values( $namespaceNames ), array_keys( $namespaceAliases ) );
	foreach ( $genderAliases as $forms ) {
		$found = array_merge( $found, array_values( (array)$forms ) );
	}
	// '$1_talk' style names are the project's own talk namespace: not a name a sitename takes.
	return array_filter( $found, static fn ( $name ) => is_string( $name ) && $name !== '' && !str_contains( $name, '$1' ) );
}

// The content language, what it falls back to, and English (canonical names work everywhere).
$chain = [ $language ];
for ( $i = 0; $i < count( $chain ) && $i < 10; $i++ ) {
	$file = "$dir/languages/messages/Messages" . str_replace( '-', '_', ucfirst( $chain[$i] ) ) . '.php';
	if ( !is_file( $file ) ) {
		continue;
	}
	$fallback = null;
	$namespaceNames = $namespaceAliases = $namespaceGenderAliases = [];
	include $file;
	$names = array_merge( $names, farm_names_of( $namespaceNames, $namespaceAliases, $namespaceGenderAliases ) );
	foreach ( array_map( 'trim', explode( ',', (string)$fallback ) ) as $next ) {
		if ( $next !== '' && !in_array( $next, $chain, true ) ) {
			$chain[] = $next;
		}
	}
}
if ( !in_array( 'en', $chain, true ) ) {
	$chain[] = 'en';
	$namespaceNames = $namespaceAliases = $namespaceGenderAliases = [];
	include "$dir/languages/messages/MessagesEn.php";
	$names = array_merge( $names, farm_names_of( $namespaceNames, $namespaceAliases, $namespaceGenderAliases ) );
}

// Namespaces of every bundled extension, whether a wiki has it on or not: turning one on
// later must not collide with the project namespace either.
foreach ( array_merge( glob( "$dir/extensions/*/extension.json" ) ?: [], glob( "$dir/skins/*/skin.json" ) ?: [] ) as $manifest ) {
	$info = json_decode( (string)file_get_contents( $manifest ), true );
	if ( !is_array( $info ) ) {
		continue;
	}
	foreach ( $info['namespaces'] ?? [] as $namespace ) {
		if ( isset( $namespace['name'] ) ) {
			$names[] = $namespace['name'];
		}
		if ( isset( $namespace['constant'], $namespace['id'] ) && !defined( $namespace['constant'] ) ) {
			define( $namespace['constant'], $namespace['id'] );
		}
	}
	foreach ( $info['ExtensionMessagesFiles'] ?? [] as $key => $relative ) {
		if ( !str_ends_with( $key, 'Namespaces' ) ) {
			continue;
		}
		$namespaceNames = $namespaceAliases = $namespaceGenderAliases = [];
		try {
			include dirname( $manifest ) . '/' . $relative;
		} catch ( Throwable $e ) {
			continue;
		}
		foreach ( $chain as $code ) {
			$names = array_merge( $names, farm_names_of(
				(array)( $namespaceNames[$code] ?? [] ),
				(array)( $namespaceAliases[$code] ?? [] ),
				(array)( $namespaceGenderAliases[$code] ?? [] )
			) );
		}
	}
}

echo json_encode( array_values( array_unique( $names ) ), JSON_UNESCAPED_UNICODE ), "\n";
