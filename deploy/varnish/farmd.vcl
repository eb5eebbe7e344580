vcl 4.1;
# farmd's wikis behind Debian's Varnish: anonymous page views come from the cache, and
# MediaWiki purges a page on every edit ($wgUseCdn; farmd writes it from [cache] purge, which
# names this Varnish's address). Varnish listens where people (or the TLS terminator) connect
# for the farm, and passes everything to nginx (deploy/nginx/farmd.conf), which sends the portal
# and the API to farmd and the wikis to php-fpm. The same rules as farmd's built-in cache
# (farm-http/src/cache.rs). farmd bans a wiki's pages here when the wiki changes (turned
# private, deleted, renamed...), which MediaWiki sends no purge for
# (farm-core/src/jobs/cdn_bans.rs). Replace the @PLACEHOLDERS@:
#   @NGINX_HOST@ @NGINX_PORT@  where nginx listens for the farm (127.0.0.1 and 8081)
#   @BASE_DOMAIN_RE@           farmd's base_domain with every '.' as '\.'
# Run: varnishd -a :80 -f /etc/varnish/farmd.vcl -s malloc,256m (Debian: varnish.service's
# ExecStart), and in farmd.toml: [cache] purge = ["127.0.0.1:80"] (the -a address).

import std;

backend nginx {
    .host = "@NGINX_HOST@";
    .port = "@NGINX_PORT@";
    # A cold first render or a big edit.
    .first_byte_timeout = 120s;
}

# Who may purge and ban: MediaWiki and farmd on this machine. A hostile wiki's PHP runs here too
# and can purge other wikis' pages; a purge only ever drops pages (it costs renders), never
# brings one in.
acl purgers {
    "127.0.0.1";
    "::1";
}

sub vcl_recv {
    unset req.http.X-Farm-Cache;
    set req.http.Host = std.tolower(req.http.Host);
    if (req.method == "PURGE") {
        # Varnish has put the peer into X-Forwarded-For: a second address means a proxy
        # relayed a client's PURGE.
        if (client.ip !~ purgers || req.http.X-Forwarded-For ~ ",") {
            return (synth(403, "PURGE is taken from the farm's own machine only"));
        }
        # MediaWiki sends it as to a proxy, with an absolute URL.
        set req.url = regsub(req.url, "^https?://[^/]+", "");
        return (purge);
    }
    # farmd bans every page of a wiki whose settings, privacy, state or address changed (Host:
    # the wiki's), or of every wiki when the farm's own PHP files changed (Host: the base domain).
    if (req.method == "BAN") {
        if (client.ip !~ purgers || req.http.X-Forwarded-For ~ ",") {
            return (synth(403, "BAN is taken from the farm's own machine only"));
        }
        if (req.http.Host ~ "^@BASE_DOMAIN_RE@$") {
            std.ban("obj.http.X-Farm-Wiki ~ .");
        } else if (req.http.Host ~ "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.@BASE_DOMAIN_RE@$") {
            std.ban("obj.http.X-Farm-Wiki == " + req.http.Host);
        } else {
            return (synth(400, "BAN is for a wiki's host or the base domain"));
        }
        return (synth(200, "Banned"));
    }
    # Only the wikis (NAME.base_domain) are cached; the portal and the API are farmd's.
    if (req.http.Host !~ "^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.@BASE_DOMAIN_RE@(:[0-9]+)?$") {
        return (pass);
    }
    if ((req.method != "GET" && req.method != "HEAD") || req.http.Authorization || req.http.Range) {
        return (pass);
    }
    # Someone's own page: a wiki session or MediaWiki's login cookies (with the wiki's prefix,
    # __Host- over https), or the portal's sign-on hint (the wiki then checks who it is).
    if (req.http.Cookie ~ "(^|;\s*)(farm_signed_in|[^=;]*(_session|Token|UserID|UserName|LoggedOut|FarmSignOnState|forceHTTPS))=") {
        return (pass);
    }
    # A browser's page view that the wiki has not yet checked against the portal must reach it:
    # farm-sign-on.php sends it through the silent sign-on.
    if (req.http.Cookie !~ "FarmSignOnChecked=" && (req.http.Sec-Fetch-Mode == "navigate"
            || (!req.http.Sec-Fetch-Mode && req.http.Upgrade-Insecure-Requests == "1"))) {
        return (pass);
    }
    # Other cookies stay for MediaWiki; its Vary: Cookie keeps a variant per Cookie header.
    return (hash);
}

sub vcl_hit {
    set req.http.X-Farm-Cache = "HIT";
}

sub vcl_miss {
    set req.http.X-Farm-Cache = "MISS";
}

sub vcl_pass {
    set req.http.X-Farm-Cache = "PASS";
}

sub vcl_backend_fetch {
    unset bereq.http.X-Farm-Cache;
}

sub vcl_backend_response {
    # Which wiki a page is of, for farmd's bans (the ban lurker tests only what is stored).
    set beresp.http.X-Farm-Wiki = regsub(bereq.http.Host, ":[0-9]+$", "");
    # Kept only what says how long (MediaWiki's s-maxage, nginx's static files' max-age), never
    # on Varnish's default TTL; Varnish's built-in rules then refuse private, no-store,
    # no-cache and Set-Cookie.
    if (beresp.http.Cache-Control !~ "(s-maxage|max-age)=[1-9]") {
        set beresp.uncacheable = true;
        set beresp.ttl = 120s;
        return (deliver);
    }
}

sub vcl_deliver {
    set resp.http.X-Cache = req.http.X-Farm-Cache;
    unset resp.http.X-Farm-Wiki;
    # MediaWiki's advice to its CDN: only this cache hears of the purges, so clients and caches
    # further down get s-maxage=0.
    if (resp.http.Cache-Control ~ "s-maxage") {
        set resp.http.Cache-Control = "private, s-maxage=0, max-age=0, must-revalidate";
    }
}
