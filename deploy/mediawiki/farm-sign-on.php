<?php
/**
 * farmd: the portal's sign-on on every wiki (FarmSettings.php loads it).
 *
 * A person logged in to the portal is logged in on every wiki they open, as the same user:
 *
 *  1. A browser's page view with no wiki session (and no check since the portal's last login,
 *     see the hint cookie below) goes to Special:FarmSignOn, which puts a random state in a
 *     cookie of this wiki's host and sends the browser to the portal's /sign-on.
 *  2. The portal answers with a form that the browser posts back to Special:FarmSignOn: an
 *     assertion (a JWT signed with the farm's Ed25519 key: user, this wiki, the state, the farm
 *     session's handle, one minute, single use), or "anonymous".
 *  3. The wiki checks the post came from the portal's origin, the state matches its cookie,
 *     and the assertion's signature (sodium, the public key only: nothing here can mint one),
 *     issuer, audience, expiry and freshness; then logs the person in (auto-creating the
 *     account) with the farm session's handle kept in the wiki session.
 *  4. On every later request the wiki session counts only while {data_dir}/sign-on/HANDLE
 *     exists (farmd removes it when the farm session ends: logout, password reset, lock, role
 *     change), so a logout on the portal ends it on the next request.
 *
 * Anything wrong gives an anonymous visitor back on the page they came from, never an error.
 */
if ( !defined( 'MEDIAWIKI' ) ) {
	exit;
}

use MediaWiki\Auth\AuthManager;
use MediaWiki\MediaWikiServices;

final class FarmSignOn {
	/** This wiki's cookies (with $wgCookiePrefix). */
	public const STATE_COOKIE = 'FarmSignOnState';
	public const CHECKED_COOKIE = 'FarmSignOnChecked';
	/** Set by the portal for the parent domain at each login, removed at logout. Not a
	 * credential (anyone may toss one): it only tells wikis that a check may find someone. */
	public const HINT_COOKIE = 'farm_signed_in';
	/** Where a wiki session keeps the farm session's handle. */
	public const SESSION_KEY = 'farmSignOn';

	/** Wires the hooks and special pages; called from FarmSettings.php. */
	public static function register(): void {
		global $wgHooks, $wgSpecialPages, $wgGroupPermissions, $wgAuthManagerAutoConfig,
			$wgEnableBotPasswords, $wgPasswordResetRoutes;
		$config = farm_config();
		$wgSpecialPages['FarmSignOn'] = SpecialFarmSignOn::class;
		$wgHooks['SessionCheckInfo'][] = [ self::class, 'onSessionCheckInfo' ];
		$wgHooks['BeforeInitialize'][] = [ self::class, 'onBeforeInitialize' ];
		$wgHooks['UserEffectiveGroups'][] = [ self::class, 'onUserEffectiveGroups' ];
		$wgHooks['UserLogoutComplete'][] = [ self::class, 'onUserLogoutComplete' ];
		// The account of a farm user is made on their first visit (logged as an auto-creation).
		$wgGroupPermissions['*']['autocreateaccount'] = true;
		if ( $config['staff_group'] ) {
			$wgGroupPermissions['farm-staff'] = array_fill_keys( [
				'block', 'delete', 'undelete', 'deletedhistory', 'deletedtext', 'protect', 'editprotected',
				'rollback', 'import', 'userrights', 'editinterface', 'patrol', 'nuke',
			], true );
		}
		if ( !$config['local_accounts'] ) {
			// Farm accounts only: no passwords on the wiki, no accounts of its own.
			$wgAuthManagerAutoConfig['primaryauth'] = [];
			$wgEnableBotPasswords = false;
			$wgPasswordResetRoutes = [ 'username' => false, 'email' => false ];
			$wgGroupPermissions['*']['createaccount'] = false;
			$wgGroupPermissions['sysop']['createaccount'] = false;
			$wgHooks['SpecialPage_initList'][] = static function ( array &$list ): void {
				$list['Userlogin'] = SpecialFarmLogin::class;
				$list['CreateAccount'] = SpecialFarmCreateAccount::class;
			};
		} else {
			$wgHooks['SkinTemplateNavigation::Universal'][] = [ self::class, 'onSkinTemplateNavigation' ];
		}
	}

	/** The farm session behind $handle as farmd wrote it, or null when it has ended. */
	public static function liveSession( $handle ): ?array {
		if ( !is_string( $handle ) || !preg_match( '/^[0-9a-f]{64}$/', $handle ) ) {
			return null;
		}
		$json = @file_get_contents( rtrim( farm_config()['data_dir'], '/' ) . "/sign-on/$handle" );
		$data = is_string( $json ) ? json_decode( $json, true ) : null;
		if ( !is_array( $data ) || !is_string( $data['user'] ?? null ) || !is_int( $data['expires'] ?? null )
			|| $data['expires'] <= time()
		) {
			return null;
		}
		return $data;
	}

