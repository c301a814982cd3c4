#!/usr/bin/env bash
# npm run bench: builds, then prints Tandem's benchmark figures. The distributed figures run
# against KAFKA_BROKERS and MONGODB_URI when set, else against a local Kafka and FerretDB that
# this starts (infra/bin/up) and stops again.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ -z "${KAFKA_BROKERS:-}" ] || [ -z "${MONGODB_URI:-}" ]; then
  trap 'bash infra/bin/down' EXIT
  eval "$(bash infra/bin/up)"
  export KAFKA_BROKERS MONGODB_URI S3_ENDPOINT S3_REGION S3_ACCESS_KEY_ID S3_SECRET_ACCESS_KEY
fi

npm run build
node dist/bench/src/main.js
