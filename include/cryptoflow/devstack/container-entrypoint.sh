#!/bin/sh
# The entry point of docker-compose.yml's cryptoflow containers (the Dockerfile's ENTRYPOINT, after tini).
#
# `docker compose --profile celery up` adds a Redis, known on the compose network also as
# $CRYPTOFLOW_COMPOSE_BROKER_HOST (cryptoflow-celery-broker), and two Celery workers. A compose profile
# only adds services and cannot change the others' environment, so this switches the Airflow processes to
# the CeleryExecutor when that name resolves: one compose file runs either executor, and plain
# `docker compose up` keeps the LocalExecutor that docker-compose.yml sets. Every other setting of the
# CeleryExecutor is in docker-compose.yml (it does nothing under the LocalExecutor).
set -e
host="${CRYPTOFLOW_COMPOSE_BROKER_HOST:-}"
if [ -n "$host" ] && getent hosts "$host" >/dev/null 2>&1; then
    export AIRFLOW__CORE__EXECUTOR=CeleryExecutor
fi
exec "$@"
