#!/usr/bin/env bash
# Builds the Debian package of farmd, farmd_VERSION_ARCH.deb, from this source tree: a release
# build of the binary, then dpkg-deb over a staging directory (no debhelper, no cargo-deb).
#
# Usage: deploy/build-deb.sh [--version VERSION] [--output DIR] [--no-build | --binary PATH]
#   --version  the package's version (default: the workspace's version in Cargo.toml)
#   --output   where the .deb goes (default: target/debian); the script prints its path
#   --no-build package the binary a previous release build left in the target directory
#   --binary   package this farmd binary instead (the tests use their debug build)
# Needs cargo, dpkg-dev (dpkg-shlibdeps: the binary's library dependencies) and binutils
# (strip). Honours CARGO, CARGO_TARGET_DIR and DEBFULLNAME/DEBEMAIL (the Maintainer field).
# What the package holds and does: README.md, "Installing the Debian package".
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

version=""
output=""
build=1
binary=""
while [ $# -gt 0 ]; do
  case "$1" in
    --version) version="$2"; shift 2 ;;
    --output) output="$2"; shift 2 ;;
    --no-build) build=0; shift ;;
    --binary) binary="$2"; build=0; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "build-deb: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

if [ -z "$version" ]; then
  version="$(awk '/^\[workspace\.package\]/ { section = 1; next } /^\[/ { section = 0 }
    section && $1 == "version" { gsub(/"/, "", $3); print $3; exit }' "$root/Cargo.toml")"
fi
if ! dpkg --validate-version "$version" 2>/dev/null || ! [[ "$version" =~ ^[0-9] ]]; then
  echo "build-deb: '$version' is not a Debian version" >&2
  exit 2
fi
for tool in dpkg-deb dpkg-shlibdeps strip; do
  command -v "$tool" >/dev/null || { echo "build-deb: $tool is missing (apt-get install dpkg-dev binutils)" >&2; exit 1; }
done

target="${CARGO_TARGET_DIR:-$root/target}"
output="${output:-$target/debian}"
arch="$(dpkg --print-architecture)"
binary="${binary:-$target/release/farmd}"

if [ "$build" = 1 ]; then
  (cd "$root" && "${CARGO:-cargo}" build --release --locked -p farmd)
fi
[ -x "$binary" ] || { echo "build-deb: no $binary (build it, or leave out --no-build or --binary)" >&2; exit 1; }

stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT
pkg="$stage/farmd"
doc="$pkg/usr/share/doc/farmd"

install -D -m 0755 "$binary" "$pkg/usr/bin/farmd"
strip --strip-unneeded "$pkg/usr/bin/farmd"
install -D -m 0644 "$root/deploy/systemd/farmd.service" "$pkg/lib/systemd/system/farmd.service"
# 0640: may hold secrets; the postinst gives it to group farmd.
install -D -m 0640 "$root/deploy/debian/farmd.toml" "$pkg/etc/farmd/farmd.toml"
install -D -m 0644 "$root/deploy/debian/logrotate" "$pkg/etc/logrotate.d/farmd"
install -D -m 0644 "$root/README.md" "$doc/README.md"
install -D -m 0644 "$root/deploy/farmd.example.toml" "$doc/examples/farmd.example.toml"
install -D -m 0644 "$root/deploy/systemd/farmd.service" "$doc/examples/systemd/farmd.service"
# The operators' recipes for serving the farm through other servers, when this tree has them.
for recipe in nginx php-fpm varnish; do
  if [ -d "$root/deploy/$recipe" ]; then
    mkdir -p "$doc/examples"
    cp -r "$root/deploy/$recipe" "$doc/examples/$recipe"
    chmod -R u=rwX,go=rX "$doc/examples/$recipe"
  fi
done
cat > "$doc/copyright" <<'COPYRIGHT'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: farmd

Files: *
Copyright: the farmd authors
License: GPL-2.0-or-later
 On Debian systems, the full text of the GNU General Public License version 2 can be found
 in /usr/share/common-licenses/GPL-2.
COPYRIGHT
chmod 0644 "$doc/copyright"

# The binary's shared libraries (libc6, libgcc-s1...), as dpkg-shlibdeps finds them.
mkdir -p "$stage/shlibs/debian"
printf 'Source: farmd\n\nPackage: farmd\nArchitecture: any\n' > "$stage/shlibs/debian/control"
shlibs="$(cd "$stage/shlibs" && dpkg-shlibdeps -O "$pkg/usr/bin/farmd" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')"
[ -n "$shlibs" ] || { echo "build-deb: dpkg-shlibdeps found no library dependency" >&2; exit 1; }

mkdir -p "$pkg/DEBIAN"
install -m 0755 "$root/deploy/debian/postinst" "$root/deploy/debian/prerm" "$root/deploy/debian/postrm" "$pkg/DEBIAN/"
printf '/etc/farmd/farmd.toml\n/etc/logrotate.d/farmd\n' > "$pkg/DEBIAN/conffiles"
# What farmd runs (deploy/install-deps.sh installs the same): the codebase and PHP are needed;
# MariaDB wikis and the extensions' helpers (Scribunto's Lua, SyntaxHighlight's pygmentize)
# are recommended, which apt installs by default: farmd leaves out of new wikis what the
# machine cannot run, with a warning.
cat > "$pkg/DEBIAN/control" <<CONTROL
Package: farmd
Version: $version
Architecture: $arch
Maintainer: ${DEBFULLNAME:-farmd maintainers} <${DEBEMAIL:-farmd@localhost}>
Section: web
Priority: optional
Installed-Size: $(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
Depends: $shlibs, adduser, mediawiki (>= 1:1.39), php-cli, php-sqlite3, php-intl, php-mbstring, php-xml, php-apcu, php-gd
Recommends: php-mysql, mariadb-client, php-luasandbox | lua5.1, python3-pygments, logrotate
Suggests: mariadb-server, nginx, php-fpm, varnish
Description: control plane for MediaWiki wiki farms
 farmd runs many small MediaWiki wikis on one shared MediaWiki installation
 (Debian's mediawiki package): a registry of wikis, a JSON API and a portal to
 create, configure, back up and delete them, single sign-on, and PHP's built-in
 servers to serve them. Runs as the farmd service; data in /var/lib/farmd.
CONTROL

mkdir -p "$output"
deb="$output/farmd_${version}_${arch}.deb"
dpkg-deb --root-owner-group --build "$pkg" "$deb" >/dev/null
echo "$deb"
