#!/usr/bin/env bash
# `npm run image`: builds the project's Dockerfile with podman into the local image
# gdrive-worker:latest (the StatefulSet's image name). This machine has no Docker engine
# and cannot pull node:24-bookworm-slim, so the Dockerfile's NODE_IMAGE is the local base
# scripts/image-base.sh makes (built once, cached). Elsewhere `docker build .` uses the
# registry's image unchanged. Prints the image's size and the part above the base.
set -euo pipefail
cd "$(dirname "$0")/.."

image="${IMAGE_NAME:-localhost/gdrive-worker:latest}"

base="$(bash scripts/image-base.sh)"
started=$SECONDS
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
# Host network: RUN npm ci reaches the npm registry the way the machine does, with no
# container network stack to set up. Docker format: OCI images drop HEALTHCHECK.
if ! timeout 1200 bash scripts/podman.sh build --network host --format docker \
  --build-arg "NODE_IMAGE=$base" --tag "$image" . >"$log" 2>&1; then
  tail -30 "$log" >&2
  echo "image: podman build failed or took over 20 minutes (last lines above)" >&2
  exit 1
fi
# No `image prune` here: the intermediate images it would remove are the build cache.

size() { bash scripts/podman.sh image inspect --format '{{.Size}}' "$1"; }
total="$(size "$image")"
above=$((total - $(size "$base")))
echo "image: $image built in $((SECONDS - started)) s on $base: $((total / 1000000)) MB, of which $((above / 1000000)) MB above the base"
