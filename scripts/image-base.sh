#!/usr/bin/env bash
# Makes the local stand-in for the Dockerfile's default NODE_IMAGE (node:24-bookworm-slim),
# which this machine cannot pull: Debian bookworm (debootstrap --variant=minbase, from the
# machine's own Debian mirror), Node 24 from the npm package `node` the project already
# installs, npm from the npm registry, the machine's CA bundle (NODE_EXTRA_CA_CERTS: npm's
# registry is reached through it) and a `node` user with uid 1000, as in the official image.
# Imported into podman's local store as gdrive-worker-base:<hash of its inputs>, so it is
# built once and again only when an input changes. Prints the image's name on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() {
  echo "image-base: $*" >&2
  exit 1
}

suite=bookworm
# The npm the image builds run `npm ci` with (pinned: part of the base's inputs).
npm_version=11.19.1
node_binary=node_modules/node/bin/node
ca_bundle=/etc/ssl/certs/ca-certificates.crt

[ "$(id -u)" -eq 0 ] || fail "debootstrap and podman's root store need root"
command -v debootstrap >/dev/null 2>&1 || fail "debootstrap is missing: run bash scripts/ensure-setup.sh image"
[ -x "$node_binary" ] || fail "no $node_binary (the npm package node): run bash scripts/ensure-setup.sh first"
# The npm package installed the machine's own build of Node, so it runs here as it will inside.
node_version="$("$node_binary" --version | sed 's/^v//')"
[[ "$node_version" == 24.* ]] || fail "the npm package node is $node_version, the image needs Node 24"

# The Debian mirror the machine's apt uses (deb822 or one-line sources), else Debian's own.
mirror="$(sed -n 's/^URIs: *\(\S*\/debian\)\/\?$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1)"
[ -n "$mirror" ] || mirror="$(sed -n 's/^deb \(\S*\/debian\)\/\? .*/\1/p' /etc/apt/sources.list 2>/dev/null | head -1)"
[ -n "$mirror" ] || mirror=http://deb.debian.org/debian

ca_hash=none
[ -f "$ca_bundle" ] && ca_hash="$(sha256sum <"$ca_bundle" | cut -c1-64)"
inputs_hash="$(
  {
    cat "$0"
    echo "$suite $mirror node=$node_version npm=$npm_version ca=$ca_hash"
  } | sha256sum | cut -c1-16
)"
image="localhost/gdrive-worker-base:$inputs_hash"

if bash scripts/podman.sh image exists "$image"; then
  echo "$image"
  exit 0
fi

echo "image-base: building $image (Debian $suite from $mirror, Node $node_version, npm $npm_version)" >&2
work="$(mktemp -d /var/tmp/gdrive-worker-base.XXXXXX)"
trap 'rm -rf "$work"' EXIT
rootfs="$work/rootfs"

log="$work/debootstrap.log"
started=$SECONDS
if ! timeout 480 debootstrap --variant=minbase "$suite" "$rootfs" "$mirror" >"$log" 2>&1; then
  tail -20 "$log" >&2
  fail "debootstrap $suite from $mirror failed or took over 8 minutes (log above)"
fi
echo "image-base: debootstrap took $((SECONDS - started)) s" >&2

install -m 0755 "$node_binary" "$rootfs/usr/local/bin/node"

# npm from the registry, laid out as Node's own tarball lays it out.
if ! (cd "$work" && timeout 300 npm pack --silent "npm@$npm_version" >/dev/null 2>"$work/npm-pack.log"); then
  cat "$work/npm-pack.log" >&2
  fail "could not fetch npm@$npm_version from the npm registry"
fi
mkdir -p "$rootfs/usr/local/lib/node_modules/npm"
tar -xzf "$work/npm-$npm_version.tgz" -C "$rootfs/usr/local/lib/node_modules/npm" --strip-components=1
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"

extra_ca=()
if [ -f "$ca_bundle" ]; then
  install -D -m 0644 "$ca_bundle" "$rootfs/usr/local/share/ca-certificates/machine-ca-bundle.crt"
  extra_ca=(--change "ENV NODE_EXTRA_CA_CERTS=/usr/local/share/ca-certificates/machine-ca-bundle.crt")
fi

chroot "$rootfs" groupadd --gid 1000 node
chroot "$rootfs" useradd --uid 1000 --gid node --shell /bin/bash --create-home node

# What a slim image leaves out: package lists, caches, docs.
rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/var/cache/debconf/*-old \
  "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
  "$rootfs"/var/log/* "$rootfs"/tmp/* "$rootfs"/root/.npm

if ! tar -C "$rootfs" --numeric-owner -c . | timeout 600 bash scripts/podman.sh import --quiet \
  --change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
  --change "ENV NODE_VERSION=$node_version" \
  "${extra_ca[@]}" \
  --change "LABEL gdrive-worker.base-inputs=$inputs_hash" \
  --change 'CMD ["node"]' \
  - "$image" >/dev/null; then
  fail "podman import of $image failed"
fi
# Bases made from older inputs, and the untagged build stages made on them (podman's build
# cache, of no use on a new base), only take disk space.
for old in $(bash scripts/podman.sh images --format '{{.Repository}}:{{.Tag}}' localhost/gdrive-worker-base); do
  [ "$old" = "$image" ] || bash scripts/podman.sh rmi "$old" >/dev/null 2>&1 || true
done
bash scripts/podman.sh image prune --force >/dev/null 2>&1 || true
echo "image-base: $image built in $((SECONDS - started)) s" >&2
echo "$image"
