-- Observations: one row per coin per CMC `last_updated`, from every landed
-- /v1/cryptocurrency/listings/latest page, with the USD quote (the pipeline's `convert`). An observation
-- landed more than once (a re-run of an interval, a re-fetch inside CMC's cache, a coin seen on two pages
-- of one walk) is kept once: from the latest fetch.
with

source as (

    select * from {{ source_or_empty('cmc', 'cryptocurrency_listings_latest') }}

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
        record.value -> 'platform' as platform,
        record.value -> 'quote' -> 'USD' as quote_usd,
        nullif(trim(record.value -> 'platform' ->> 'token_address'), '') as sent_token_address
    from source
    cross join lateral jsonb_array_elements(source.body_json -> 'data') with ordinality as record (value, ordinality)

),

renamed as (

    select
        -- ids
        ({{ json_text('record', 'id') }})::bigint as cmc_id,
        {{ json_text('record', 'symbol') }} as symbol,
        {{ json_text('record', 'name') }} as coin_name,
        {{ json_text('record', 'slug') }} as slug,
        ({{ json_text('platform', 'id') }})::bigint as platform_cmc_id,
        {{ json_text('platform', 'slug') }} as platform_slug,
        case
            when sent_token_address ~ '^0[xX][0-9a-fA-F]+$' then lower(sent_token_address)
            else sent_token_address
        end as token_address,
        landing_id,
        run_id,

        -- numbers
        ({{ json_text('record', 'cmc_rank') }})::bigint as cmc_rank,
        ({{ json_text('record', 'num_market_pairs') }})::bigint as num_market_pairs,
        {{ json_numeric('record', 'circulating_supply') }} as circulating_supply,
        {{ json_numeric('record', 'total_supply') }} as total_supply,
        {{ json_numeric('record', 'max_supply') }} as max_supply,
        {{ json_numeric('quote_usd', 'price') }} as price_usd,
        {{ json_numeric('quote_usd', 'volume_24h') }} as volume_24h_usd,
        {{ json_numeric('quote_usd', 'volume_change_24h') }} as volume_change_24h_pct,
        {{ json_numeric('quote_usd', 'market_cap') }} as market_cap_usd,
        {{ json_numeric('quote_usd', 'market_cap_dominance') }} as market_cap_dominance_pct,
        {{ json_numeric('quote_usd', 'fully_diluted_market_cap') }} as fully_diluted_market_cap_usd,
        {{ json_numeric('quote_usd', 'percent_change_1h') }} as percent_change_1h,
        {{ json_numeric('quote_usd', 'percent_change_24h') }} as percent_change_24h,
        {{ json_numeric('quote_usd', 'percent_change_7d') }} as percent_change_7d,
        {{ json_numeric('quote_usd', 'percent_change_30d') }} as percent_change_30d,
        {{ json_numeric('quote_usd', 'percent_change_60d') }} as percent_change_60d,
        {{ json_numeric('quote_usd', 'percent_change_90d') }} as percent_change_90d,
        page,
        position_in_page,

        -- timestamps
        {{ json_timestamp('record', 'last_updated') }} as last_updated_at,
        {{ json_timestamp('record', 'date_added') }} as added_at,
        {{ json_timestamp('quote_usd', 'last_updated') }} as quote_last_updated_at,
        interval_start,
        interval_end,
        fetched_at,
        landed_at,
        landed_xid

    from records

),

deduplicated as (

    select distinct on (cmc_id, last_updated_at) *
    from renamed
    order by cmc_id asc, last_updated_at asc, fetched_at desc, landing_id desc, position_in_page desc

)

select * from deduplicated
