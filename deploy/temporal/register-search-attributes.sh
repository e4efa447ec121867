#!/bin/sh
# Registers txmgr's custom search attributes, idempotently, so workflows can upsert
# them and the Web UI can filter on them. Run by the temporal-admin-tools service.
#
#   register-search-attributes.sh Name=Type [Name=Type ...]
#   env: TEMPORAL_ADDRESS (host:port), TEMPORAL_NAMESPACE (default: default)
#
# Type is a Temporal CLI type: Keyword, Text, Int, Double, Bool, Datetime, KeywordList.
set -eu

address="${TEMPORAL_ADDRESS:?TEMPORAL_ADDRESS is required}"
namespace="${TEMPORAL_NAMESPACE:-default}"

if [ "$#" -eq 0 ]; then
  echo "usage: $0 Name=Type [Name=Type ...]" >&2
  exit 2
fi

# A namespace just created takes a moment to appear in every frontend's cache, so a
# successful create does not yet mean describe finds it.
attempt=0
until temporal operator namespace describe --address "$address" --namespace "$namespace" >/dev/null 2>&1; do
  attempt=$((attempt + 1))
  if [ "$attempt" -ge 60 ]; then
    echo "namespace '$namespace' not found at $address after $attempt attempts" >&2
    exit 1
  fi
  sleep 2
done

# Type of an existing custom attribute, empty when absent (list prints "Name  Type" rows).
existing_type() {
  temporal operator search-attribute list --address "$address" --namespace "$namespace" |
    awk -v name="$1" '$1 == name { print $2 }'
}

# Keyword, KEYWORD and INDEXED_VALUE_TYPE_KEYWORD are the same type to us.
normalize() {
  printf '%s' "$1" | tr '[:upper:]' '[:lower:]' | sed 's/^indexed_value_type_//; s/_//g'
}

for spec in "$@"; do
  name="${spec%%=*}"
  type="${spec#*=}"
  if [ -z "$name" ] || [ -z "$type" ] || [ "$name" = "$spec" ]; then
    echo "bad attribute spec '$spec', want Name=Type" >&2
    exit 2
  fi
  current="$(existing_type "$name")"
  if [ -z "$current" ]; then
    temporal operator search-attribute create --address "$address" --namespace "$namespace" \
      --name "$name" --type "$type"
    echo "created search attribute $name ($type) in $namespace"
  elif [ "$(normalize "$current")" = "$(normalize "$type")" ]; then
    echo "search attribute $name ($type) already present in $namespace"
  else
    # A type cannot be changed in place; fail loudly rather than run with drift.
    echo "search attribute $name is $current in $namespace, want $type" >&2
    exit 1
  fi
done
