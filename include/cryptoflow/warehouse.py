"""The warehouse's own schema: the ``raw`` and ``ops`` tables that the project writes (dbt owns the rest),
created by ordered migrations, and the connection every task uses.

``ops`` holds what must survive a process and be shared by every worker: the landing audit, the rate
limiter's buckets, the circuit breakers, the credit budgets and one row per HTTP call
(:mod:`cryptoflow.limits` reads and writes those). Migrations run once each, in order, under an advisory
lock, so any number of tasks may call :func:`migrate` at once.
"""

from __future__ import annotations

WAREHOUSE_CONN_ID = "warehouse"

# Applied in order, once each, under an advisory lock; never edit a migration that has shipped.
MIGRATIONS: list[tuple[str, str]] = [
    ("0001_schemas", """
        CREATE SCHEMA IF NOT EXISTS raw;
        CREATE SCHEMA IF NOT EXISTS ops;
    """),
    ("0002_landing_audit", """
        CREATE TABLE IF NOT EXISTS ops.landing_audit (
            audit_id        bigserial PRIMARY KEY,
            raw_table       text        NOT NULL,
            source          text        NOT NULL,
            endpoint        text        NOT NULL,
            request_key     text        NOT NULL,
            interval_start  timestamptz NOT NULL,
            interval_end    timestamptz NOT NULL,
            run_id          text        NOT NULL,
            pages           integer     NOT NULL,
            records         integer     NOT NULL,
            bytes           bigint      NOT NULL,
            rows_replaced   integer     NOT NULL,
            landed_at       timestamptz NOT NULL DEFAULT clock_timestamp()
        );
        CREATE INDEX IF NOT EXISTS landing_audit_interval
            ON ops.landing_audit (raw_table, interval_start, interval_end);
    """),
    ("0003_control_layer", """
        -- One GCRA bucket per (API, key): tat is the theoretical arrival time of the next permit.
        CREATE TABLE IF NOT EXISTS ops.rate_limiter (
            bucket          text        PRIMARY KEY,
            api             text        NOT NULL,
            key_id          text        NOT NULL,
            cap_per_min     double precision NOT NULL,
            rate_per_min    double precision NOT NULL,
            margin_s        double precision NOT NULL,
            recover_per_min double precision NOT NULL,
            decrease_factor double precision NOT NULL,
            min_fraction    double precision NOT NULL,
            cut_at          timestamptz,
            tat             timestamptz NOT NULL DEFAULT clock_timestamp(),
            blocked_until   timestamptz NOT NULL DEFAULT 'epoch',
            last_rate       double precision,
            permits         bigint      NOT NULL DEFAULT 0,
            rate_limited    bigint      NOT NULL DEFAULT 0,
            updated_at      timestamptz NOT NULL DEFAULT clock_timestamp()
        );
        CREATE TABLE IF NOT EXISTS ops.circuit_breaker (
            api             text        PRIMARY KEY,
            state           text        NOT NULL DEFAULT 'closed'
                                        CHECK (state IN ('closed', 'open', 'half_open')),
            failures        integer     NOT NULL DEFAULT 0,
            threshold       integer     NOT NULL,
            cooldown_s      double precision NOT NULL,
            opened_at       timestamptz,
            open_until      timestamptz,
            probe_until     timestamptz,
            last_error      text,
            updated_at      timestamptz NOT NULL DEFAULT clock_timestamp()
        );
        -- Credits per (API, key): used counts what was spent plus what calls in flight reserved.
        CREATE TABLE IF NOT EXISTS ops.credit_budget (
            bucket          text        PRIMARY KEY,
            api             text        NOT NULL,
            key_id          text        NOT NULL,
            day             date        NOT NULL,
            day_used        bigint      NOT NULL DEFAULT 0,
            daily_budget    bigint,
            month           date        NOT NULL,
            month_used      bigint      NOT NULL DEFAULT 0,
            monthly_budget  bigint,
            updated_at      timestamptz NOT NULL DEFAULT clock_timestamp()
        );
        CREATE TABLE IF NOT EXISTS ops.api_call (
            call_id         bigserial   PRIMARY KEY,
            called_at       timestamptz NOT NULL,
            api             text        NOT NULL,
            key_id          text        NOT NULL,
            endpoint        text        NOT NULL,
            path            text        NOT NULL,
            http_status     integer,
            outcome         text        NOT NULL,
            error           text,
            latency_ms      integer,
            permit_wait_ms  integer     NOT NULL,
            attempt         integer     NOT NULL,
            credits         integer     NOT NULL DEFAULT 0,
            rate_limited    boolean     NOT NULL DEFAULT false,
            retry_after_s   double precision,
            dag_id          text,
            task_id         text,
            run_id          text
        );
        CREATE INDEX IF NOT EXISTS api_call_api_time ON ops.api_call (api, called_at);
    """),
    # History runs (cryptoflow.history): each run's coins, resolved once; each coin window landed, so a
    # retried run resumes; each mapped batch, so a finished one run again starts over.
    ("0004_history", """
        CREATE TABLE IF NOT EXISTS ops.history_universe (
            dag_id          text        NOT NULL,
            run_id          text        NOT NULL,
            rank            integer     NOT NULL,
            coin_id         text        NOT NULL,
            resolved_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
            PRIMARY KEY (dag_id, run_id, rank)
        );
        CREATE TABLE IF NOT EXISTS ops.history_batches (
            dag_id          text        NOT NULL,
            run_id          text        NOT NULL,
            batch           integer     NOT NULL,
            interval_start  timestamptz NOT NULL,
            interval_end    timestamptz NOT NULL,
            coins           integer     NOT NULL,
            started_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
            completed_at    timestamptz,
            PRIMARY KEY (dag_id, run_id, batch)
        );
        CREATE TABLE IF NOT EXISTS ops.history_progress (
            dag_id          text        NOT NULL,
            run_id          text        NOT NULL,
            coin_id         text        NOT NULL,
            window_start    timestamptz NOT NULL,
            window_end      timestamptz NOT NULL,
            interval_start  timestamptz NOT NULL,
            interval_end    timestamptz NOT NULL,
            status          text        NOT NULL CHECK (status IN ('landed', 'gone')),
            calls           integer     NOT NULL,
            points          integer     NOT NULL,
            updated_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
            PRIMARY KEY (dag_id, run_id, coin_id, window_start)
        );
    """),
]

