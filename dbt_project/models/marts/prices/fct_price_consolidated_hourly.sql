-- One consolidated USD price per asset and hour across CoinGecko and CMC. The asset is the CoinGecko coin
-- id; a CMC coin joins it through int_asset_identity (its matched cmc_id; a CMC coin matched to no
-- CoinGecko coin is left out). The consolidated price is the plain mean of the sources that have a close
-- in the hour (one or two: no source is preferred, none is weighted); deviation_pct compares CMC with
-- CoinGecko when both have one.
--
-- Incremental: a run recomputes only the hours touched by hourly rows written since the snapshot the last
-- run read (both hourly marts' built_xid against this one's built_xmin), reading hourly rows of those
-- hours only: the hours of those rows, and the hours of its own rows built from a landing interval that
-- a new hourly row was built from too (`landed_intervals`: a re-run, after which an hourly hour may have
-- lost its rows altogether). A recomputed hour is rewritten whole (a row the recompute no longer
-- produces is written as a tombstone, no price, which the post-hook deletes). The identity is read as it is at run time: hours already built keep the match they were built
-- with until they are recomputed (a --full-refresh re-files all of history under the current identity).
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

new_hours as (

    select new_hourly.price_hour
    from new_hourly

    union

    -- hours built from a landing interval that was built from again (re-run)
    select built.price_hour
    from {{ this }} as built
    where built.landed_intervals && array(
        select distinct intervals.interval_start
        from new_hourly
        cross join lateral unnest(new_hourly.landed_intervals) as intervals (interval_start)
    )

),
{% endif %}

identity as (

    select
        asset_id,
        cmc_id,
        match_rule
    from {{ ref('int_asset_identity') }}
    where cmc_id is not null

),

coingecko as (

    select
        hourly.asset_id,
        hourly.price_hour,
        hourly.price_usd,
        hourly.observed_at,
        hourly.landed_intervals
    from {{ ref('fct_price_hourly') }} as hourly
    {% if is_incremental() %}
        -- an array, not a semi-join: the planner then reads the touched hours by the price_hour index
        where hourly.price_hour = any(array(select new_hours.price_hour from new_hours))
    {% endif %}

),

cmc as (

    select
        identity.asset_id,
        hourly.price_hour,
        hourly.price_usd,
        hourly.observed_at,
        hourly.landed_intervals
    from {{ ref('fct_cmc_price_hourly') }} as hourly
    inner join identity on hourly.cmc_id = identity.cmc_id
    {% if is_incremental() %}
        where hourly.price_hour = any(array(select new_hours.price_hour from new_hours))
    {% endif %}

),

joined as (

    select
        coalesce(coingecko.asset_id, cmc.asset_id) as asset_id,
        coalesce(coingecko.price_hour, cmc.price_hour) as price_hour,
        coingecko.price_usd as price_coingecko,
        cmc.price_usd as price_cmc,
        coingecko.observed_at as observed_at_coingecko,
        cmc.observed_at as observed_at_cmc,
        array(
            select distinct intervals.interval_start
            from unnest(coingecko.landed_intervals || cmc.landed_intervals) as intervals (interval_start)
            order by intervals.interval_start
        ) as landed_intervals
    from coingecko
    full outer join cmc
        on
            coingecko.asset_id = cmc.asset_id
            and coingecko.price_hour = cmc.price_hour

),

rebuilt as (

    select
        -- ids
        joined.asset_id,
        identity.cmc_id,
        identity.match_rule,

        -- numbers
        joined.price_coingecko,
        joined.price_cmc,
        -- trim_scale: no trailing zeros from the division (101, not 101.0000000000000000)
        trim_scale(
            (coalesce(joined.price_coingecko, 0) + coalesce(joined.price_cmc, 0))
            / num_nonnulls(joined.price_coingecko, joined.price_cmc)
        ) as price_usd,
        trim_scale(
            (joined.price_cmc - joined.price_coingecko) / nullif(joined.price_coingecko, 0) * 100
        ) as deviation_pct,
        num_nonnulls(joined.price_coingecko, joined.price_cmc) as sources_count,

        -- timestamps
        joined.price_hour,
        joined.observed_at_coingecko,
        joined.observed_at_cmc,
        joined.landed_intervals,
        {{ commit_watermark() }} as built_xmin,
        pg_current_xact_id() as built_xid

    from joined
    left join identity on joined.asset_id = identity.asset_id

)

select * from rebuilt

{% if is_incremental() %}
    union all

    -- tombstones: rows of the recomputed hours that the recompute no longer produces
    select
        built.asset_id,
        null as cmc_id,
        null as match_rule,
        null as price_coingecko,
        null as price_cmc,
        null as price_usd,
        null as deviation_pct,
        null as sources_count,
        built.price_hour,
        null as observed_at_coingecko,
        null as observed_at_cmc,
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
