#!/bin/bash
# PostgreSQL's first start only (the image runs /docker-entrypoint-initdb.d/ on an empty data
# directory, as its superuser): the roles of roles.sql, named in compose.yaml, their passwords
# from the files postgres/start handed over.
set -euo pipefail
psql --no-psqlrc --no-password --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  --set owner="$RENKEI_DB_OWNER" --set hub="$RENKEI_DB_HUB_ROLE" \
  --set monitor="$RENKEI_DB_MONITOR_ROLE" --set db="$POSTGRES_DB" \
  --set secrets=/run/renkei --file /opt/renkei/roles.sql
