#!/usr/bin/env bash
# The README's test command (`npm test`): sets up what is missing, then runs every test
# project (unit, int, e2e) on the project's Node 24 and ends with one plain summary line.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-setup.sh

# `npm test` puts node_modules/.bin first on PATH; say so explicitly for direct runs too.
export PATH="$PWD/node_modules/.bin:$PATH"
echo "node $(node --version) ($(command -v node))"

mkdir -p artifacts
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json=artifacts/vitest-results.json "$@" || status=$?

if [ -f artifacts/vitest-results.json ]; then
  node -e '
    const r = require("./artifacts/vitest-results.json");
    const skipped = (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
    console.log(`vitest: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${skipped} skipped`);
    if (r.numTotalTests === 0) { console.error("no test ran"); process.exit(1); }
  ' || status=1
fi
exit "$status"
