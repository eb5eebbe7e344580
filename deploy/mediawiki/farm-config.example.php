<?php
/**
 * farmd: example of farm-config.php, which farmd writes next to FarmSettings.php
 * (write a temp file and rename() it over: PHP may read it at any moment).
 * Read by farm-resolve.php for every request and maintenance run.
 */
return [
	// Absolute, no trailing slash; holds hosts/, wikis/, cache/, logs/.
	'data_dir' => '/var/lib/farmd',
	// Wikis live at NAME.base_domain (lowercase).
	'base_domain' => 'localhost',
	'scheme' => 'http',
	// ':8080' when the public port is not the scheme's default, else ''.
	'port_suffix' => ':8080',
	// Shared localisation cache, one per MediaWiki version; writable by the PHP user.
	'cache_dir' => '/var/lib/farmd/cache/1.39.17',
	// farmd runs the wikis' job queues ([jobs] enabled): web requests run no jobs.
	'background_jobs' => true,
];
