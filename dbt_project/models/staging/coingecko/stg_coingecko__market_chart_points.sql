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
-- check is decided per window, not per point: `superseded` pairs each window with the later fetches of
-- its coin whose spans overlap it (windows only, no body: a few rows, and none unless an interval was
-- landed again), so its cost follows the windows, and a point is checked against its own window's pairs
-- only. The three series are read in one pass (ROWS FROM zips them by position): indexing into a body's
-- arrays point by point would read the whole body again for every point.
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
            {{ market_chart_covered('source') }} as covered
        offset 0  -- noqa: PRS
    ) as per_window

),

fetches as (

    -- every landed window again, without its body (a read of its own: a filter on the windows read
    -- above must not restrict the fetches that may supersede them)
    select
        later.landing_id,
        {{ market_chart_coin_id('later.endpoint') }} as coin_id,
        lower(later.request_params ->> 'vs_currency') as vs_currency,
        {{ market_chart_covered('later') }} as covered,
        later.fetched_at
    from {{ source('coingecko', 'coins_market_chart_range') }} as later

),

superseded as materialized (

    -- a window's spans that a later fetch of the same coin speaks for
    select
        earlier.landing_id,
        later.covered
    from fetches as earlier
    inner join fetches as later
        on
            earlier.coin_id = later.coin_id
            and earlier.vs_currency = later.vs_currency
            and earlier.fetched_at <= later.fetched_at
            and (earlier.fetched_at < later.fetched_at or earlier.landing_id < later.landing_id)
            and earlier.covered && later.covered

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
        and not exists (
            select from superseded
            where
                superseded.landing_id = points.landing_id
                and superseded.covered @> points.observed_at
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
