-- Market breadth per UTC day over the day's top N assets by market cap (var breadth_top_n, default 100),
-- from CoinGecko's daily closes (fct_price_daily, source coingecko; an asset without a market cap that
-- day is not ranked): how many advanced and declined against their previous day's close, which share
-- closed above their 7-, 30- and 200-day moving averages of close, and how many made a new 30-day high
-- or low.
--
-- Windows are calendar days: an asset's n-day moving average on day D is the mean of its closes of days
-- D - n + 1 .. D, defined only when it has a close on every one of them (a full window); a share counts
-- only the top N assets with a full window and is null when none has one. A new 30-day high (low) is a
-- close above (below) every close of the 29 days before, for an asset with a full 30-day window.
-- Advance and decline compare with the close of the calendar day before (none that day: neither).
--
-- Incremental: a close of day D enters the windows of days D .. D + 199 (the 200-day average; the 30-day
-- high and low reach 29 days, the advance of D + 1 one day), so a run recomputes every day from the
-- earliest day touched by daily rows written since its last snapshot (fct_price_daily's built_xid
-- against this model's built_xmin) to 199 days after the latest one, as far as there are closes, and
-- reads daily closes from 199 days before the first of them. Recomputing today costs 200 days of the
-- assets' closes, whatever the length of history. A recomputed day left without closes (its daily rows
-- gone) is written as a tombstone (no count), which the post-hook deletes.
{% set top_n = var('breadth_top_n', 100) %}
{% set ma_windows = [7, 30, 200] %}
{% set reach = 199 %}
{{
    config(
        materialized='incremental',
        unique_key='price_date',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        indexes=[
            {'columns': ['price_date'], 'unique': true},
            {'columns': ['built_xmin']},
        ],
        post_hook=["delete from {{ this }} where assets_count is null"],
    )
}}

with

{% if is_incremental() %}
recomputed as (

    -- the touched days and every later day whose windows reach back to one of them
    select
        min(daily.price_date) as first_day,
        max(daily.price_date) + {{ reach }} as last_day
    from {{ ref('fct_price_daily') }} as daily
    where
        daily.source = 'coingecko'
        and {{ landed_since_watermark('daily.built_xid') }}

),
{% endif %}

daily as (

    select
        daily.asset_key,
        daily.price_date,
        daily.close_usd,
        daily.market_cap_usd
    from {{ ref('fct_price_daily') }} as daily
    where
        daily.source = 'coingecko'
        {% if is_incremental() %}
            and daily.price_date >= (select recomputed.first_day - {{ reach }} from recomputed)
            and daily.price_date <= (select recomputed.last_day from recomputed)
        {% endif %}

),

windowed as (

    select
        daily.*,
        lag(daily.close_usd) over by_asset as previous_close,
        lag(daily.price_date) over by_asset as previous_date,
        {% for days in ma_windows %}
            avg(daily.close_usd) over (
                by_asset range between interval '{{ days - 1 }} days' preceding and current row
            ) as ma_{{ days }}d,
            count(*) over (
                by_asset range between interval '{{ days - 1 }} days' preceding and current row
            ) as closes_{{ days }}d,
        {% endfor %}
        max(daily.close_usd) over prior_29_days as prior_high_30d,
        min(daily.close_usd) over prior_29_days as prior_low_30d
    from daily
    window
        by_asset as (partition by daily.asset_key order by daily.price_date),
        prior_29_days as (by_asset range between interval '29 days' preceding and interval '1 day' preceding)

),

ranked as (

    select
        windowed.*,
        row_number() over (
            partition by windowed.price_date
            order by windowed.market_cap_usd desc, windowed.asset_key asc
        ) as cap_rank
    from windowed
    where
        windowed.market_cap_usd is not null
        {% if is_incremental() %}
            and windowed.price_date >= (select recomputed.first_day from recomputed)
        {% endif %}

),

top_assets as (

    select
        ranked.*,
        ranked.previous_date = ranked.price_date - 1 as has_previous_day,
        ranked.closes_30d = 30 as has_30d_window
    from ranked
    where ranked.cap_rank <= {{ top_n }}

),

rebuilt as (

    select
        -- the day
        price_date,

        -- counts
        {{ top_n }}::integer as top_n,
        count(*)::integer as assets_count,
        count(*) filter (where has_previous_day and close_usd > previous_close)::integer as advancers,
        count(*) filter (where has_previous_day and close_usd < previous_close)::integer as decliners,
        count(*) filter (where has_previous_day and close_usd = previous_close)::integer as unchanged,

        -- moving averages
        {% for days in ma_windows %}
            count(*) filter (where closes_{{ days }}d = {{ days }})::integer as assets_with_{{ days }}d_window,
            trim_scale(
                count(*) filter (where closes_{{ days }}d = {{ days }} and close_usd > ma_{{ days }}d)::numeric
                / nullif(count(*) filter (where closes_{{ days }}d = {{ days }}), 0)
            ) as share_above_ma_{{ days }}d,
        {% endfor %}

        -- 30-day highs and lows
        case
            when bool_or(has_30d_window)
                then count(*) filter (where has_30d_window and close_usd > prior_high_30d)
        end::integer as new_30d_highs,
        case
            when bool_or(has_30d_window)
                then count(*) filter (where has_30d_window and close_usd < prior_low_30d)
        end::integer as new_30d_lows,

        {{ commit_watermark() }} as built_xmin

    from top_assets
    group by price_date

)

select * from rebuilt

{% if is_incremental() %}
    union all

    -- tombstones: recomputed days that no longer have a close
    select
        built.price_date,
        null as top_n,
        null as assets_count,
        null as advancers,
        null as decliners,
        null as unchanged,
        {% for days in ma_windows %}
            null as assets_with_{{ days }}d_window,
            null as share_above_ma_{{ days }}d,
        {% endfor %}
        null as new_30d_highs,
        null as new_30d_lows,
        {{ commit_watermark() }} as built_xmin
    from {{ this }} as built
    where
        built.price_date between (select recomputed.first_day from recomputed)
        and (select recomputed.last_day from recomputed)
        and not exists (
            select from rebuilt
            where rebuilt.price_date = built.price_date
        )
{% endif %}
