#!/usr/bin/env bash
# npm run fuzz: builds, then sends every RPC of an embedded Tandem random and mutated requests
# (fuzz/src/main.ts; TANDEM_FUZZ_INPUTS per RPC, 100,000 by default) and prints the status counts.
set -euo pipefail
cd "$(dirname "$0")/../.."
npm run build
node dist/fuzz/src/main.js
