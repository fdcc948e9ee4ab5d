-- One row per landed /coins/{id}/market_chart/range response: one coin's window of hourly history,
-- filed under its data interval, with the span it speaks for (macro market_chart_covered) and how many
-- points it holds. A window with no points (a coin without data then) is a row here and none in
-- stg_coingecko__market_chart_points: an incremental mart learns from it which hours to recompute.
with

source as (

    select * from {{ source('coingecko', 'coins_market_chart_range') }}

),

renamed as (

    select
        -- ids
        {{ market_chart_coin_id('source.endpoint') }} as coin_id,
        source.landing_id,
        source.run_id,

        -- numbers
        jsonb_array_length(source.body_json -> 'prices') as points_count,
        lower(source.request_params ->> 'vs_currency') as vs_currency,

        -- timestamps
        to_timestamp((source.request_params ->> 'from')::numeric) as requested_from,
        to_timestamp((source.request_params ->> 'to')::numeric) as requested_to,
        {{ market_chart_covered('source') }} as covered,
        source.interval_start,
        source.interval_end,
        source.fetched_at,
        source.landed_at,
        source.landed_xid

    from source

)

select * from renamed
