-- One row per asset per hour, from the CoinGecko USD observations whose own timestamp falls in that UTC
-- hour: the live snapshots (/coins/markets, `last_updated`) and the hourly history points
-- (/coins/{id}/market_chart/range, stg_coingecko__market_chart_points: each point's own time), one
-- series: open (the first observation), high, low and close (the latest, whose market cap, volume and
-- rank the row keeps; a history point has no rank). A late or re-run landing is filed under the hour of
-- its data, never of its run. An observation without a price is no price point and is left out. Ties on
-- the timestamp go to the latest fetch, then to the snapshot.
--
-- Incremental: a run recomputes only the hours touched by raw rows committed since the snapshot the
-- last run read (macro commit_watermark: safe under concurrent landings, one watermark for both raw
-- tables), reading only raw rows fetched from the earliest such hour on (an observation of hour H is
-- fetched at or after H; history windows also by their interval), so its cost follows new data, not
-- history (one exception: a history window of old hours reads the snapshots fetched since its first
-- hour, as nothing bounds how long after its hour a snapshot is fetched). An hour is touched when
-- - a new snapshot row observes it, or the row's landing replaced an earlier landing of the same
--   interval that contributed to it (`landed_intervals`: a re-run of the interval may no longer observe
--   that hour at all, e.g. a run at 11:00:20 stamps its coins 10:59, its re-run at 11:40 stamps them
--   11:39);
-- - a new history window speaks for it (stg_coingecko__market_chart_windows.covered): every hour of its
--   span, with or without a point of its own, since it replaces what an earlier landing of the window
--   held there and supersedes an earlier fetch's points there (a window of a coin without data has no
--   point and still empties its span).
-- A recomputed hour is rewritten whole: a row of it that the recompute no longer produces (a coin no
-- longer observed there) is written as a tombstone (no price), which delete+insert puts in the row's
-- place and the post-hook deletes, so the table always equals a full rebuild. `built_xid` (the writing
-- transaction) is what the marts built on this one follow, as this one follows raw rows' `landed_xid`;
-- `landed_intervals` holds the intervals of both kinds of landing, for their re-run detection.
-- (read by incremental runs only, so declared here)
-- depends_on: {{ ref('stg_coingecko__market_chart_windows') }}
{{
    config(
        materialized='incremental',
        unique_key=['asset_id', 'price_hour'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        indexes=[
            {'columns': ['asset_id', 'price_hour'], 'unique': true},
            {'columns': ['built_xmin']},
            {'columns': ['built_xid']},
            {'columns': ['price_hour']},
            {'columns': ['landed_intervals'], 'type': 'gin'},
        ],
        post_hook=[
            "delete from {{ this }}
            where built_xid = (select pg_current_xact_id()) and price_usd is null",
        ],
    )
}}

with

{% if is_incremental() %}
new_rows as (

    -- snapshot rows committed since the last run's snapshot; the staging view is read, not a CTE, so
    -- Postgres pushes the landed_xid filter down to the raw table's index
    select
        staged.last_updated_at,
        staged.price,
        staged.interval_start
    from {{ ref('stg_coingecko__coins_markets') }} as staged
    where
        staged.vs_currency = 'usd'
        and {{ landed_since_watermark('staged.landed_xid') }}

),

new_windows as (

    -- history windows committed since then: the spans they speak for (one per window asked for)
    select distinct windows.covered
    from {{ ref('stg_coingecko__market_chart_windows') }} as windows
    where
        windows.vs_currency = 'usd'
        and not isempty(windows.covered)
        and {{ landed_since_watermark('windows.landed_xid') }}

),

new_hours as (

    -- the hours the new snapshot rows observe
    select date_trunc('hour', new_rows.last_updated_at, 'UTC') as price_hour
    from new_rows
    where new_rows.price is not null

    union

    -- the hours an earlier snapshot landing of the same intervals contributed to (the new rows replaced it)
    select built.price_hour
    from {{ this }} as built
    where built.landed_intervals && array(select distinct new_rows.interval_start from new_rows)

    union

    -- every hour a new history window speaks for
    select spanned.price_hour
    from new_windows
    cross join lateral generate_series(
        date_trunc('hour', lower(new_windows.covered), 'UTC'),
        upper(new_windows.covered),
        interval '1 hour'
    ) as spanned (price_hour)
    where new_windows.covered && tstzrange(spanned.price_hour, spanned.price_hour + interval '1 hour', '[)')

),

touched as (

    select
        min(new_hours.price_hour) as first_hour,
        max(new_hours.price_hour) + interval '1 hour' as end_hour
    from new_hours

),
{% endif %}

observations as (

    select
        snapshots.coin_id,
        snapshots.price,
        snapshots.market_cap,
        snapshots.volume_24h,
        snapshots.market_cap_rank,
        snapshots.last_updated_at,
        snapshots.fetched_at,
        snapshots.landing_id,
        1 as kind_order,
        snapshots.landed_at,
        snapshots.interval_start,
        date_trunc('hour', snapshots.last_updated_at, 'UTC') as price_hour
    from {{ ref('stg_coingecko__coins_markets') }} as snapshots
    where
        snapshots.vs_currency = 'usd'
        and snapshots.price is not null
        {% if is_incremental() %}
            -- an observation of hour H is fetched at or after H
            and snapshots.fetched_at >= (select touched.first_hour from touched)
        {% endif %}

    union all

    select
        history.coin_id,
        history.price,
        history.market_cap,
        history.volume_24h,
        null::integer as market_cap_rank,
        history.observed_at as last_updated_at,
        history.fetched_at,
        history.landing_id,
        2 as kind_order,
        history.landed_at,
        history.interval_start,
        date_trunc('hour', history.observed_at, 'UTC') as price_hour
    from {{ ref('stg_coingecko__market_chart_points') }} as history
    where
        history.vs_currency = 'usd'
        and history.price is not null
        {% if is_incremental() %}
            -- a point of hour H is fetched at or after H, and lies inside its window's interval
            and history.fetched_at >= (select touched.first_hour from touched)
            and history.interval_end > (select touched.first_hour from touched)
            and history.interval_start < (select touched.end_hour from touched)
        {% endif %}

),

hours as (

    -- an observation landed twice (a re-fetch inside CoinGecko's cache) counts once either way: ties on
    -- the timestamp go to the latest fetch (then to the snapshot), and a duplicate changes no maximum or
    -- minimum
    select
        coin_id,
        price_hour,
        (array_agg(price order by last_updated_at asc, fetched_at desc, landing_id desc, kind_order asc))[1]
            as open_price,
        max(price) as high_price,
        min(price) as low_price,
        array_agg(distinct interval_start order by interval_start) as landed_intervals
    from observations
    {% if is_incremental() %}
        where price_hour = any(array(select new_hours.price_hour from new_hours))
    {% endif %}
    group by coin_id, price_hour

),

latest as (

    select distinct on (coin_id, price_hour) *
    from observations
    {% if is_incremental() %}
        where price_hour = any(array(select new_hours.price_hour from new_hours))
    {% endif %}
    order by
        coin_id asc, price_hour asc, last_updated_at desc, fetched_at desc, landing_id desc, kind_order asc

),

rebuilt as (

    select
        -- ids
        latest.coin_id as asset_id,
        'coingecko'::text as source,

        -- numbers
        hours.open_price as open_usd,
        hours.high_price as high_usd,
        hours.low_price as low_usd,
        latest.price as price_usd,
        latest.market_cap as market_cap_usd,
        latest.volume_24h as volume_24h_usd,
        latest.market_cap_rank,

        -- timestamps
        latest.price_hour,
        latest.last_updated_at as observed_at,
        latest.landed_at,
        hours.landed_intervals,
        {{ commit_watermark() }} as built_xmin,
        pg_current_xact_id() as built_xid

    from latest
    inner join hours
        on
            latest.coin_id = hours.coin_id
            and latest.price_hour = hours.price_hour

)

select * from rebuilt

{% if is_incremental() %}
    union all

    -- tombstones: rows of the recomputed hours that the recompute no longer produces
    select
        built.asset_id,
        built.source,
        null as open_usd,
        null as high_usd,
        null as low_usd,
        null as price_usd,
        null as market_cap_usd,
        null as volume_24h_usd,
        null as market_cap_rank,
        built.price_hour,
        null as observed_at,
        null as landed_at,
        null as landed_intervals,
        {{ commit_watermark() }} as built_xmin,
        pg_current_xact_id() as built_xid
    from {{ this }} as built
    where
        built.price_hour = any(array(select new_hours.price_hour from new_hours))
        and not exists (
            select from rebuilt
            where rebuilt.asset_id = built.asset_id and rebuilt.price_hour = built.price_hour
        )
{% endif %}
