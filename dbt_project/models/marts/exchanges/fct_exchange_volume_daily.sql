-- One row per exchange (CoinGecko's id) per UTC day: the last 24 h volume observed that day, in BTC from
-- CoinGecko's /exchanges (observed at its fetch) and in USD from CMC's exchange listings (observed at
-- CMC's `last_updated`; Growth plan and up, null otherwise or for an exchange dim_exchanges does not map
-- to CMC), with the number of distinct observations of each that day.
--
-- The raw tables are read, not the staging views: stg_coingecko__exchanges keeps only each exchange's
-- latest fetch, and stg_cmc__exchanges deduplicates over its whole history, where no filter reaches the
-- raw table's indexes.
--
-- Incremental (macro commit_watermark): a run recomputes the days touched by raw rows committed since
-- the snapshot the last run read. A landing replaces the earlier rows of its interval, which were
-- fetched between the interval's start and the new rows' fetch: the touched days are every day from
-- the new rows' interval_start to their fetched_at (and, for CMC, the days of their `last_updated`), so
-- a day that lost an observation to a re-run is recomputed too. Only raw rows fetched from the earliest
-- touched day on are read (an observation of day D is fetched on or after D).
{{
    config(
        materialized='incremental',
        unique_key=['exchange_id', 'volume_date'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        indexes=[
            {'columns': ['exchange_id', 'volume_date'], 'unique': true},
            {'columns': ['built_xmin']},
        ],
    )
}}

{%- set coingecko_raw = source('coingecko', 'exchanges') %}
{#- a subquery, so that it takes an alias whether the raw table exists or not (source_or_empty) -#}
{%- set cmc_raw = '(select * from ' ~ source_or_empty('cmc', 'exchange_listings_latest') ~ ')' %}

{#- the records of CoinGecko /exchanges pages (a body is a list of exchanges) -#}
{%- set coingecko_records -%}
    select
        raw.landing_id,
        raw.fetched_at,
        record.ordinality as position_in_page,
        lower(trim({{ json_text('record.value', 'id') }})) as exchange_id,
        {{ json_numeric('record.value', 'trade_volume_24h_btc') }} as volume_24h_btc,
        {{ json_numeric('record.value', 'trade_volume_24h_btc_normalized') }} as volume_24h_btc_normalized
    from {{ coingecko_raw }} as raw
    cross join lateral jsonb_array_elements(
        case when jsonb_typeof(raw.body_json) = 'array' then raw.body_json else '[]'::jsonb end
    ) with ordinality as record (value, ordinality)
{%- endset %}

{#- the records of CMC /v1/exchange/listings/latest pages (`data` is a list), USD quote -#}
{%- set cmc_records -%}
    select
        raw.landing_id,
        raw.fetched_at,
        record.ordinality as position_in_page,
        ({{ json_text('record.value', 'id') }})::bigint as cmc_exchange_id,
        {{ json_numeric("record.value -> 'quote' -> 'USD'", 'volume_24h') }} as volume_24h_usd,
        {{ json_timestamp('record.value', 'last_updated') }} as last_updated_at
    from {{ cmc_raw }} as raw
    cross join lateral jsonb_array_elements(
        case when jsonb_typeof(raw.body_json -> 'data') = 'array' then raw.body_json -> 'data' else '[]'::jsonb end
    ) with ordinality as record (value, ordinality)
{%- endset %}

with

{% if is_incremental() %}
new_landings as (

    select
        raw.interval_start,
        raw.fetched_at
    from {{ coingecko_raw }} as raw
    where {{ landed_since_watermark('raw.landed_xid') }}

    union all

    select
        raw.interval_start,
        raw.fetched_at
    from {{ cmc_raw }} as raw
    where {{ landed_since_watermark('raw.landed_xid') }}

),

new_days as (

    select distinct touched.day::date as volume_date
    from new_landings
    cross join lateral generate_series(
        (least(new_landings.interval_start, new_landings.fetched_at) at time zone 'UTC')::date,
        (new_landings.fetched_at at time zone 'UTC')::date,
        interval '1 day'
    ) as touched (day)

    union

    select (new_cmc.last_updated_at at time zone 'UTC')::date
    from (
        {{ cmc_records }}
        where {{ landed_since_watermark('raw.landed_xid') }}
    ) as new_cmc

),
{% endif %}

coingecko_observations as (

    -- one observation per exchange and fetch (a record seen twice in one fetch: the later landing's)
    select distinct on (records.exchange_id, records.fetched_at)
        records.*,
        (records.fetched_at at time zone 'UTC')::date as volume_date
    from (
        {{ coingecko_records }}
        {% if is_incremental() %}
            where raw.fetched_at >= (select min(new_days.volume_date) from new_days)
        {% endif %}
    ) as records
    where records.exchange_id is not null
    order by
        records.exchange_id asc, records.fetched_at desc, records.landing_id desc,
        records.position_in_page desc

),

coingecko_daily as (

    select distinct on (coingecko_observations.exchange_id, coingecko_observations.volume_date)
        coingecko_observations.exchange_id,
        coingecko_observations.volume_date,
        coingecko_observations.volume_24h_btc,
        coingecko_observations.volume_24h_btc_normalized,
        coingecko_observations.fetched_at as btc_observed_at,
        count(*) over (
            partition by coingecko_observations.exchange_id, coingecko_observations.volume_date
        ) as btc_observations
    from coingecko_observations
    order by
        coingecko_observations.exchange_id asc, coingecko_observations.volume_date asc,
        coingecko_observations.fetched_at desc

),

cmc_observations as (

    -- one observation per CMC exchange and `last_updated`, from the latest fetch (as stg_cmc__exchanges)
    select distinct on (records.cmc_exchange_id, records.last_updated_at)
        records.*,
        (records.last_updated_at at time zone 'UTC')::date as volume_date
    from (
        {{ cmc_records }}
        {% if is_incremental() %}
            where raw.fetched_at >= (select min(new_days.volume_date) from new_days)
        {% endif %}
    ) as records
    where records.cmc_exchange_id is not null and records.last_updated_at is not null
    order by
        records.cmc_exchange_id asc, records.last_updated_at asc, records.fetched_at desc,
        records.landing_id desc, records.position_in_page desc

),

cmc_daily as (

    select distinct on (exchanges.exchange_id, cmc_observations.volume_date)
        exchanges.exchange_id,
        cmc_observations.cmc_exchange_id,
        cmc_observations.volume_date,
        cmc_observations.volume_24h_usd,
        cmc_observations.last_updated_at as usd_observed_at,
        count(*) over (
            partition by exchanges.exchange_id, cmc_observations.volume_date
        ) as usd_observations
    from cmc_observations
    inner join {{ ref('dim_exchanges') }} as exchanges
        on cmc_observations.cmc_exchange_id = exchanges.cmc_exchange_id
    order by
        exchanges.exchange_id asc, cmc_observations.volume_date asc, cmc_observations.last_updated_at desc

),

daily as (

    select
        coalesce(coingecko_daily.exchange_id, cmc_daily.exchange_id) as exchange_id,
        coalesce(coingecko_daily.volume_date, cmc_daily.volume_date) as volume_date,
        cmc_daily.cmc_exchange_id,
        coingecko_daily.volume_24h_btc,
        coingecko_daily.volume_24h_btc_normalized,
        coingecko_daily.btc_observed_at,
        coalesce(coingecko_daily.btc_observations, 0) as btc_observations,
        cmc_daily.volume_24h_usd,
        cmc_daily.usd_observed_at,
        coalesce(cmc_daily.usd_observations, 0) as usd_observations
    from coingecko_daily
    full outer join cmc_daily
        on
            coingecko_daily.exchange_id = cmc_daily.exchange_id
            and coingecko_daily.volume_date = cmc_daily.volume_date

)

select
    -- ids
    exchange_id,
    volume_date,
    cmc_exchange_id,

    -- numbers
    volume_24h_btc,
    volume_24h_btc_normalized,
    btc_observations,
    volume_24h_usd,
    usd_observations,

    -- timestamps
    btc_observed_at,
    usd_observed_at,
    {{ commit_watermark() }} as built_xmin

from daily
{% if is_incremental() %}
    where volume_date in (select new_days.volume_date from new_days)
{% endif %}
