<?php
/**
 * farmd: turns a wiki's settings (the plain values its shard sets: $farmExtensions,
 * $farmPrivate, $farmEdit...) into MediaWiki's configuration, and configures the bundled
 * extensions to work on this machine without reaching the internet.
 *
 * Loaded by FarmSettings.php after the wiki's shard and secrets. Tested on Debian 12's
 * MediaWiki 1.39 with PHP 8.2; the reasons for each setting are in the comments.
 */
if ( !defined( 'MEDIAWIKI' ) ) {
	exit;
}

use MediaWiki\MediaWikiServices;

## Extensions. Maintenance runs may load more, for their schema updates only: farmd creates
## an extension's tables (update.php with FARM_SCHEMA_EXTENSIONS) before a wiki enables it.
$farmLoad = $farmExtensions;
if ( PHP_SAPI === 'cli' && getenv( 'FARM_SCHEMA_EXTENSIONS' ) ) {
	foreach ( explode( ',', (string)getenv( 'FARM_SCHEMA_EXTENSIONS' ) ) as $farmName ) {
		if ( preg_match( '/^[A-Za-z0-9_-]{1,64}$/', $farmName ) && !in_array( $farmName, $farmLoad, true ) ) {
			$farmLoad[] = $farmName;
		}
	}
}
if ( $farmLoad ) {
	wfLoadExtensions( $farmLoad );
}

## Look: the owner's logo, else the farm's (never MediaWiki's placeholder).
$farmLogoUrl = $farmLogo ?? $farmConfig['logo'];
$wgLogos = [ '1x' => $farmLogoUrl, 'icon' => $farmLogoUrl ];
$wgFavicon = $farmFavicon ?? $farmLogoUrl;
if ( $farmLicence ) {
	[ $wgRightsText, $wgRightsUrl, $farmIcon ] = $farmLicence;
	$wgRightsIcon = "$wgResourceBasePath/resources/assets/licenses/$farmIcon";
}

## Who may edit and create accounts.
if ( $farmEdit !== 'everyone' ) {
	foreach ( [ 'edit', 'createpage', 'createtalk' ] as $farmRight ) {
		$wgGroupPermissions['*'][$farmRight] = false;
	}
}
if ( $farmEdit === 'confirmed' ) {
	$wgGroupPermissions['user']['edit'] = false;
	foreach ( [ 'autoconfirmed', 'sysop', 'bureaucrat' ] as $farmGroup ) {
		$wgGroupPermissions[$farmGroup]['edit'] = true;
	}
}
if ( $farmAccountCreation === 'admins' || $farmPrivate ) {
	$wgGroupPermissions['*']['createaccount'] = false;
	$wgGroupPermissions['sysop']['createaccount'] = true;
}

## Private wiki: only the owner's administrators and the people they put in the 'reader'
## group read. Anonymous visitors get the login page (index.php), readapidenied (api.php),
## 403 (rest.php, load.php wiki modules); files only through img_auth.php, which checks
## 'read' (router.php refuses /images/ while the wiki's "private" marker exists).
if ( $farmPrivate ) {
	foreach ( [ '*', 'user' ] as $farmGroup ) {
		$wgGroupPermissions[$farmGroup]['read'] = false;
	}
	foreach ( [ 'edit', 'createpage', 'createtalk' ] as $farmRight ) {
		$wgGroupPermissions['*'][$farmRight] = false;
	}
	foreach ( [ 'reader', 'sysop', 'bureaucrat' ] as $farmGroup ) {
		$wgGroupPermissions[$farmGroup]['read'] = true;
	}
	$wgAddGroups['sysop'][] = 'reader';
	$wgRemoveGroups['sysop'][] = 'reader';
	$wgWhitelistRead = [ 'Special:UserLogin', 'Special:UserLogout', 'Special:CreateAccount', 'Special:FarmSignOn' ];
	$wgUploadPath = '/img_auth.php';
	$wgImgAuthDetails = false;
	$wgFeed = false;
	// Not '*' writeapi = false: api.php action=login needs it.
	$wgExtensionFunctions[] = 'farmPrivateLoadGuard';
}

