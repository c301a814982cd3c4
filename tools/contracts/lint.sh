#!/usr/bin/env bash
# Lints proto/ (STANDARD plus comments on every rpc, message and field) and checks that no change
# breaks the published contracts: against main when the checkout is a branch of it, else against
# the commit before HEAD (CI runs on main itself). Old events stay readable this way.
set -euo pipefail
cd "$(dirname "$0")/../.."

npx --no-install buf lint proto
npx --no-install buf format proto --diff --exit-code

against=""
branch=$(git rev-parse --abbrev-ref HEAD 2>/dev/null || true)
if [ "$branch" != "main" ] && git rev-parse --verify --quiet main >/dev/null; then
  against=$(git merge-base HEAD main)
elif git rev-parse --verify --quiet HEAD~1 >/dev/null; then
  against=$(git rev-parse HEAD~1)
fi

if [ -n "$against" ] && git cat-file -e "$against:proto/buf.yaml" 2>/dev/null; then
  echo "buf breaking: proto/ against $against" >&2
  npx --no-install buf breaking proto --against ".git#ref=$against,subdir=proto"
else
  echo "buf breaking: no earlier proto/ to compare with" >&2
fi
