#!/usr/bin/env bash
# Installs the Debian packages farmd needs at run time (and its tests): the shared MediaWiki
# codebase and PHP with the extensions MediaWiki uses. Installs only what is missing.
# --test also installs what the tests use, including Chromium, Node.js, slapd, and the npm
# packages of the browser tests (tests/browser/node_modules) and of the test OpenID provider
# (tests/oidc/node_modules).
# Usage: deploy/install-deps.sh [--test]
# A production farm also wants Debian's nginx, php-fpm and varnish (the recipes in deploy/,
# README "Running in production"); they are installed here with --test only.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

packages=(
  mediawiki            # the shared codebase, /usr/share/mediawiki (1.39 LTS on bookworm)
  php-cli              # installer, maintenance scripts and the built-in web server
  php-sqlite3          # SQLite wikis
  php-mysql            # MariaDB wikis
  mariadb-client       # backups and restores of MariaDB wikis (mariadb-dump, mariadb)
  php-intl php-mbstring php-xml php-apcu
  php-gd               # thumbnails of uploaded images (the farm turns ImageMagick off)
  # What the default extensions need (GET /api/v1/extensions lists each one's needs):
  lua5.1 php-luasandbox  # Scribunto: Lua modules, in-process with luasandbox, else lua5.1
  python3-pygments     # SyntaxHighlight_GeSHi calls /usr/bin/pygmentize
)
# --test: also what the test suites use (they start private MariaDB servers).
if [ "${1:-}" = "--test" ]; then
  packages+=(mariadb-server
    python3-aiosmtpd     # the SMTP server on loopback that receives the farm's mail in tests
    python3-venv         # the virtual environment of schemathesis (tests/openapi.rs)
    chromium             # the portal tests' browser, headless (tests/portal.rs)
    slapd ldap-utils     # the private LDAP server of the LDAP login tests (tests/ldap.rs)
    nginx php-fpm        # the production recipe, started by tests/production.rs (deploy/nginx, deploy/php-fpm)
    varnish              # the recipe's read cache, started by tests/cache.rs (deploy/varnish)
    openssl              # the test CA and certificate of that server
    # The package test (tests/package.rs): deploy/build-deb.sh, systemd-analyze verify, the
    # unit's sandbox without systemd (setpriv and unshare are in util-linux) and logrotate.
    dpkg-dev binutils adduser systemd logrotate python3-seccomp)
  # Node.js runs the portal scenarios (tests/browser/). Checked by command, not by package: a
  # NodeSource nodejs package brings its own npm and conflicts with Debian's npm package.
  command -v node >/dev/null 2>&1 || packages+=(nodejs)
  command -v npm >/dev/null 2>&1 || packages+=(npm)
fi

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all packages present"
  [ "${1:-}" = "--test" ] || echo "install-deps: for production, also: apt-get install nginx php-fpm varnish"
else
  if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
  else
    SUDO=
  fi
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# schemathesis checks the API against its OpenAPI document (tests/openapi.rs); pinned, in a
# virtual environment of its own.
venv="$root/tests/openapi/.venv"
requirements="$root/tests/openapi/requirements.txt"
if [ "${1:-}" = "--test" ] && ! cmp -s "$requirements" "$venv/requirements.txt"; then
  echo "install-deps: schemathesis into tests/openapi/.venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
  cp "$requirements" "$venv/requirements.txt" # what this venv was made from
fi

# The OpenID provider of the OpenID Connect tests (oidc-provider, pinned in package-lock.json).
if [ "${1:-}" = "--test" ] && [ ! -d "$root/tests/oidc/node_modules/oidc-provider" ]; then
  echo "install-deps: npm ci in tests/oidc"
  (cd "$root/tests/oidc" && npm ci --no-audit --no-fund)
fi

# The browser tests' one npm package (playwright-core, pinned in package-lock.json; it drives
# the Chromium above and downloads no browser of its own).
if [ "${1:-}" = "--test" ] && [ ! -d "$root/tests/browser/node_modules/playwright-core" ]; then
  echo "install-deps: npm ci in tests/browser"
  (cd "$root/tests/browser" && npm ci --no-audit --no-fund)
fi
