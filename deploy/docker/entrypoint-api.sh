#!/bin/sh
# Prestart step of the api image: bring the schema to head, then serve.
#
# Why here and not only in a separate job: a single `docker run rtbf-api` must come up on an empty
# database. Where a one-shot migration already ran (docker compose's `migrate` service, the
# Kubernetes migrate Job), set MIGRATE_ON_START=0 so that replicas do not race on `alembic upgrade`.
set -eu

if [ "${MIGRATE_ON_START:-1}" = "1" ]; then
    rtbf migrate
fi

exec rtbf api --host "${API_HOST:-0.0.0.0}" --port "${API_PORT:-8000}" "$@"
