#!/bin/sh
# Creates (or upgrades) Temporal's two PostgreSQL databases and their schemas with
# temporal-sql-tool, as Temporal's own auto-setup does; every step is idempotent, so this runs
# before each start of the production profile (docker-compose.yml, service temporal-schema).
# Connection from the tool's own variables: SQL_PLUGIN (postgres12), SQL_HOST, SQL_PORT, SQL_USER,
# SQL_PASSWORD. The schema is the one embedded in the tool, matching its server version.
set -eu

for db in "${TEMPORAL_DB:-temporal}:temporal" "${TEMPORAL_VISIBILITY_DB:-temporal_visibility}:visibility"; do
  name="${db%%:*}"
  schema="postgresql/v12/${db##*:}"
  echo "temporal-schema: database \"$name\" ($schema)"
  temporal-sql-tool --db "$name" create-database
  temporal-sql-tool --db "$name" setup-schema -v 0.0
  temporal-sql-tool --db "$name" update-schema --schema-name "$schema"
done
echo "temporal-schema: done"
