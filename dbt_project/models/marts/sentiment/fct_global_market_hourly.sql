-- One row per source per UTC hour of the whole crypto market: total market cap and 24 h volume in
-- USD, Bitcoin's and Ether's dominance, from the latest snapshot of the hour by the source's own
-- timestamp (CoinGecko /global `updated_at`, CMC global metrics `last_updated`). The two sources stay
-- side by side as rows (`source`): their totals differ by method, and either may be missing for an
-- hour; compare them with a self-join on market_hour. CMC's rows also take its hourly history
-- (/v1/global-metrics/quotes/historical, stg_cmc__global_metrics_history: one snapshot per hour
-- boundary): one series with the live snapshots, so an hour with both keeps the live one (later in the
-- hour than the boundary; a tie on the time goes to the latest fetch, then to the live snapshot), and a
-- backfilled hour without live data keeps the history's (with no 24 h change: the history has none).
--
-- Incremental (the commit-ordered watermark of macro commit_watermark): a run recomputes only the
-- (source, hour) rows touched since the snapshot the last build read, reading staging only from the
-- earliest such hour on:
-- - the hours of snapshots committed since then;
-- - the rows kept from an interval that has just been landed again (a re-landing replaces its
--   interval's raw rows, so the snapshot a row was kept from may be gone).
-- A touched row left without any snapshot comes out holding only its key, so that delete+insert
-- removes it; the post-hook deletes those in the same transaction. The table equals a full rebuild.
-- (stg_cmc__global_metrics and stg_cmc__global_metrics_history deduplicate with DISTINCT ON their snapshot
-- time, through which Postgres pushes neither the landed_xid filter nor a fetched_at one: those views are
-- computed whole each run, one small body an hour and one per history window; CoinGecko's is read through
-- the raw table's indexes.)
{{
    config(
        materialized='incremental',
        unique_key=['source', 'market_hour'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        indexes=[
            {'columns': ['source', 'market_hour'], 'unique': true},
            {'columns': ['built_xmin']},
            {'columns': ['landed_interval_end']},
        ],
        post_hook=["{{ delete_emptied_rows() }}"],
    )
}}

with

{% if is_incremental() %}
landed as (

    -- snapshots committed since the last build's snapshot
    select
        'coingecko'::text as source,
        staged.updated_at as observed_at,
        staged.interval_start,
        staged.interval_end
    from {{ ref('stg_coingecko__global_metrics') }} as staged
    where {{ landed_since_watermark('staged.landed_xid') }}

    union all

    select
        'cmc'::text as source,
        staged.last_updated_at as observed_at,
        staged.interval_start,
        staged.interval_end
    from {{ ref('stg_cmc__global_metrics') }} as staged
    where {{ landed_since_watermark('staged.landed_xid') }}

    union all

    select
        'cmc'::text as source,
        history.observed_at,
        history.interval_start,
        history.interval_end
    from {{ ref('stg_cmc__global_metrics_history') }} as history
    where {{ landed_since_watermark('history.landed_xid') }}

),

{{ touched_keys(['source', 'market_hour'], landed_keys={'market_hour': "date_trunc('hour', landed.observed_at, 'UTC')"}, match='source') }},
{% endif %}

snapshots as (

    select
        'coingecko'::text as source,
        coingecko.total_market_cap_usd,
        coingecko.total_volume_24h_usd,
        coingecko.btc_dominance_percentage as btc_dominance_pct,
        coingecko.eth_dominance_percentage as eth_dominance_pct,
        coingecko.market_cap_change_percentage_24h_usd as market_cap_change_24h_pct,
        coingecko.active_cryptocurrencies,
        coingecko.updated_at as observed_at,
        1 as kind_order,
        coingecko.fetched_at,
        coingecko.landing_id,
        coingecko.landed_at,
        coingecko.interval_start,
        coingecko.interval_end
    from {{ ref('stg_coingecko__global_metrics') }} as coingecko
    {% if is_incremental() %}
        -- a snapshot of hour H is fetched at or after H (the raw table's fetched_at index)
        where coingecko.fetched_at >= (select min(touched.market_hour) from touched)
    {% endif %}

    union all

    select
        'cmc'::text as source,
        cmc.total_market_cap_usd,
        cmc.total_volume_24h_usd,
        cmc.btc_dominance_pct,
        cmc.eth_dominance_pct,
        cmc.total_market_cap_change_24h_pct as market_cap_change_24h_pct,
        cmc.active_cryptocurrencies,
        cmc.last_updated_at as observed_at,
        1 as kind_order,
        cmc.fetched_at,
        cmc.landing_id,
        cmc.landed_at,
        cmc.interval_start,
        cmc.interval_end
    from {{ ref('stg_cmc__global_metrics') }} as cmc
    {% if is_incremental() %}
        where cmc.last_updated_at >= (select min(touched.market_hour) from touched)
    {% endif %}

    union all

    select
        'cmc'::text as source,
        history.total_market_cap_usd,
        history.total_volume_24h_usd,
        history.btc_dominance_pct,
        history.eth_dominance_pct,
        null::numeric as market_cap_change_24h_pct,
        history.active_cryptocurrencies,
        history.observed_at,
        2 as kind_order,
        history.fetched_at,
        history.landing_id,
        history.landed_at,
        history.interval_start,
        history.interval_end
    from {{ ref('stg_cmc__global_metrics_history') }} as history
    {% if is_incremental() %}
        where history.observed_at >= (select min(touched.market_hour) from touched)
    {% endif %}

),

ranked as (

    select
        snapshots.*,
        date_trunc('hour', snapshots.observed_at, 'UTC') as market_hour,
        row_number() over (
            partition by snapshots.source, date_trunc('hour', snapshots.observed_at, 'UTC')
            order by
                snapshots.observed_at desc, snapshots.fetched_at desc, snapshots.landing_id desc,
                snapshots.kind_order asc
        ) as recency
    from snapshots

),

latest as (

    select * from ranked
    where recency = 1

),

keys as (

    -- the rows to write (see macro keys_to_write)
    {{ keys_to_write(['source', 'market_hour']) }}

)

select
    -- ids
    keys.source,
    keys.market_hour,
    latest.landing_id,

    -- numbers
    latest.total_market_cap_usd,
    latest.total_volume_24h_usd,
    latest.btc_dominance_pct,
    latest.eth_dominance_pct,
    latest.market_cap_change_24h_pct,
    latest.active_cryptocurrencies,

    -- timestamps
    latest.observed_at,
    latest.landed_at,
    latest.interval_start as landed_interval_start,
    latest.interval_end as landed_interval_end,
    {{ commit_watermark() }} as built_xmin

from keys
left join latest
    on
        keys.source = latest.source
        and keys.market_hour = latest.market_hour
