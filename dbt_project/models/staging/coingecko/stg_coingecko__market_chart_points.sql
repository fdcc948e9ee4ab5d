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
-- No DISTINCT ON, aggregate or window function over the points: the view stays a plain join, so
-- Postgres pushes a filter on the landing's columns (landed_xid, fetched_at, interval_start,
-- interval_end) down to the raw table, and an incremental mart reads only what it filters. The overlap
-- check is decided per window, not per point: each window gathers the spans of the later fetches of
-- its coin into one multirange (an index lookup of the raw table, no body), so its cost follows the
-- windows, and a point is checked against its own window's multirange only (a check per point against
-- every later window took minutes over a year of 300 coins). The three series are read
-- in one pass (ROWS FROM zips them by position): indexing into a body's arrays point by point would
-- read the whole body again for every point.
with

source as (

    select * from {{ source('coingecko', 'coins_market_chart_range') }}

),

windows as (

    select
        source.landing_id,
        source.run_id,
        per_window.coin_id,
        per_window.vs_currency,
        per_window.covered,
        per_window.superseded_spans,
        source.interval_start,
        source.interval_end,
        source.fetched_at,
        source.landed_at,
        source.landed_xid,
        source.body_json
    from source
    cross join lateral (  -- noqa: ST05
        -- once per window, not once per point: OFFSET 0 keeps Postgres from moving these expressions
        -- into the points' rows (the path's regex alone, per point, was most of a full build's time)
        select
            {{ market_chart_coin_id('source.endpoint') }} as coin_id,
            lower(source.request_params ->> 'vs_currency') as vs_currency,
            {{ market_chart_covered('source') }} as covered,
            -- the spans that later fetches of the same coin (the same path) speak for, as one
            -- multirange: an index scan per window on (endpoint, fetched_at); back-to-back windows
            -- share their boundary instant, which belongs to the later one
            (
                select range_agg({{ market_chart_covered('later') }})
                from {{ source('coingecko', 'coins_market_chart_range') }} as later
                where
                    later.endpoint = source.endpoint
                    and lower(later.request_params ->> 'vs_currency')
                    = lower(source.request_params ->> 'vs_currency')
                    and later.fetched_at >= source.fetched_at
                    and (later.fetched_at > source.fetched_at or later.landing_id > source.landing_id)
            ) as superseded_spans
        offset 0  -- noqa: PRS
    ) as per_window

),

-- (sqlfluff cannot parse ROWS FROM: its checks are off for this CTE)
-- noqa: disable=PRS,RF01
points as (

    select
        windows.*,
        series.ordinality as position_in_body,
        series.price_point,
        series.market_cap_point,
        series.volume_point,
        {{ epoch_ms_timestamp("series.price_point ->> 0") }} as observed_at
    from windows
    cross join lateral rows from (
        jsonb_array_elements(windows.body_json -> 'prices'),
        jsonb_array_elements(windows.body_json -> 'market_caps'),
        jsonb_array_elements(windows.body_json -> 'total_volumes')
    ) with ordinality as series (price_point, market_cap_point, volume_point, ordinality)

),
-- noqa: enable=all

kept as (

    -- inside the window's span, and not spoken for by a later fetch of the coin
    select points.*
    from points
    where
        points.covered @> points.observed_at
        and not coalesce(points.superseded_spans @> points.observed_at, false)

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
