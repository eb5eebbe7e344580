#!/usr/bin/env bash
# Installs the Debian packages farmd needs at run time (and its tests): the shared MediaWiki
# codebase and PHP with the extensions MediaWiki uses. Installs only what is missing.
# Usage: deploy/install-deps.sh [--test]
set -euo pipefail

packages=(
  mediawiki            # the shared codebase, /usr/share/mediawiki (1.39 LTS on bookworm)
  php-cli              # installer, maintenance scripts and the built-in web server
  php-sqlite3          # SQLite wikis
  php-mysql            # MariaDB wikis
  php-intl php-mbstring php-xml php-apcu
)
# --test: also what the test suites use (they start private MariaDB servers).
if [ "${1:-}" = "--test" ]; then
  packages+=(mariadb-server mariadb-client
    python3-aiosmtpd)    # the SMTP server on loopback that receives the farm's mail in tests
fi

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-deps: all packages present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  SUDO=sudo
else
  SUDO=
fi
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
