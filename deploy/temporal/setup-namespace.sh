#!/bin/sh
# One-shot, in the temporalio/admin-tools image (service `temporal-namespace`), once the `temporal`
# server is healthy: registers the CrisisDesk namespace and its custom search attributes.
#
# Idempotent: an existing namespace is left as it is (its retention is not changed; see
# "Operations" in README.md for `temporal operator namespace update`), and attributes that exist
# are skipped by the server. The worker also registers the same search attributes at start-up
# (infra/temporal.py ensure_search_attributes), so either may run first; a concurrent add is
# retried here.
#
# Based on temporalio/samples-server compose/scripts/create-namespace.sh.
set -eu

TEMPORAL_ADDRESS="${TEMPORAL_ADDRESS:-temporal:7233}"
NAMESPACE="${CRISISDESK_TEMPORAL_NAMESPACE:-crisisdesk}"
# 30 days: a supervisor audits an incident's Temporal history while the workflow runs and for a
# month after it closes; the merged, hash-chained audit trail itself lives in the app database.
RETENTION="${TEMPORAL_NAMESPACE_RETENTION:-720h}"
# Keep in step with workflows/search_attributes.py (all Keyword): stage and program only, since
# Temporal indexes them in clear (SPEC 10.2). A namespace from an older release keeps its retired
# CrisisDeskRisk and CrisisDeskType, which incidents of the frozen IncidentWorkflowV1 still set.
SEARCH_ATTRIBUTES="CrisisDeskStage CrisisDeskProgram"

# Mutual TLS (docker-compose.yml): the job's own client certificate, when configured.
if [ -n "${TLS_CERT:-}" ]; then
  TLS_FLAGS="--tls-cert-path ${TLS_CERT} --tls-key-path ${TLS_KEY:?} --tls-ca-path ${TLS_CA:?}"
  TLS_FLAGS="${TLS_FLAGS} --tls-server-name ${TLS_SERVER_NAME:-temporal}"
else
  TLS_FLAGS=""
fi

host="${TEMPORAL_ADDRESS%:*}"
port="${TEMPORAL_ADDRESS##*:}"
# Dial the IPv4 address, as the samples-server script does (the server binds 0.0.0.0 only).
ip="$(getent ahosts "$host" 2>/dev/null | awk '/STREAM/ && $1 ~ /^[0-9.]+$/ {print $1; exit}')" || true
address="${ip:-$host}:${port}"

retry() {
  # retry <attempts> <seconds> <command...>
  tries="$1"; pause="$2"; shift 2
  n=1
  until "$@"; do
    if [ "$n" -ge "$tries" ]; then
      echo "giving up after ${n} attempts: $*" >&2
      return 1
    fi
    n=$((n + 1))
    sleep "$pause"
  done
}

echo "Waiting for the Temporal frontend at ${address}..."
retry 60 5 temporal operator cluster health --address "$address" $TLS_FLAGS

if temporal operator namespace describe --namespace "$NAMESPACE" --address "$address" $TLS_FLAGS >/dev/null 2>&1; then
  echo "Namespace '${NAMESPACE}' already exists; retention left as it is."
else
  echo "Creating namespace '${NAMESPACE}' (retention ${RETENTION})..."
  temporal operator namespace create --namespace "$NAMESPACE" --retention "$RETENTION" \
    --description "CrisisDesk incidents" --address "$address" $TLS_FLAGS
fi

# Registration takes a few seconds to reach every frontend's namespace cache.
retry 30 2 temporal operator namespace describe --namespace "$NAMESPACE" --address "$address" $TLS_FLAGS >/dev/null

set --
for name in $SEARCH_ATTRIBUTES; do
  set -- "$@" --name "$name" --type Keyword
done
echo "Registering search attributes on '${NAMESPACE}': ${SEARCH_ATTRIBUTES}"
retry 10 3 temporal operator search-attribute create --namespace "$NAMESPACE" --address "$address" $TLS_FLAGS "$@"

temporal operator search-attribute list --namespace "$NAMESPACE" --address "$address" $TLS_FLAGS
echo "Namespace '${NAMESPACE}' is ready."
