-- Observations: one row per exchange per CMC `last_updated`, from every landed
-- /v1/exchange/listings/latest page, with the USD quote; an observation landed more than once is kept
-- from the latest fetch. The endpoint needs the Growth plan: on the default Basic plan its raw table stays
-- empty or does not exist (source_or_empty), and so is this view.
with

source as (

    select * from {{ source_or_empty('cmc', 'exchange_listings_latest') }}

),

records as (

    select
        source.landing_id,
        source.run_id,
        source.page,
        record.ordinality as position_in_page,
        source.interval_start,
        source.interval_end,
        source.fetched_at,
        source.landed_at,
        source.landed_xid,
        record.value as record,
        record.value -> 'quote' -> 'USD' as quote_usd
    from source
    cross join lateral jsonb_array_elements(source.body_json -> 'data') with ordinality as record (value, ordinality)

),

renamed as (

    select
        -- ids
        ({{ json_text('record', 'id') }})::bigint as exchange_id,
        {{ json_text('record', 'name') }} as exchange_name,
        {{ json_text('record', 'slug') }} as slug,
        landing_id,
        run_id,

        -- numbers
        ({{ json_text('record', 'rank') }})::bigint as exchange_rank,
        ({{ json_text('record', 'num_market_pairs') }})::bigint as num_market_pairs,
        {{ json_numeric('record', 'exchange_score') }} as exchange_score,
        {{ json_numeric('record', 'traffic_score') }} as traffic_score,
        {{ json_numeric('quote_usd', 'volume_24h') }} as volume_24h_usd,
        {{ json_numeric('quote_usd', 'volume_24h_adjusted') }} as volume_24h_adjusted_usd,
        {{ json_numeric('quote_usd', 'volume_7d') }} as volume_7d_usd,
        {{ json_numeric('quote_usd', 'volume_30d') }} as volume_30d_usd,
        {{ json_numeric('quote_usd', 'percent_change_volume_24h') }} as percent_change_volume_24h,
        {{ json_numeric('quote_usd', 'percent_change_volume_7d') }} as percent_change_volume_7d,
        {{ json_numeric('quote_usd', 'percent_change_volume_30d') }} as percent_change_volume_30d,
        {{ json_numeric('quote_usd', 'effective_liquidity_24h') }} as effective_liquidity_24h,
        {{ json_numeric('quote_usd', 'derivative_volume') }} as derivative_volume_usd,
        {{ json_numeric('quote_usd', 'spot_volume_usd') }} as spot_volume_usd,
        page,
        position_in_page,

        -- timestamps
        {{ json_timestamp('record', 'last_updated') }} as last_updated_at,
        {{ json_timestamp('record', 'date_launched') }} as launched_at,
        interval_start,
        interval_end,
        fetched_at,
        landed_at,
        landed_xid

    from records

),

deduplicated as (

    select distinct on (exchange_id, last_updated_at) *
    from renamed
    order by exchange_id asc, last_updated_at asc, fetched_at desc, landing_id desc, position_in_page desc

)

select * from deduplicated
