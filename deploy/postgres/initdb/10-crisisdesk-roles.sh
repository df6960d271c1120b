#!/bin/bash
# Runs once, when the postgres:16 entrypoint initialises an empty data directory
# (/docker-entrypoint-initdb.d). It creates two least-privilege roles on the one server:
#
#   temporal    LOGIN CREATEDB  - Temporal's admin-tools creates and owns the `temporal` and
#                                 `temporal_visibility` databases with it (temporal-sql-tool
#                                 `create-database`), so it never needs the superuser.
#   crisisdesk  LOGIN           - owns the application database `crisisdesk`; Alembic
#                                 migrations run as this role.
#
# Neither role can read the other's databases' tables. Passwords come from the container
# environment (docker-compose.yml passes TEMPORAL_DB_PASSWORD and CRISISDESK_DB_PASSWORD) and are
# handed to psql as variables, so quotes in them cannot break the SQL.
#
# To change a password later: ALTER ROLE ... PASSWORD ... by hand (this script never runs again
# on an initialised volume), then update .env and recreate the services that use it.
set -eo pipefail  # no -u: if this file lost its exec bit the entrypoint sources it

: "${TEMPORAL_DB_PASSWORD:?TEMPORAL_DB_PASSWORD must be set}"
: "${CRISISDESK_DB_PASSWORD:?CRISISDESK_DB_PASSWORD must be set}"

psql --variable=ON_ERROR_STOP=1 \
     --username "$POSTGRES_USER" --dbname "${POSTGRES_DB:-$POSTGRES_USER}" \
     --set=temporal_password="$TEMPORAL_DB_PASSWORD" \
     --set=crisisdesk_password="$CRISISDESK_DB_PASSWORD" <<'SQL'
CREATE ROLE temporal LOGIN CREATEDB PASSWORD :'temporal_password';
CREATE ROLE crisisdesk LOGIN PASSWORD :'crisisdesk_password';
CREATE DATABASE crisisdesk OWNER crisisdesk;
REVOKE ALL ON DATABASE crisisdesk FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE crisisdesk TO crisisdesk;
SQL