## Uploads: a storage quota per wiki, counted over current, old and deleted files.
if ( $wgEnableUploads ) {
	$wgMaxUploadSize = min( 100 * 1024 * 1024, max( 1, $farmUploadQuotaBytes ) );
	$wgHooks['UploadVerifyUpload'][] = static function (
		UploadBase $upload, User $user, ?array $props, $comment, $pageText, &$error
	) use ( $farmUploadQuotaBytes ) {
		$new = (int)$upload->getFileSize();
		$dbr = MediaWikiServices::getInstance()->getDBLoadBalancer()->getConnection( DB_PRIMARY );
		$used = (int)$dbr->selectField( 'image', 'SUM(img_size)', '', __METHOD__ )
			+ (int)$dbr->selectField( 'oldimage', 'SUM(oi_size)', '', __METHOD__ )
			+ (int)$dbr->selectField( 'filearchive', 'SUM(fa_size)', '', __METHOD__ );
		if ( $used + $new > $farmUploadQuotaBytes ) {
			$mb = static fn ( $b ) => round( $b / 1048576, 2 ) . ' MB';
			// 'rawmessage' is core's "$1": no message file, so the shared cache is unchanged.
			$error = [ 'rawmessage', sprintf( "This wiki's storage quota is full: %s of %s used, " .
				"and this file needs %s more. Delete old files or ask the farm's administrators for more space.",
				$mb( $used ), $mb( $farmUploadQuotaBytes ), $mb( $new ) ) ];
		}
	};
}

## Email, through the farm's mail server (farm-smtp.php exists only when [smtp] is set).
if ( $farmEmail && is_file( __DIR__ . '/farm-smtp.php' ) ) {
	$farmSmtp = require __DIR__ . '/farm-smtp.php';
	$wgEnableEmail = true;
	$wgEnableUserEmail = true;
	$wgEmailAuthentication = true;
	$wgPasswordSender = $farmSmtp['from'];
	$wgSMTP = $farmSmtp['smtp'];
}

## The bundled extensions, set up to work offline (harmless for wikis that do not load them).
# Scribunto: LuaSandbox when PHP has it, else Debian's lua5.1 (Debian strips the bundled
# binaries; Scribunto needs Lua 5.1).
$wgScribuntoDefaultEngine = extension_loaded( 'luasandbox' ) ? 'luasandbox' : 'luastandalone';
$wgScribuntoEngineConf['luastandalone']['luaPath'] = '/usr/bin/lua5.1';
$wgScribuntoUseGeSHi = true;
$wgScribuntoUseCodeEditor = true;
# SyntaxHighlight: Debian's pygmentize (python3-pygments), never a shim on someone's PATH.
$wgPygmentizePath = '/usr/bin/pygmentize';
$wgPFEnableStringFunctions = true;
# SpamBlacklist fetches meta.wikimedia.org's list by default on every save with a new link:
# local lists only (MediaWiki:Spam-blacklist, MediaWiki:Spam-whitelist).
$wgBlacklistSettings = [ 'spam' => [ 'files' => [] ], 'email' => [ 'files' => [] ] ];
$wgTitleBlacklistSources = [];
# ConfirmEdit: a captcha on account creation, on anonymous edits that add links and after
# failed logins; registered users skip it. The class stays unset for the arithmetic one (its
# class is namespaced in 1.39: naming it 'SimpleCaptcha' is a fatal error).
if ( in_array( 'ConfirmEdit', $farmLoad, true ) ) {
	if ( $farmConfig['captcha'] === 'questy' ) {
		wfLoadExtension( 'ConfirmEdit/QuestyCaptcha' );
		$wgCaptchaQuestions = $farmConfig['captcha_questions'];
	}
	$wgCaptchaTriggers['edit'] = false;
	$wgCaptchaTriggers['create'] = false;
	$wgCaptchaTriggers['addurl'] = true;
	$wgCaptchaTriggers['createaccount'] = true;
	$wgCaptchaTriggers['badlogin'] = true;
	$wgGroupPermissions['user']['skipcaptcha'] = true;
}
# Math in source mode only: the other modes call a remote renderer. extension.json's modes
# are merged into a plain assignment, so replace them after registration; the TeX check also
# calls wikimedia.org, and source mode only prints escaped TeX.
if ( in_array( 'Math', $farmLoad, true ) ) {
	$wgExtensionFunctions[] = static function () {
		$GLOBALS['wgMathValidModes'] = [ 'source' ];
	};
	$wgDefaultUserOptions['math'] = 'source';
	$wgMathDisableTexFilter = 'always';
	$wgHiddenPrefs[] = 'math';
}
# VisualEditor calls Parsoid in-process while $wgVirtualRestConfig has no parsoid or
# restbase module: no HTTP request to $wgServer (which PHP may not resolve). Keep it so.
$wgVisualEditorParsoidAutoConfig = true;
$wgDefaultUserOptions['visualeditor-enable'] = 1;
unset( $farmLoad, $farmName, $farmRight, $farmGroup, $farmIcon, $farmLogoUrl, $farmSmtp );