MIGRATION_LOCK = 7_201_001  # advisory lock key for migrations


def migrate(conn) -> list[str]:
    """Apply pending migrations; return the ids applied now. Safe to call from many tasks at once."""
    applied_now = []
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        cur.execute("CREATE SCHEMA IF NOT EXISTS ops")
        cur.execute("""CREATE TABLE IF NOT EXISTS ops.schema_migrations (
                           id text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT clock_timestamp())""")
        cur.execute("SELECT id FROM ops.schema_migrations")
        done = {row[0] for row in cur.fetchall()}
        for mig_id, statement in MIGRATIONS:
            if mig_id in done:
                continue
            cur.execute(statement)
            cur.execute("INSERT INTO ops.schema_migrations (id) VALUES (%s)", (mig_id,))
            applied_now.append(mig_id)
    conn.commit()
    ensure_raw_tables(conn)
    return applied_now


def raw_tables() -> list[str]:
    """The raw table of every dataset and history dataset (``raw.<api>__<endpoint>``), whether or not it
    ever landed."""
    from cryptoflow.apis import get_api
    from cryptoflow.catalog import HISTORY_SPECS, SPECS

    return sorted({get_api(spec.api).raw_table(spec.endpoint) for spec in SPECS.values()}
                  | {spec.raw_table for spec in HISTORY_SPECS.values()})


def ensure_raw_tables(conn) -> None:
    """Create every dataset's raw table that does not exist yet (empty), so that dbt's sources exist from
    the first landing of any dataset on (a plan-gated dataset's table may never receive a row)."""
    from cryptoflow.landing import ensure_raw_table

    tables = raw_tables()
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SELECT t FROM unnest(%s::text[]) AS t WHERE to_regclass(t) IS NULL", (tables,))
        missing = [row[0] for row in cur.fetchall()]
        for table in missing:
            ensure_raw_table(cur, table)
    conn.commit()


def connect(conn_id: str = WAREHOUSE_CONN_ID):
    """A psycopg connection to the warehouse, from the Airflow connection ``conn_id``."""
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    return PostgresHook(postgres_conn_id=conn_id).get_conn()
