-- One row per point of the landed /coins/{id}/market_chart/range windows (hourly history): the price,
-- market cap and 24 h volume CoinGecko gives at the point's own time, typed, with the landing it came
-- from. The three series share their timestamps; they are read by position, and a market cap or
-- volume whose timestamp is not the price's is left null (not_null tests fail then).
--
-- A point is kept only inside the span its window speaks for (macro market_chart_covered: the data
-- interval, half-open, cut to the requested window), so the boundary point that the API returns to
-- two back-to-back windows belongs to the later interval only. Where windows of one coin overlap (an
-- interval landed again under other bounds), the later fetch speaks for the span it covers: a point of
-- an earlier fetch inside it is left out, whether or not the later fetch holds a point at that time.
-- So a (coin, time) comes from the latest fetch of it, and a later fetch that no longer has a point
-- there removes it.
--
-- No DISTINCT ON, aggregate or window function: the view stays a plain join, so Postgres pushes a
-- filter on the landing's columns (landed_xid, fetched_at, interval_start, interval_end) down to the raw
-- table, and an incremental mart reads only what it filters. The overlap check is an anti-join on the
-- raw table that the planner can drive by its fetched_at index (a later fetch is fetched at or after).
with

source as (

    select * from {{ source('coingecko', 'coins_market_chart_range') }}

),

windows as (

    select
        source.landing_id,
        source.run_id,
        {{ market_chart_coin_id('source.endpoint') }} as coin_id,
        lower(source.request_params ->> 'vs_currency') as vs_currency,
        {{ market_chart_covered('source') }} as covered,
        source.interval_start,
        source.interval_end,
        source.fetched_at,
        source.landed_at,
        source.landed_xid,
        source.body_json
    from source

),

later_windows as (

    -- every landed window again (a read of its own: a filter on the windows read above must not
    -- restrict the fetches that may supersede them)
    select
        later.landing_id,
        {{ market_chart_coin_id('later.endpoint') }} as coin_id,
        lower(later.request_params ->> 'vs_currency') as vs_currency,
        {{ market_chart_covered('later') }} as covered,
        later.fetched_at
    from {{ source('coingecko', 'coins_market_chart_range') }} as later

),

points as (

    select
        windows.*,
        price.ordinality as position_in_body,
        price.point as price_point,
        windows.body_json -> 'market_caps' -> (price.ordinality::integer - 1) as market_cap_point,
        windows.body_json -> 'total_volumes' -> (price.ordinality::integer - 1) as volume_point,
        {{ epoch_ms_timestamp("price.point ->> 0") }} as observed_at
    from windows
    cross join lateral jsonb_array_elements(windows.body_json -> 'prices') with ordinality as price (point, ordinality)

),

kept as (

    -- inside the window's span, and not spoken for by a later fetch of the coin
    select points.*
    from points
    where
        points.covered @> points.observed_at
        and not exists (
            select from later_windows
            where
                later_windows.coin_id = points.coin_id
                and later_windows.vs_currency = points.vs_currency
                and later_windows.fetched_at >= points.fetched_at
                and (later_windows.fetched_at > points.fetched_at or later_windows.landing_id > points.landing_id)
                and later_windows.covered @> points.observed_at
        )

),

renamed as (

    select
        -- ids
        coin_id,
        landing_id,
        run_id,

        -- numbers
        (price_point ->> 1)::numeric as price,
        case
            when (market_cap_point ->> 0)::bigint = (price_point ->> 0)::bigint
                then (market_cap_point ->> 1)::numeric
        end as market_cap,
        case
            when (volume_point ->> 0)::bigint = (price_point ->> 0)::bigint
                then (volume_point ->> 1)::numeric
        end as volume_24h,
        vs_currency,
        position_in_body,

        -- timestamps
        observed_at,
        interval_start,
        interval_end,
        fetched_at,
        landed_at,
        landed_xid

    from kept

)

select * from renamed
