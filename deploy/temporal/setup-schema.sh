#!/bin/sh
# One-shot, in the temporalio/admin-tools image (service `temporal-admin-tools`): creates Temporal's
# two PostgreSQL databases and brings both schemas to the version this admin-tools release ships.
# The `temporal` server only starts after this exits 0 (depends_on: service_completed_successfully).
#
# Every step is idempotent, so the same script is the upgrade path too:
#   - `create-database` ignores "database already exists" (postgres12 plugin);
#   - `setup-schema -v 0.0` only creates the schema_version tables and leaves a newer version alone;
#   - `update-schema -d <versioned dir>` applies only the versions above the current one.
# To upgrade Temporal: bump TEMPORAL_VERSION (server and admin-tools together), then
# `docker compose up -d` - this runs first, then the new server starts on the migrated schema.
#
# Mirrors temporalio/samples-server compose/scripts/setup-postgres.sh, with the database names,
# host and credentials taken from the environment instead of hard-coded.
set -eu

: "${POSTGRES_SEEDS:?}"
: "${POSTGRES_USER:?}"
: "${SQL_PASSWORD:?}"              # read by temporal-sql-tool itself (its --password flag's env var)
DB_PORT="${DB_PORT:-5432}"
DBNAME="${DBNAME:-temporal}"
VISIBILITY_DBNAME="${VISIBILITY_DBNAME:-temporal_visibility}"
SCHEMA_ROOT="${SCHEMA_ROOT:-/etc/temporal/schema/postgresql/v12}"

echo "Waiting for PostgreSQL at ${POSTGRES_SEEDS}:${DB_PORT}..."
attempt=0
until nc -z -w 5 "${POSTGRES_SEEDS}" "${DB_PORT}"; do
  attempt=$((attempt + 1))
  if [ "$attempt" -ge 60 ]; then
    echo "PostgreSQL did not open ${POSTGRES_SEEDS}:${DB_PORT} in time" >&2
    exit 1
  fi
  sleep 2
done

sql_tool() {
  temporal-sql-tool --plugin postgres12 --ep "${POSTGRES_SEEDS}" -p "${DB_PORT}" -u "${POSTGRES_USER}" "$@"
}

for pair in "${DBNAME}:temporal" "${VISIBILITY_DBNAME}:visibility"; do
  db="${pair%%:*}"
  schema="${pair##*:}"
  echo "Temporal store '${db}': create database, setup-schema, update-schema (${schema})"
  sql_tool --db "${db}" create
  sql_tool --db "${db}" setup-schema -v 0.0
  sql_tool --db "${db}" update-schema -d "${SCHEMA_ROOT}/${schema}/versioned"
done

echo "Temporal PostgreSQL schema is up to date."
