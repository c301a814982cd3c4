#!/usr/bin/env bash
# Every check and every test: build, proto lint and breaking check, lint, typecheck, then the
# unit, integration and end-to-end tests. Integration and end-to-end tests run against
# KAFKA_BROKERS and MONGODB_URI when set; else, without a Docker engine for testcontainers, this
# starts a local Kafka and FerretDB (infra/bin/up) for the run and stops them after.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ -z "${KAFKA_BROKERS:-}" ] || [ -z "${MONGODB_URI:-}" ]; then
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
npx vitest run --project unit
npx vitest run --project int
npx vitest run --project e2e
