<?php
/**
 * farmd: keeps a wiki's administrators in step with the farm (its owner and managers).
 *
 *   FARM_WIKI_KEY=w… FARM_WIKI_NAME=name php farm-rights.php --grant Alice,Bob --revoke Carol
 *
 * Each granted user (made like a first visit would, if they have no account on the wiki yet)
 * gets the groups sysop and bureaucrat; each revoked one loses sysop, bureaucrat and
 * interface-admin. Every change is in the wiki's user rights log, by the farm's own user.
 * Running it again changes nothing (a user who already has the groups, or lacks them, is left
 * alone), so farmd may repeat it after a crash. Prints one line per change.
 */

if ( PHP_SAPI !== 'cli' ) {
	exit( 1 );
}

require_once getenv( 'MW_INSTALL_PATH' ) . '/maintenance/Maintenance.php';

use MediaWiki\Auth\AuthManager;
use MediaWiki\MediaWikiServices;

class FarmRights extends Maintenance {
	private const GRANTED = [ 'sysop', 'bureaucrat' ];
	private const REVOKED = [ 'sysop', 'bureaucrat', 'interface-admin' ];

	public function __construct() {
		parent::__construct();
		$this->addDescription( 'Keeps the farm\'s administrators of a wiki in step (run by farmd)' );
		$this->addOption( 'grant', 'User names (comma-separated) to make administrators', false, true );
		$this->addOption( 'revoke', 'User names (comma-separated) who are administrators no more', false, true );
	}

	public function execute() {
		$services = MediaWikiServices::getInstance();
		$farm = User::newSystemUser( 'Wiki farm', [ 'steal' => true ] );
		if ( !$farm ) {
			$this->fatalError( 'could not get the farm\'s user' );
		}
		foreach ( $this->names( 'grant' ) as $name ) {
			$user = $services->getUserFactory()->newFromName( $name, 'creatable' )
				?? $services->getUserFactory()->newFromName( $name, 'valid' );
			if ( !$user ) {
				$this->fatalError( "not a valid user name: $name" );
			}
			if ( !$user->isRegistered() ) {
				$status = $services->getAuthManager()->autoCreateUser( $user, AuthManager::AUTOCREATE_SOURCE_MAINT, false );
				if ( !$user->isRegistered() ) {
					$this->fatalError( "could not make the account $name: " . $status->getWikiText( false, false, 'en' ) );
				}
				$this->output( "created $name\n" );
			}
			$this->change( $user, self::GRANTED, [], $farm, 'Owner or manager of this wiki on the farm' );
		}
		foreach ( $this->names( 'revoke' ) as $name ) {
			$user = $services->getUserFactory()->newFromName( $name, 'valid' );
			if ( $user && $user->isRegistered() ) {
				$this->change( $user, [], self::REVOKED, $farm, 'No longer the owner or a manager of this wiki on the farm' );
			}
		}
		$this->output( "ok\n" );
	}

	/** @return string[] */
	private function names( string $option ): array {
		$value = (string)$this->getOption( $option, '' );
		return $value === '' ? [] : explode( ',', $value );
	}

	private function change( User $user, array $add, array $remove, User $performer, string $reason ): void {
		$groups = MediaWikiServices::getInstance()->getUserGroupManager();
		$old = $groups->getUserGroups( $user, IDBAccessObject::READ_LATEST );
		$added = array_values( array_diff( $add, $old ) );
		$removed = array_values( array_intersect( $remove, $old ) );
		if ( !$added && !$removed ) {
			return;
		}
		foreach ( $added as $group ) {
			$groups->addUserToGroup( $user, $group );
		}
		foreach ( $removed as $group ) {
			$groups->removeUserFromGroup( $user, $group );
		}
		$new = $groups->getUserGroups( $user, IDBAccessObject::READ_LATEST );
		$log = new ManualLogEntry( 'rights', 'rights' );
		$log->setPerformer( $performer );
		$log->setTarget( $user->getUserPage() );
		$log->setComment( $reason );
		$log->setParameters( [
			'4::oldgroups' => array_values( $old ),
			'5::newgroups' => array_values( $new ),
			'oldmetadata' => array_fill( 0, count( $old ), [ 'expiry' => null ] ),
			'newmetadata' => array_fill( 0, count( $new ), [ 'expiry' => null ] ),
		] );
		$log->publish( $log->insert() );
		$this->output( 'rights ' . $user->getName() . ': ' . implode( ',', $old ) . ' -> ' . implode( ',', $new ) . "\n" );
	}
}

$maintClass = FarmRights::class;
require_once RUN_MAINTENANCE_IF_MAIN;
