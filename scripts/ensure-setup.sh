#!/usr/bin/env bash
# Installs what the tests, the demo and the bench need when it is missing, and nothing else:
# npm packages; Debian packages (kcat as an independent Kafka client, librdkafka-dev for the
# mock broker kept for one fault, prometheus and chromium for the HTTP tests); Apache Kafka's
# jars, fetched by Maven (Java 17+ and Maven must be there); the mock broker's build.
# Idempotent and silent when all is in place; one line per action taken. Run by `npm test`,
# `npm run demo`, `npm run bench`. With the argument `image` (`npm run image`, `npm run
# test:image`) it also installs what builds and runs the container image: podman, runc and
# debootstrap — only then, so the other commands do not pay for them.
set -euo pipefail
want_image=false
for part in "$@"; do
  case "$part" in
    image) want_image=true ;;
    *)
      echo "setup: unknown part '$part' (known: image)" >&2
      exit 2
      ;;
  esac
done
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
if [ "$want_image" = true ]; then
  # podman with runc (crun refuses this machine's hybrid cgroups); debootstrap for the base.
  for package in podman runc debootstrap; do
    debian_installed "$package" || missing+=("$package")
  done
fi
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

# (c) Apache Kafka: the embedded broker of tests, demo and bench, run from the jars Maven
# fetches for native/apache-kafka/pom.xml; src/embedded/apache-kafka.ts holds the recipe.
if ! command -v "${JAVA_HOME:+$JAVA_HOME/bin/}java" >/dev/null 2>&1; then
  echo "setup: the embedded Kafka broker needs Java 17 or newer: apt-get install -y openjdk-17-jre-headless (or set JAVA_HOME)" >&2
  exit 1
fi
if ! command -v mvn >/dev/null 2>&1; then
  echo "setup: the embedded Kafka broker is fetched with Maven, which is missing: apt-get install -y maven" >&2
  exit 1
fi
kafka_stamp=native/apache-kafka/libs/.installed
if [ ! -f "$kafka_stamp" ] || [ native/apache-kafka/pom.xml -nt "$kafka_stamp" ]; then
  say "fetching Apache Kafka $(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' native/apache-kafka/pom.xml) with Maven"
  tsx --eval '
    import("./src/embedded/apache-kafka.ts")
      .then((kafka) => kafka.ensureApacheKafkaInstalled())
      .catch((error) => {
        console.error(`setup: ${error instanceof Error ? error.message : String(error)}`);
        process.exit(1);
      });
  '
fi

# (d) The mock broker binary; src/embedded/kafka-broker.ts holds the one build recipe.
broker_binary=native/kafka-mock-broker/build/kafka-mock-broker
if [ ! -x "$broker_binary" ] || [ native/kafka-mock-broker/main.c -nt "$broker_binary" ]; then
  say "building the mock Kafka broker (librdkafka)"
  tsx --eval '
    import("./src/embedded/kafka-broker.ts")
      .then((broker) => broker.ensureKafkaBrokerBuilt())
      .catch((error) => {
        console.error(`setup: ${error instanceof Error ? error.message : String(error)}`);
        process.exit(1);
      });
  '
fi
