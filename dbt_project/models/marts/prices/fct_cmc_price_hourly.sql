-- One row per CMC coin per hour, from the CMC USD observations whose own timestamp falls in that UTC
-- hour: the live snapshots (/v1/cryptocurrency/listings/latest, `last_updated`) and the hourly history
-- (/v2/cryptocurrency/quotes/historical, each sample's `timestamp`), one series: open (the first
-- observation), high, low and close (the latest, whose market cap, volume and rank the row keeps; a
-- history sample has no rank). Ties on the timestamp go to the latest fetch, then to the snapshot. The
-- same observations, typed the same way (macros json_*, cmc_quotes_history_points), as stg_cmc__listings
-- and stg_cmc__quotes_history, with the history's rules: a sample counts only inside its landing's data
-- interval (interval_start <= timestamp < interval_end), and a coin's hour sampled by two landings is one
-- point, from the latest fetch.
--
-- Why the raw tables and not the staging views: those keep each observation once with DISTINCT ON, and
-- Postgres cannot push a filter on any other column (landed_xid, fetched_at) below a DISTINCT ON, so every
-- run would unnest every page ever landed. Read here, the watermark and fetched_at filters use the raw
-- tables' indexes and a run costs what new data costs (one exception: a history landing of old hours
-- reads the snapshots fetched since its first hour). A snapshot observation landed more than once is
-- harmless: the hour's close is the latest observation and, among copies of one, the latest fetch (the
-- copy the view keeps); copies change no maximum or minimum. History copies are deduplicated here as in
-- the view.
--
-- Incremental as fct_price_hourly: only the hours touched by raw rows committed since the last run's
-- snapshot (commit_watermark) are recomputed - the hours they observe, and those an earlier landing of
-- the same intervals contributed to (`landed_intervals`: a re-run replaced it and may no longer hold the
-- hour at all; the intervals are read from the raw rows themselves, so an emptied body counts too) - from
-- raw rows fetched from the earliest such hour on; a recomputed hour is rewritten whole (a row the
-- recompute no longer produces is written as a tombstone, no price, which the post-hook deletes).
{{
    config(
        materialized='incremental',
        unique_key=['cmc_id', 'price_hour'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        indexes=[
            {'columns': ['cmc_id', 'price_hour'], 'unique': true},
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

    -- snapshot rows committed since the last run's snapshot (the landed_xid index), one per observation
    select
        date_trunc('hour', {{ json_timestamp('elements.record', 'last_updated') }}, 'UTC') as price_hour,
        elements.record -> 'quote' -> 'USD' ->> 'price' is not null as has_price
    from (select * from {{ source_or_empty('cmc', 'cryptocurrency_listings_latest') }}) as landed
    cross join lateral jsonb_array_elements(landed.body_json -> 'data') as elements (record)
    where {{ landed_since_watermark('landed.landed_xid') }}

),

new_history as (

    -- history samples committed since then, inside their landing's interval
    select
        points.quote_hour as price_hour,
        points.quote_usd ->> 'price' is not null as has_price
    from (
        {{ cmc_quotes_history_points('landed') }}
        where {{ landed_since_watermark('landed.landed_xid') }}
    ) as points
    where
        points.observed_at >= points.interval_start
        and points.observed_at < points.interval_end

),

new_landings as (

    -- the intervals landed since then, in either raw table (an emptied body too)
    select landed.interval_start
    from (select * from {{ source_or_empty('cmc', 'cryptocurrency_listings_latest') }}) as landed
    where {{ landed_since_watermark('landed.landed_xid') }}

    union

    select landed.interval_start
    from (select * from {{ source_or_empty('cmc', 'cryptocurrency_quotes_historical') }}) as landed
    where {{ landed_since_watermark('landed.landed_xid') }}

),

new_hours as (

    -- the hours the new rows observe
    select new_rows.price_hour
    from new_rows
    where new_rows.has_price

    union

    select new_history.price_hour
    from new_history
    where new_history.has_price

    union

    -- the hours an earlier landing of the same intervals contributed to (the new rows replaced it)
    select built.price_hour
    from {{ this }} as built
    where built.landed_intervals && array(select new_landings.interval_start from new_landings)

),
{% endif %}

landed_records as (

    select
        landed.landing_id,
        landed.fetched_at,
        landed.landed_at,
        landed.interval_start,
        elements.record,
        elements.record -> 'quote' -> 'USD' as quote_usd
    from (select * from {{ source_or_empty('cmc', 'cryptocurrency_listings_latest') }}) as landed
    cross join lateral jsonb_array_elements(landed.body_json -> 'data') as elements (record)
    {% if is_incremental() %}
        -- an observation of hour H is fetched at or after H
        where landed.fetched_at >= (select min(new_hours.price_hour) from new_hours)
    {% endif %}

),

history_points as (

    -- history samples inside their landing's interval, one per coin and hour: the latest fetch's
    select distinct on (points.cmc_id, points.quote_hour)
        points.cmc_id,
        points.symbol,
        {{ json_numeric('points.quote_usd', 'price') }} as price,
        {{ json_numeric('points.quote_usd', 'market_cap') }} as market_cap,
        {{ cmc_quote_volume_24h('points.quote_usd') }} as volume_24h,
        points.observed_at,
        points.quote_hour,
        points.fetched_at,
        points.landing_id,
        points.landed_at,
        points.interval_start
    from (
        {{ cmc_quotes_history_points('landed') }}
        {% if is_incremental() %}
            -- a sample of hour H is fetched at or after H, and lies inside its landing's interval
            where
                landed.fetched_at >= (select min(new_hours.price_hour) from new_hours)
                and landed.interval_end > (select min(new_hours.price_hour) from new_hours)
        {% endif %}
    ) as points
    where
        points.observed_at >= points.interval_start
        and points.observed_at < points.interval_end
        {% if is_incremental() %}
            and points.quote_hour = any(array(select new_hours.price_hour from new_hours))
        {% endif %}
    order by
        points.cmc_id asc, points.quote_hour asc, points.fetched_at desc, points.landing_id desc,
        points.observed_at desc

),

observations as (

    select
        ({{ json_text('record', 'id') }})::bigint as cmc_id,
        {{ json_text('record', 'symbol') }} as symbol,
        ({{ json_text('record', 'cmc_rank') }})::bigint as cmc_rank,
        {{ json_numeric('quote_usd', 'price') }} as price,
        {{ json_numeric('quote_usd', 'market_cap') }} as market_cap,
        {{ json_numeric('quote_usd', 'volume_24h') }} as volume_24h,
        {{ json_timestamp('record', 'last_updated') }} as last_updated_at,
        date_trunc('hour', {{ json_timestamp('record', 'last_updated') }}, 'UTC') as price_hour,
        fetched_at,
        landing_id,
        1 as kind_order,
        landed_at,
        interval_start
    from landed_records
    where
        {{ json_numeric('quote_usd', 'price') }} is not null
        {% if is_incremental() %}
            and date_trunc('hour', {{ json_timestamp('record', 'last_updated') }}, 'UTC')
            = any(array(select new_hours.price_hour from new_hours))
        {% endif %}

    union all

    select
        history_points.cmc_id,
        history_points.symbol,
        null::bigint as cmc_rank,
        history_points.price,
        history_points.market_cap,
        history_points.volume_24h,
        history_points.observed_at as last_updated_at,
        history_points.quote_hour as price_hour,
        history_points.fetched_at,
        history_points.landing_id,
        2 as kind_order,
        history_points.landed_at,
        history_points.interval_start
    from history_points
    where history_points.price is not null

),

hours as (

    select
        cmc_id,
        price_hour,
        (array_agg(price order by last_updated_at asc, fetched_at desc, landing_id desc, kind_order asc))[1]
            as open_price,
        max(price) as high_price,
        min(price) as low_price,
        array_agg(distinct interval_start order by interval_start) as landed_intervals
    from observations
    group by cmc_id, price_hour

),

latest as (

    select distinct on (cmc_id, price_hour) *
    from observations
    order by
        cmc_id asc, price_hour asc, last_updated_at desc, fetched_at desc, landing_id desc, kind_order asc

),

rebuilt as (

    select
        -- ids
        latest.cmc_id,
        'cmc'::text as source,
        latest.symbol,

        -- numbers
        hours.open_price as open_usd,
        hours.high_price as high_usd,
        hours.low_price as low_usd,
        latest.price as price_usd,
        latest.market_cap as market_cap_usd,
        latest.volume_24h as volume_24h_usd,
        latest.cmc_rank,

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
            latest.cmc_id = hours.cmc_id
            and latest.price_hour = hours.price_hour

)

select * from rebuilt

{% if is_incremental() %}
    union all

    -- tombstones: rows of the recomputed hours that the recompute no longer produces
    select
        built.cmc_id,
        built.source,
        null as symbol,
        null as open_usd,
        null as high_usd,
        null as low_usd,
        null as price_usd,
        null as market_cap_usd,
        null as volume_24h_usd,
        null as cmc_rank,
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
            where rebuilt.cmc_id = built.cmc_id and rebuilt.price_hour = built.price_hour
        )
{% endif %}