/**
 * load.php on a private wiki: refuses (403) every module whose content comes from wiki pages
 * (site, site.styles, user, user.styles, noscript, ext.gadget.*) unless the request carries
 * the session of a user with 'read'. load.php runs without sessions (MW_NO_SESSION), so the
 * session is looked up in the session store directly, the way SessionBackend keeps it.
 */
function farmPrivateLoadGuard(): void {
	if ( !defined( 'MW_ENTRY_POINT' ) || MW_ENTRY_POINT !== 'load' ) {
		return;
	}
	$rl = MediaWikiServices::getInstance()->getResourceLoader();
	$request = RequestContext::getMain()->getRequest();
	$names = MediaWiki\ResourceLoader\ResourceLoader::expandModuleNames(
		(string)$request->getRawVal( 'modules', '' ) );
	$wikiModules = array_filter( $names, static function ( $name ) use ( $rl ) {
		return $rl->getModule( $name ) instanceof MediaWiki\ResourceLoader\WikiModule;
	} );
	if ( !$wikiModules ) {
		return;
	}
	if ( farmSessionUserCanRead( $request ) ) {
		header( 'Cache-Control: private, max-age=0, must-revalidate' );
		return;
	}
	http_response_code( 403 );
	header( 'Content-Type: text/plain; charset=utf-8' );
	header( 'Cache-Control: no-store' );
	echo "/* Private wiki: log in to load these modules */\n";
	exit;
}

/** Whether the request's session cookie belongs to a logged-in user with 'read'. */
function farmSessionUserCanRead( WebRequest $request ): bool {
	global $wgSessionName, $wgCookiePrefix, $wgSessionCacheType;
	$id = $request->getCookie( $wgSessionName ?: $wgCookiePrefix . '_session', '' );
	if ( !is_string( $id ) || !preg_match( '/^[a-zA-Z0-9_-]{32,}$/', $id ) ) {
		return false;
	}
	$store = ObjectCache::getInstance( $wgSessionCacheType );
	$blob = $store->get( $store->makeKey( 'MWSession', $id ) );
	$meta = is_array( $blob ) ? ( $blob['metadata'] ?? null ) : null;
	if ( !is_array( $meta ) || empty( $meta['userId'] ) || !isset( $meta['userToken'] ) ) {
		return false;
	}
	$user = User::newFromId( (int)$meta['userId'] );
	if ( !$user->isRegistered() || !hash_equals( (string)$user->getToken( false ), (string)$meta['userToken'] ) ) {
		return false;
	}
	return MediaWikiServices::getInstance()->getPermissionManager()->userHasRight( $user, 'read' );
}
