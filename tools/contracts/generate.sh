#!/usr/bin/env bash
# Generates the TypeScript contracts from proto/ into libs/contracts/src/generated (not committed).
# gRPC service files and event files are generated with different ts-proto options: see the
# comments in proto/buf.gen.grpc.yaml and proto/buf.gen.events.yaml.
set -euo pipefail
cd "$(dirname "$0")/../.."

out=libs/contracts/src/generated
rm -rf "$out"

path_args() {
  local pattern=$1
  find proto/tandem -name "$pattern" | sort | sed 's/^/--path=/'
}

mapfile -t service_paths < <(path_args '*_service.proto')
mapfile -t event_paths < <(path_args 'events.proto'; path_args 'envelope.proto'; path_args 'signals.proto')

npx --no-install buf generate proto --template proto/buf.gen.grpc.yaml "${service_paths[@]}"
npx --no-install buf generate proto --template proto/buf.gen.events.yaml "${event_paths[@]}"
