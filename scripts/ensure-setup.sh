#!/usr/bin/env bash
# Installs what the tests, the demo and the bench need when it is missing, and nothing else:
# npm packages, the Debian packages of the embedded Kafka broker (librdkafka-dev to build it,
# kcat as an independent client), and the broker binary. Idempotent and silent when all is
# in place; one line per action taken. Run by `npm test`, `npm run demo`, `npm run bench`.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "setup: $*"; }

# Runs a command quietly; shows its output only if it fails.
quietly() {
  local log
  log="$(mktemp)"
  if ! "$@" >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    return 1
  fi
  rm -f "$log"
}

# (a) npm packages. This may run on the machine's own Node (20): npm ci only installs files,
# and the `node` package it installs puts Node 24 in node_modules/.bin for everything after.
if [ ! -f node_modules/.package-lock.json ] ||
  { [ -f package-lock.json ] && [ package-lock.json -nt node_modules/.package-lock.json ]; }; then
  if [ -f package-lock.json ]; then
    say "installing npm packages (npm ci)"
    quietly npm ci --no-audit --no-fund --loglevel=error
  else
    say "installing npm packages (npm install)"
    quietly npm install --no-audit --no-fund --loglevel=error
  fi
fi
export PATH="$PWD/node_modules/.bin:$PATH"

# (b) Debian packages: the broker's build dependencies and kcat.
debian_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
missing=()
for package in librdkafka-dev kcat prometheus chromium; do
  debian_installed "$package" || missing+=("$package")
done
command -v cc >/dev/null 2>&1 || missing+=(gcc libc6-dev)

if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages: ${missing[*]}. Run, then retry:" >&2
    echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # A fresh machine often has no package lists yet: refresh them once, only if needed.
  if ! quietly apt-get install -y "${missing[@]}" 2>/dev/null; then
    quietly apt-get update
    quietly apt-get install -y "${missing[@]}"
  fi
fi

# (c) The broker binary; src/embedded/kafka-broker.ts holds the one build recipe.
broker_binary=native/kafka-mock-broker/build/kafka-mock-broker
if [ ! -x "$broker_binary" ] || [ native/kafka-mock-broker/main.c -nt "$broker_binary" ]; then
  say "building the embedded Kafka broker"
  tsx --eval '
    import("./src/embedded/kafka-broker.ts")
      .then((broker) => broker.ensureKafkaBrokerBuilt())
      .catch((error) => {
        console.error(`setup: ${error instanceof Error ? error.message : String(error)}`);
        process.exit(1);
      });
  '
fi
