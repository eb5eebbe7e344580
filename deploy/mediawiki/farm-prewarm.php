<?php
/**
 * farmd: renders a warm-pool entry's Main Page into that entry's parser cache, so that the
 * first view of the wiki that later claims the entry is a cache hit. farmd runs it once per
 * entry while building the pool, never on the create path:
 *
 *   FARM_POOL_ENTRY=KEY FARM_PREWARM_TOKEN=HEX MW_CONFIG_FILE=.../FarmSettings.php \
 *     php -d apc.enable_cli=1 farm-prewarm.php
 *
 * farm-resolve.php then loads the entry's directory (data/pool/KEY) with a shard farmd wrote
 * there: the entry's own database (so cache keys already carry the wiki's final key) and a
 * placeholder sitename and address that contain the token. The wiki that claims the entry
 * gets another sitename and address, so the page must not depend on either: when the
 * rendered output mentions the token anywhere, nothing is cached.
 *
 * apc.enable_cli=1 gives the CLI the web's main cache (APCu, here thrown away at exit), so
 * the message cache does not write rows into the wiki's database as it would with CACHE_DB.
 *
 * Prints one line: "cached" or "skipped: REASON". Exits non-zero on errors.
 */

use MediaWiki\MediaWikiServices;
use MediaWiki\Page\ParserOutputAccess;

if ( PHP_SAPI !== 'cli' ) {
	exit( 1 );
}
$farmEntry = getenv( 'FARM_POOL_ENTRY' );
$farmToken = getenv( 'FARM_PREWARM_TOKEN' );
if ( !is_string( $farmEntry ) || !preg_match( '/^w[0-9a-f]{16}$/', $farmEntry )
	|| !is_string( $farmToken ) || !preg_match( '/^[0-9a-f]{8,32}$/', $farmToken )
) {
	fwrite( STDERR, "farm-prewarm: FARM_POOL_ENTRY and FARM_PREWARM_TOKEN must be set by farmd\n" );
	exit( 1 );
}
// Read by farm-resolve.php, which then serves the pool entry.
define( 'FARM_POOL_ENTRY', $farmEntry );
define( 'FARM_PREWARM_TOKEN', $farmToken );
unset( $farmEntry, $farmToken );

require_once getenv( 'MW_INSTALL_PATH' ) . '/maintenance/Maintenance.php';

class FarmPrewarm extends Maintenance {
	public function __construct() {
		parent::__construct();
		$this->addDescription( "Renders a warm-pool entry's Main Page into its parser cache (run by farmd)" );
	}

	public function execute() {
		$services = MediaWikiServices::getInstance();
		$title = Title::newMainPage();
		$page = $services->getWikiPageFactory()->newFromTitle( $title );
		if ( !$page->exists() ) {
			$this->output( "skipped: the main page does not exist\n" );
			return;
		}
		$revision = $page->getRevisionRecord();
		if ( !$revision ) {
			$this->output( "skipped: the main page has no revision\n" );
			return;
		}
		// The parser options of a page view (Article::view): an anonymous reader in the
		// content language, the same options hash and so the same cache key.
		$context = RequestContext::getMain();
		$context->setTitle( $title );
		$article = Article::newFromWikiPage( $page, $context );
		$options = $article->getParserOptions();
		$this->getHookRunner()->onArticleParserOptions( $article, $options );

		// Output cached in the very second of $wgCacheEpoch (the configuration's mtime: a farm
		// that just started wrote it) counts as stale (CacheTime::expired compares with <=):
		// wait for the next second, at most two.
		$epoch = $this->getConfig()->get( 'CacheEpoch' );
		for ( $waited = 0; wfTimestampNow() <= $epoch && $waited < 20; $waited++ ) {
			usleep( 100000 );
		}
		// As PoolWorkArticleViewCurrent does: the cache time is taken before the parse.
		$cacheTime = wfTimestampNow();
		$status = $services->getParserOutputAccess()->getParserOutput(
			$page,
			$options,
			$revision,
			ParserOutputAccess::OPT_NO_CACHE | ParserOutputAccess::OPT_NO_AUDIENCE_CHECK
		);
		$output = $status->getValue();
		if ( !$status->isOK() || !$output instanceof ParserOutput ) {
			$this->fatalError( 'parsing the main page failed: ' . $status->getWikiText( false, false, 'en' ) );
		}
		if ( !$output->isCacheable() ) {
			$this->output( "skipped: the main page is not cacheable\n" );
			return;
		}
		// Everything that is cached (text, display title, links, properties, ...).
		$serialized = $services->getJsonCodec()->serialize( $output );
		if ( stripos( $serialized, FARM_PREWARM_TOKEN ) !== false ) {
			$this->output( "skipped: the main page mentions the sitename or the address\n" );
			return;
		}
		$output->addCacheMessage( "Rendered ahead of demand for farmd's warm pool.\n" );
		$parserCache = $services->getParserCache();
		$parserCache->save( $output, $page, $options, $cacheTime, $revision->getId() );
		// Read it back as a page view would: the key, the expiry and $wgCacheEpoch all agree.
		if ( !$parserCache->get( $page, $options ) ) {
			$this->output( "skipped: the saved page is not a cache hit (cache epoch?)\n" );
			return;
		}
		$this->output( "cached\n" );
	}
}

$maintClass = FarmPrewarm::class;
require_once RUN_MAINTENANCE_IF_MAIN;
