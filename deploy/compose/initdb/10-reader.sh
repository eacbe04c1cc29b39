#!/bin/sh
# Runs once, when the postgres container initialises an empty data directory: a login role that can read
# every table in the app database (now and later) and change nothing. patchbay-postgres connects as it.
set -eu
psql -v ON_ERROR_STOP=1 -v reader_password="$PATCHBAY_READER_PASSWORD" \
  --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<'SQL'
CREATE ROLE patchbay_reader LOGIN PASSWORD :'reader_password';
GRANT pg_read_all_data TO patchbay_reader;
ALTER ROLE patchbay_reader SET default_transaction_read_only = on;
SQL