	/** A wiki session from a sign-on lives only as long as its farm session. */
	public static function onSessionCheckInfo( &$reason, $info, $request, $metadata, $data ) {
		$userInfo = $info->getUserInfo();
		if ( !$userInfo || $userInfo->isAnon() ) {
			return true;
		}
		$handle = is_array( $data ) ? ( $data[self::SESSION_KEY] ?? null ) : null;
		if ( $handle === null ) {
			if ( farm_config()['local_accounts'] ) {
				return true;
			}
			$reason = 'farm: a session not from the farm\'s sign-on';
			return false;
		}
		$live = self::liveSession( $handle );
		if ( $live === null || $live['user'] !== $userInfo->getName() ) {
			$reason = 'farm: the farm session ended';
			return false;
		}
		return true;
	}

	/** The staff group, for a session the farm marked as staff (when the operator allows it). */
	public static function onUserEffectiveGroups( $user, &$groups ) {
		if ( !farm_config()['staff_group'] || PHP_SAPI === 'cli' || !$user->isRegistered() ) {
			return true;
		}
		$session = RequestContext::getMain()->getRequest()->getSession();
		if ( $session->getUser()->getName() !== $user->getName() ) {
			return true;
		}
		$live = self::liveSession( $session->get( self::SESSION_KEY ) );
		if ( $live !== null && $live['user'] === $user->getName() && !empty( $live['staff'] ) ) {
			$groups[] = 'farm-staff';
			$groups = array_values( array_unique( $groups ) );
		}
		return true;
	}

	/**
	 * The silent check: a browser's page view without a wiki session goes through the portal
	 * once per portal login (the hint's value), or once per browser session without a hint.
	 */
	public static function onBeforeInitialize( $title, $unused, $output, $user, $request, $mediaWiki ) {
		if ( PHP_SAPI === 'cli' || $user->isRegistered() || $request->getMethod() !== 'GET'
			|| !self::isPageNavigation( $request )
			|| !in_array( $request->getVal( 'action', 'view' ), [ 'view', 'history' ], true )
			|| MediaWikiServices::getInstance()->getReadOnlyMode()->isReadOnly()
		) {
			return true;
		}
		if ( $title && $title->isSpecialPage() ) {
			[ $name ] = MediaWikiServices::getInstance()->getSpecialPageFactory()->resolveAlias( $title->getDBkey() );
			if ( in_array( $name, [ 'FarmSignOn', 'Userlogin', 'Userlogout', 'CreateAccount' ], true ) ) {
				return true;
			}
		}
		$checked = self::cookieOnce( $request, self::prefixed( self::CHECKED_COOKIE ) );
		$hint = self::cookieOnce( $request, self::HINT_COOKIE );
		if ( $checked !== null && ( $hint === null || hash_equals( $checked, $hint ) ) ) {
			return true;
		}
		$output->redirect( SpecialPage::getTitleFor( 'FarmSignOn' )->getFullURL( [
			'returnto' => self::safeReturn( $request->getRequestURL() ),
		] ) );
		$request->response()->header( 'Cache-Control: private, no-store' );
		return true;
	}

	/**
	 * A browser opening a page (not a script, an image or a crawler's fetch). Browsers send
	 * Fetch Metadata to https sites only; over http, a navigation is known by its
	 * Upgrade-Insecure-Requests, which only browsers send.
	 */
	private static function isPageNavigation( WebRequest $request ): bool {
		$mode = $request->getHeader( 'Sec-Fetch-Mode' );
		if ( $mode !== false ) {
			return $mode === 'navigate' && $request->getHeader( 'Sec-Fetch-Dest' ) === 'document';
		}
		return $request->getHeader( 'Upgrade-Insecure-Requests' ) === '1'
			&& str_contains( (string)$request->getHeader( 'Accept' ), 'text/html' );
	}

	/** A logout on the wiki stays one until the portal's next login. */
	public static function onUserLogoutComplete( $user, &$injectHtml, $oldName ) {
		self::markChecked( RequestContext::getMain()->getRequest() );
		return true;
	}

	/** With local accounts allowed, "Log in with the farm account" beside the wiki's own login. */
	public static function onSkinTemplateNavigation( $skin, &$links ) {
		if ( $skin->getUser()->isRegistered() ) {
			return;
		}
		$links['user-menu'] = [ 'farm-login' => [
			'text' => 'Log in with the farm account',
			'href' => SpecialPage::getTitleFor( 'FarmSignOn' )->getLocalURL( [
				'prompt' => 'login',
				'returnto' => self::safeReturn( $skin->getRequest()->getRequestURL() ),
			] ),
		] ] + ( $links['user-menu'] ?? [] );
	}

