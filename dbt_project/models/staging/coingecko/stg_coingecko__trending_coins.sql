-- One row per coin per landed /search/trending snapshot (`coins[].item`): the trending list as CoinGecko
-- showed it at each fetch. Observation-level (every landing kept: which coins trended when); the NFTs and
-- categories of the same body are not staged here.
with

source as (

    select * from {{ source('coingecko', 'search_trending') }}

),

records as (

    select
        source.landing_id,
        source.run_id,
        source.interval_start,
        source.interval_end,
        source.fetched_at,
        source.landed_at,
        source.landed_xid,
        coin.ordinality as position_in_list,
        coin.value -> 'item' as record
    from source
    cross join lateral jsonb_array_elements(source.body_json -> 'coins') with ordinality as coin (value, ordinality)

),

renamed as (

    select
        -- ids
        lower(trim({{ json_text('record', 'id') }})) as coin_id,
        ({{ json_text('record', 'coin_id') }})::bigint as coin_numeric_id,
        lower(trim({{ json_text('record', 'symbol') }})) as symbol,
        trim({{ json_text('record', 'name') }}) as coin_name,
        landing_id,
        run_id,

        -- numbers
        ({{ json_text('record', 'score') }})::bigint as score,
        position_in_list,
        ({{ json_text('record', 'market_cap_rank') }})::bigint as market_cap_rank,
        {{ json_numeric('record', 'price_btc') }} as price_btc,
        {{ json_numeric("record -> 'data'", 'price') }} as price_usd,
        {{ json_numeric("record -> 'data' -> 'price_change_percentage_24h'", 'usd') }}
            as price_change_percentage_24h_usd,

        -- timestamps
        interval_start,
        interval_end,
        fetched_at,
        landed_at,
        landed_xid

    from records

)

select * from renamed
