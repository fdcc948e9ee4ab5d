{#- Raw tables that may not exist yet.

    A raw table `raw.<api>__<endpoint>` is created by the warehouse migration that every landing runs
    (cryptoflow.warehouse.ensure_raw_tables: every dataset's table, empty, even a plan-gated one such as
    CMC exchange listings on the Basic plan) or by its own first landing. Before that (a fresh warehouse
    that no ingest task has migrated yet, a dataset added since the last migration) it does not exist.
    Staging models read such sources through `source_or_empty`, and the sources' own tests are
    `unique_if_landed` / `not_null_if_landed`: while the table is missing, a model builds as an empty view
    with the raw table's columns and types, and the tests pass with nothing to check.

    Once the table exists, the next `dbt build` of the source's selection (the dbt DAGs build
    `source:<api>.<endpoint>+` when the raw table's Asset changes) replaces the empty view by one that
    reads the table. -#}

{#- The relation of source `source_name`.`table_name` when it exists, else a typed empty select with the
    raw table's columns (cryptoflow.landing.RAW_TABLE_DDL), aliased so that it can stand where a table
    does: `select * from {{ source_or_empty('cmc', 'exchange_listings_latest') }}`. `source()` is always
    called, so the model depends on the source (lineage, `source:` selection) either way. -#}
{% macro source_or_empty(source_name, table_name) -%}
    {%- set relation = source(source_name, table_name) -%}
    {%- set found = none -%}
    {%- if execute and relation.schema is none -%}
        {#- a unit test's fixture (a CTE, no schema): it stands for the table -#}
        {%- set found = relation -%}
    {%- elif execute -%}
        {%- set found = adapter.get_relation(
            database=relation.database, schema=relation.schema, identifier=relation.identifier) -%}
    {%- endif -%}
    {%- if found is not none -%}
        {{ relation }}
    {%- else -%}
        (
            select
                null::bigint as landing_id,
                null::text as source,
                null::text as endpoint,
                null::text as request_key,
                null::jsonb as request_params,
                null::integer as page,
                null::timestamptz as interval_start,
                null::timestamptz as interval_end,
                null::integer as http_status,
                null::timestamptz as fetched_at,
                null::text as run_id,
                null::text as body,
                null::jsonb as body_json,
                null::text as body_sha256,
                null::timestamptz as landed_at,
                null::xid8 as landed_xid
            where false
        ) as not_landed_{{ table_name }}
    {%- endif -%}
{%- endmacro %}

{#- Whether `model` (a test's relation) exists in the warehouse (false while parsing). -#}
{% macro relation_exists(model) -%}
    {%- if not execute -%}
        {{- return(false) -}}
    {%- endif -%}
    {{- return(adapter.get_relation(database=model.database, schema=model.schema,
                                    identifier=model.identifier) is not none) -}}
{%- endmacro %}

{#- dbt's `unique`, for a raw table that may not have landed yet: no rows to check until it exists. -#}
{% test unique_if_landed(model, column_name) %}
{%- if relation_exists(model) %}
select {{ column_name }} as unique_field, count(*) as n_records
from {{ model }}
where {{ column_name }} is not null
group by {{ column_name }}
having count(*) > 1
{%- else %}
select null as unique_field, 0 as n_records where false
{%- endif %}
{% endtest %}

{#- dbt's `not_null`, for a raw table that may not have landed yet. -#}
{% test not_null_if_landed(model, column_name) %}
{%- if relation_exists(model) %}
select {{ column_name }}
from {{ model }}
where {{ column_name }} is null
{%- else %}
select null as {{ column_name }} where false
{%- endif %}
{% endtest %}
