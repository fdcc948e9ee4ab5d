-- One row per asset, source and UTC day, rolled up from the hourly marts' closes: open = the day's first
-- hour's close, high = the highest hourly close, low = the lowest, close = the last hour's close (whose
-- market cap, volume and rank the row keeps). The same definition for both sources: the day's range is
-- that of its hourly closes, not of the hourly highs and lows (those depend on how often a source was
-- landed within an hour, so they would not compare across sources or days).
-- The current day's row is provisional: it is recomputed as its hours arrive.
--
-- Incremental: a run recomputes only the days touched by hourly rows written since the snapshot the last
-- run read (the hourly marts' built_xid against this one's built_xmin: commit order, as raw landed_xid
-- for the hourly marts), reading hourly rows of those days only. A day is touched when a new hourly row
-- falls in it, or when its own row was built from a landing interval that a new hourly row was built
-- from too (`landed_intervals`: that interval was re-run, and an hour the hourly mart recomputed may
-- have lost its rows altogether). A recomputed day is rewritten whole for both sources (a row the
-- recompute no longer produces is written as a tombstone, no close, which the post-hook deletes), so the
-- table equals a full rebuild.
{{
    config(
        materialized='incremental',
        unique_key=['asset_key', 'source', 'price_date'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        indexes=[
            {'columns': ['asset_key', 'source', 'price_date'], 'unique': true},
            {'columns': ['built_xmin']},
            {'columns': ['built_xid']},
            {'columns': ['price_date']},
            {'columns': ['landed_intervals'], 'type': 'gin'},
        ],
        post_hook=[
            "delete from {{ this }}
            where built_xid = (select pg_current_xact_id()) and close_usd is null",
        ],
    )
}}

with

{% if is_incremental() %}
new_hourly as (

    -- hourly rows written since the last run's snapshot
    select
        coingecko.price_hour,
        coingecko.landed_intervals
    from {{ ref('fct_price_hourly') }} as coingecko
    where {{ landed_since_watermark('coingecko.built_xid') }}

    union all

    select
        cmc.price_hour,
        cmc.landed_intervals
    from {{ ref('fct_cmc_price_hourly') }} as cmc
    where {{ landed_since_watermark('cmc.built_xid') }}

),

new_days as (

    select (new_hourly.price_hour at time zone 'UTC')::date as price_date
    from new_hourly

    union

    -- days built from a landing interval that was built from again (re-run)
    select built.price_date
    from {{ this }} as built
    where built.landed_intervals && array(
        select distinct intervals.interval_start
        from new_hourly
        cross join lateral unnest(new_hourly.landed_intervals) as intervals (interval_start)
    )

),

new_hours as (

    -- the hours of the touched days, for the hourly marts' price_hour indexes
    select
        (min(new_days.price_date)::timestamp at time zone 'UTC') as first_hour,
        ((max(new_days.price_date) + 1)::timestamp at time zone 'UTC') as end_hour
    from new_days

),
{% endif %}

hourly as (

    select
        coingecko.asset_id as asset_key,
        coingecko.source,
        null::bigint as cmc_id,
        coingecko.price_hour,
        coingecko.price_usd,
        coingecko.market_cap_usd,
        coingecko.volume_24h_usd,
        coingecko.market_cap_rank::bigint as market_cap_rank,
        coingecko.observed_at,
        coingecko.landed_intervals
    from {{ ref('fct_price_hourly') }} as coingecko
    {% if is_incremental() %}
        where
            coingecko.price_hour >= (select new_hours.first_hour from new_hours)
            and coingecko.price_hour < (select new_hours.end_hour from new_hours)
    {% endif %}

    union all

    select
        cmc.cmc_id::text as asset_key,
        cmc.source,
        cmc.cmc_id,
        cmc.price_hour,
        cmc.price_usd,
        cmc.market_cap_usd,
        cmc.volume_24h_usd,
        cmc.cmc_rank as market_cap_rank,
        cmc.observed_at,
        cmc.landed_intervals
    from {{ ref('fct_cmc_price_hourly') }} as cmc
    {% if is_incremental() %}
        where
            cmc.price_hour >= (select new_hours.first_hour from new_hours)
            and cmc.price_hour < (select new_hours.end_hour from new_hours)
    {% endif %}

),

hourly_of_days as (

    select
        hourly.*,
        (hourly.price_hour at time zone 'UTC')::date as price_date
    from hourly

),

days as (

    select
        asset_key,
        source,
        price_date,
        (array_agg(price_usd order by price_hour asc))[1] as open_price,
        max(price_usd) as high_price,
        min(price_usd) as low_price,
        count(*) as hours_observed
    from hourly_of_days
    {% if is_incremental() %}
        where price_date = any(array(select new_days.price_date from new_days))
    {% endif %}
    group by asset_key, source, price_date

),

day_intervals as (

    select
        hourly_of_days.asset_key,
        hourly_of_days.source,
        hourly_of_days.price_date,
        array_agg(distinct intervals.interval_start order by intervals.interval_start) as landed_intervals
    from hourly_of_days
    cross join lateral unnest(hourly_of_days.landed_intervals) as intervals (interval_start)
    {% if is_incremental() %}
        where hourly_of_days.price_date = any(array(select new_days.price_date from new_days))
    {% endif %}
    group by hourly_of_days.asset_key, hourly_of_days.source, hourly_of_days.price_date

),

closes as (

    select distinct on (asset_key, source, price_date) *
    from hourly_of_days
    {% if is_incremental() %}
        where price_date = any(array(select new_days.price_date from new_days))
    {% endif %}
    order by asset_key asc, source asc, price_date asc, price_hour desc

),

rebuilt as (

    select
        -- ids
        closes.asset_key,
        closes.source,
        closes.cmc_id,

        -- numbers
        days.open_price as open_usd,
        days.high_price as high_usd,
        days.low_price as low_usd,
        closes.price_usd as close_usd,
        closes.market_cap_usd,
        closes.volume_24h_usd,
        closes.market_cap_rank,
        days.hours_observed::integer as hours_observed,

        -- timestamps
        closes.price_date,
        closes.price_hour as close_hour,
        closes.observed_at,
        day_intervals.landed_intervals,
        {{ commit_watermark() }} as built_xmin,
        pg_current_xact_id() as built_xid

    from closes
    inner join days
        on
            closes.asset_key = days.asset_key
            and closes.source = days.source
            and closes.price_date = days.price_date
    left join day_intervals
        on
            closes.asset_key = day_intervals.asset_key
            and closes.source = day_intervals.source
            and closes.price_date = day_intervals.price_date

)

select * from rebuilt

{% if is_incremental() %}
    union all

    -- tombstones: rows of the recomputed days that the recompute no longer produces
    select
        built.asset_key,
        built.source,
        built.cmc_id,
        null as open_usd,
        null as high_usd,
        null as low_usd,
        null as close_usd,
        null as market_cap_usd,
        null as volume_24h_usd,
        null as market_cap_rank,
        null as hours_observed,
        built.price_date,
        null as close_hour,
        null as observed_at,
        null as landed_intervals,
        {{ commit_watermark() }} as built_xmin,
        pg_current_xact_id() as built_xid
    from {{ this }} as built
    where
        built.price_date = any(array(select new_days.price_date from new_days))
        and not exists (
            select from rebuilt
            where
                rebuilt.asset_key = built.asset_key
                and rebuilt.source = built.source
                and rebuilt.price_date = built.price_date
        )
{% endif %}
