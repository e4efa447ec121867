#!/bin/sh
# One-shot Temporal setup, run by the temporal-admin-tools service on every
# `docker compose up` (each step is idempotent):
#   1. creates Temporal's databases and applies its schema (temporal-sql-tool);
#   2. marks itself healthy (the temporal service starts only then);
#   3. waits for the server, creates the namespace and registers txmgr's search
#      attributes (register-search-attributes.sh); workers start once this exits 0.
#
#   setup-cluster.sh Name=Type [Name=Type ...]
#   env: SQL_PLUGIN SQL_HOST SQL_PORT SQL_USER SQL_PASSWORD (temporal-sql-tool's own),
#        TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, NAMESPACE_RETENTION
set -eu

schema_dir="${TEMPORAL_HOME:-/etc/temporal}/schema/postgresql/v12"
ready_file="${SCHEMA_READY_FILE:-/tmp/schema-ready}"
rm -f "$ready_file"

for db in temporal temporal_visibility; do
  case "$db" in
    temporal) versioned="$schema_dir/temporal/versioned" ;;
    *) versioned="$schema_dir/visibility/versioned" ;;
  esac
  # `create` fails when the database exists (a second `up`); the schema steps below are
  # idempotent and fail loudly on a real problem (credentials, host).
  temporal-sql-tool --db "$db" create >/dev/null 2>&1 || echo "database $db exists"
  temporal-sql-tool --db "$db" setup-schema -v 0.0
  temporal-sql-tool --db "$db" update-schema -d "$versioned"
done
touch "$ready_file"
echo "Temporal schema ready"

address="${TEMPORAL_ADDRESS:?TEMPORAL_ADDRESS is required}"
namespace="${TEMPORAL_NAMESPACE:-default}"
attempt=0
until temporal operator cluster health --address "$address" 2>/dev/null | grep -qw SERVING; do
  attempt=$((attempt + 1))
  if [ "$attempt" -ge 120 ]; then
    echo "Temporal at $address not serving after $attempt attempts" >&2
    exit 1
  fi
  sleep 2
done

# temporalio/server (unlike the deprecated auto-setup image) creates no namespace.
if ! temporal operator namespace describe --address "$address" --namespace "$namespace" >/dev/null 2>&1; then
  temporal operator namespace create --address "$address" --namespace "$namespace" \
    --retention "${NAMESPACE_RETENTION:-168h}"
fi

exec /bin/sh "$(dirname "$0")/register-search-attributes.sh" "$@"
