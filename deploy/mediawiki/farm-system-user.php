<?php
/**
 * farmd: creates a system user (one nobody can log in as) in a template, the author of its
 * starter pages. farmd runs it with the template's own configuration while building it:
 *
 *   MW_CONFIG_FILE=.../LocalSettings.php php farm-system-user.php 'Wiki farm'
 */

if ( PHP_SAPI !== 'cli' ) {
	exit( 1 );
}

require_once getenv( 'MW_INSTALL_PATH' ) . '/maintenance/Maintenance.php';

class FarmSystemUser extends Maintenance {
	public function __construct() {
		parent::__construct();
		$this->addDescription( 'Creates a system user (run by farmd)' );
		$this->addArg( 'name', 'The user name' );
	}

	public function execute() {
		$user = User::newSystemUser( $this->getArg( 0 ), [ 'steal' => true ] );
		if ( !$user ) {
			$this->fatalError( 'could not create the system user' );
		}
		$this->output( "ok\n" );
	}
}

$maintClass = FarmSystemUser::class;
require_once RUN_MAINTENANCE_IF_MAIN;
