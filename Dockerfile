# One image for every service of docker-compose.yml: Airflow (api-server, scheduler, dag-processor,
# triggerer, and the `celery` profile's workers), the API sandbox and the one-shot init. The pinned set is requirements.lock, the same file
# `make setup` installs, so the containers run exactly what the local stack and the tests run.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    AIRFLOW_HOME=/opt/airflow \
    DBT_SEND_ANONYMOUS_USAGE_STATS=false \
    DBT_VERSION_CHECK=false \
    DBT_USE_COLORS=false

RUN apt-get update \
    && apt-get install -y --no-install-recommends postgresql-client tini \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --create-home --uid 50000 --gid 0 cryptoflow

WORKDIR /opt/cryptoflow
COPY requirements.lock ./
RUN pip install --no-cache-dir "uv==0.13.9" \
    && uv pip install --system --no-cache --compile-bytecode -r requirements.lock

# The package is installed editable, so docker-compose can mount include/, dags/ and dbt_project/ over
# these copies while developing.
COPY pyproject.toml README.md ./
COPY include ./include
RUN uv pip install --system --no-cache --no-deps -e .
COPY dags ./dags
COPY dbt_project ./dbt_project
COPY airflow_settings.yaml cryptoflow.yaml ./

RUN mkdir -p /opt/cryptoflow/plugins /opt/airflow/logs /opt/airflow/secrets /opt/airflow/dbt /opt/airflow/local \
    && chown -R 50000:0 /opt/airflow /opt/cryptoflow && chmod -R g+rwX /opt/airflow
USER 50000
# The entry point picks the CeleryExecutor when the `celery` compose profile's broker is on the network
# (see the script); otherwise it runs the command as it is.
ENTRYPOINT ["/usr/bin/tini", "--", "sh", "/opt/cryptoflow/include/cryptoflow/devstack/container-entrypoint.sh"]
CMD ["airflow", "version"]