	/** The cookie's value if the request carries it exactly once (a second one was tossed). */
	public static function cookieOnce( WebRequest $request, string $name ): ?string {
		$header = (string)$request->getHeader( 'Cookie' );
		$found = [];
		foreach ( explode( ';', $header ) as $pair ) {
			$parts = explode( '=', trim( $pair ), 2 );
			if ( count( $parts ) === 2 && $parts[0] === $name ) {
				$found[] = $parts[1];
			}
		}
		return count( $found ) === 1 ? urldecode( $found[0] ) : null;
	}

	public static function prefixed( string $name ): string {
		global $wgCookiePrefix;
		return $wgCookiePrefix . $name;
	}

	/** Remembers that this browser was checked for the portal login it has now. */
	public static function markChecked( WebRequest $request ): void {
		$hint = self::cookieOnce( $request, self::HINT_COOKIE );
		$value = ( $hint !== null && preg_match( '/^[0-9a-f]{1,64}$/', $hint ) ) ? $hint : '-';
		$request->response()->setCookie( self::CHECKED_COOKIE, $value, 0, [ 'httpOnly' => true, 'sameSite' => 'Lax' ] );
	}

	/** A path on this wiki to come back to: anything else becomes "/". */
	public static function safeReturn( $path ): string {
		if ( !is_string( $path ) || $path === '' || $path[0] !== '/' || str_starts_with( $path, '//' )
			|| strpbrk( $path, "\\\r\n\t\0" ) !== false || strlen( $path ) > 2000
		) {
			return '/';
		}
		return $path;
	}

	/**
	 * The claims of an assertion for this wiki and this state, or null. Checks: the compact
	 * JWT shape, alg EdDSA, the Ed25519 signature with the farm's public key, issuer,
	 * audience (this wiki's key), expiry and issue time, nonce = state, the fields' syntax.
	 */
	public static function verify( $jwt, string $state, string $wikiKey ): ?array {
		if ( !is_string( $jwt ) || strlen( $jwt ) > 4096 || substr_count( $jwt, '.' ) !== 2 ) {
			return null;
		}
		[ $head, $body, $sig ] = explode( '.', $jwt );
		$decode = static function ( string $part ) {
			if ( !preg_match( '/^[A-Za-z0-9_-]*$/', $part ) ) {
				return false;
			}
			return base64_decode( strtr( $part, '-_', '+/' ), true );
		};
		$header = json_decode( (string)$decode( $head ), true );
		$claims = json_decode( (string)$decode( $body ), true );
		$signature = $decode( $sig );
		$key = hex2bin( (string)farm_config()['sign_on_key'] );
		if ( !is_array( $header ) || ( $header['alg'] ?? null ) !== 'EdDSA' || !is_array( $claims )
			|| !is_string( $signature ) || strlen( $signature ) !== SODIUM_CRYPTO_SIGN_BYTES
			|| !is_string( $key ) || strlen( $key ) !== SODIUM_CRYPTO_SIGN_PUBLICKEYBYTES
			|| !sodium_crypto_sign_verify_detached( $signature, "$head.$body", $key )
		) {
			return null;
		}
		$now = time();
		$valid = ( $claims['iss'] ?? null ) === 'farmd'
			&& ( $claims['aud'] ?? null ) === "wiki:$wikiKey"
			&& is_string( $claims['nonce'] ?? null ) && hash_equals( $state, $claims['nonce'] )
			&& is_int( $claims['exp'] ?? null ) && $claims['exp'] > $now
			&& is_int( $claims['iat'] ?? null ) && $claims['iat'] <= $now + 5 && $claims['exp'] - $claims['iat'] <= 120
			&& is_string( $claims['sub'] ?? null ) && $claims['sub'] !== ''
			&& is_string( $claims['sid'] ?? null ) && preg_match( '/^[0-9a-f]{64}$/', $claims['sid'] )
			&& is_string( $claims['jti'] ?? null ) && preg_match( '/^[0-9a-f]{32}$/', $claims['jti'] );
		return $valid ? $claims : null;
	}
}

/**
 * Special:FarmSignOn. GET: start a sign-on (the state cookie, then the portal). POST: the
 * portal's answer.
 */
class SpecialFarmSignOn extends UnlistedSpecialPage {
	public function __construct() {
		parent::__construct( 'FarmSignOn' );
	}

	public function doesWrites() {
		return true;
	}

	public function execute( $par ) {
		$request = $this->getRequest();
		$this->getOutput()->disableClientCache();
		$request->response()->header( 'Cache-Control: private, no-store' );
		if ( $request->wasPosted() ) {
			$this->finish( $request );
		} else {
			$this->start( $request );
		}
	}

