<?php
/**
 * farmd: what building a template needs beyond MediaWiki's own scripts. farmd runs it with the
 * template's own configuration while building it:
 *
 *   MW_CONFIG_FILE=.../LocalSettings.php php farm-template.php system-user 'Wiki farm'
 *     creates a system user (nobody can log in as it), the author of the starter pages;
 *   MW_CONFIG_FILE=.../LocalSettings.php php farm-template.php main-page
 *     prints the title of the Main Page in the content language.
 */

if ( PHP_SAPI !== 'cli' ) {
	exit( 1 );
}

require_once getenv( 'MW_INSTALL_PATH' ) . '/maintenance/Maintenance.php';

class FarmTemplate extends Maintenance {
	public function __construct() {
		parent::__construct();
		$this->addDescription( 'Helps build a template (run by farmd)' );
		$this->addArg( 'action', 'system-user or main-page' );
		$this->addArg( 'name', 'The system user\'s name', false );
	}

	public function execute() {
		switch ( $this->getArg( 0 ) ) {
			case 'system-user':
				$user = User::newSystemUser( (string)$this->getArg( 1 ), [ 'steal' => true ] );
				if ( !$user ) {
					$this->fatalError( 'could not create the system user' );
				}
				$this->output( "ok\n" );
				break;
			case 'main-page':
				$this->output( Title::newMainPage()->getPrefixedText() . "\n" );
				break;
			default:
				$this->fatalError( 'unknown action' );
		}
	}
}

$maintClass = FarmTemplate::class;
require_once RUN_MAINTENANCE_IF_MAIN;
