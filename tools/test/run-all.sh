#!/usr/bin/env bash
# Every check and every test: build, proto lint and breaking check, lint, typecheck, the
# Kubernetes manifests, then the unit, integration and end-to-end tests, and one closing line
# with the counts of all three. Integration and end-to-end tests run against KAFKA_BROKERS,
# MONGODB_URI and S3_ENDPOINT when set; else, without a Docker engine for testcontainers, this
# starts a local Kafka, FerretDB and S3Proxy (infra/bin/up) for the run and stops them after.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ -z "${KAFKA_BROKERS:-}" ] || [ -z "${MONGODB_URI:-}" ] || [ -z "${S3_ENDPOINT:-}" ]; then
  if ! docker info >/dev/null 2>&1; then
    trap 'bash infra/bin/down' EXIT
    eval "$(bash infra/bin/up)"
  fi
fi

export NX_DAEMON=false
npm run build
npm run proto:lint
npm run lint
npm run typecheck
bash tools/k8s/validate.sh

results=.test-results
rm -rf "$results"
mkdir -p "$results"
for project in unit int e2e; do
  npx vitest run --project "$project" --reporter=default --reporter=json --outputFile="$results/$project.json"
done

node -e '
  const results = ["unit", "int", "e2e"].map((project) => require(`./${process.argv[1]}/${project}.json`));
  const sum = (field) => results.reduce((total, result) => total + result[field], 0);
  const line = (name, result) =>
    `${name}: ${result.numPassedTests} passed, ${result.numFailedTests} failed`;
  ["unit", "int", "e2e"].forEach((name, index) => console.log(line(name, results[index])));
  console.log(`${sum("numPassedTests")} passed, ${sum("numFailedTests")} failed, ${sum("numPendingTests")} skipped`);
' "$results"