	private function start( WebRequest $request ): void {
		global $farmWiki;
		$config = farm_config();
		$state = bin2hex( random_bytes( 16 ) );
		$request->response()->setCookie( FarmSignOn::STATE_COOKIE, $state, time() + 600,
			[ 'httpOnly' => true, 'sameSite' => 'Lax' ] );
		$query = [
			'wiki' => $farmWiki['name'],
			'state' => $state,
			'return' => FarmSignOn::safeReturn( $request->getVal( 'returnto', '/' ) ),
		];
		if ( $request->getVal( 'prompt' ) === 'login' ) {
			$query['prompt'] = 'login';
		}
		$this->getOutput()->redirect( $config['portal_url'] . '/sign-on?' . http_build_query( $query ) );
	}

	private function finish( WebRequest $request ): void {
		global $farmWiki, $wgServer;
		$config = farm_config();
		$returnTo = FarmSignOn::safeReturn( $request->getVal( 'return', '/' ) );
		$cookie = FarmSignOn::cookieOnce( $request, FarmSignOn::prefixed( FarmSignOn::STATE_COOKIE ) );
		$state = (string)$request->getVal( 'state', '' );
		$request->response()->clearCookie( FarmSignOn::STATE_COOKIE, [ 'httpOnly' => true, 'sameSite' => 'Lax' ] );
		$refuse = function ( string $why ) use ( $request, $returnTo, $wgServer, $farmWiki ) {
			wfDebugLog( 'farm-sign-on', "wiki {$farmWiki['name']}: a sign-on refused: $why; the visitor stays anonymous" );
				FarmSignOn::markChecked( $request );
			$this->getOutput()->redirect( $wgServer . $returnTo );
		};
		// Only the portal posts here: a page elsewhere on the farm cannot (its Origin differs).
		if ( $request->getHeader( 'Origin' ) !== $config['portal_url'] ) {
			$refuse( 'not posted from the portal' );
			return;
		}
		if ( $cookie === null || !preg_match( '/^[0-9a-f]{32}$/', $cookie ) || !hash_equals( $cookie, $state ) ) {
			$refuse( 'state does not match' );
			return;
		}
		if ( $request->getVal( 'result' ) === 'anonymous' ) {
			$refuse( 'not logged in on the portal' );
			return;
		}
		$claims = FarmSignOn::verify( $request->getVal( 'assertion' ), $state, $farmWiki['key'] );
		if ( $claims === null ) {
			$refuse( 'invalid assertion' );
			return;
		}
		$live = FarmSignOn::liveSession( $claims['sid'] );
		if ( $live === null || $live['user'] !== $claims['sub'] ) {
			$refuse( 'the farm session ended' );
			return;
		}
		$services = MediaWikiServices::getInstance();
		$stash = $services->getMainObjectStash();
		if ( !$stash->add( $stash->makeKey( 'farm-sign-on-jti', $claims['jti'] ), 1, 300 ) ) {
			$refuse( 'assertion used before' );
			return;
		}
		$user = $services->getUserFactory()->newFromName( $claims['sub'], 'creatable' )
			?? $services->getUserFactory()->newFromName( $claims['sub'], 'valid' );
		if ( !$user ) {
			$refuse( 'user name not valid here' );
			return;
		}
		// Makes the account on the first visit and logs in (a new session id, new tokens).
		$status = $services->getAuthManager()->autoCreateUser( $user, AuthManager::AUTOCREATE_SOURCE_SESSION, true );
		if ( !$user->isRegistered() ) {
			$refuse( 'could not make the account: ' . $status->getWikiText( false, false, 'en' ) );
			return;
		}
		$session = $request->getSession();
		$session->set( FarmSignOn::SESSION_KEY, $claims['sid'] );
		$session->persist();
		$session->save();
		FarmSignOn::markChecked( $request );
		$this->getOutput()->redirect( $wgServer . $returnTo );
	}
}

/** Special:UserLogin with farm accounts only: the portal's login, then back here. */
class SpecialFarmLogin extends UnlistedSpecialPage {
	public function __construct() {
		parent::__construct( 'Userlogin' );
	}

	public function execute( $par ) {
		$request = $this->getRequest();
		$returnTo = '/';
		$title = Title::newFromText( (string)$request->getVal( 'returnto', '' ) );
		if ( $title && !$title->isExternal() ) {
			$returnTo = FarmSignOn::safeReturn( $title->getLocalURL( (string)$request->getVal( 'returntoquery', '' ) ) );
		}
		$this->getOutput()->redirect( SpecialPage::getTitleFor( 'FarmSignOn' )->getFullURL( [
			'prompt' => 'login',
			'returnto' => $returnTo,
		] ) );
	}
}

/** Special:CreateAccount with farm accounts only: sign up on the portal. */
class SpecialFarmCreateAccount extends UnlistedSpecialPage {
	public function __construct() {
		parent::__construct( 'CreateAccount' );
	}

	public function execute( $par ) {
		$this->getOutput()->redirect( farm_config()['portal_url'] . '/signup' );
	}
}
