-- One row per coin per landed `/coins/{id}` response: the coin's metadata and its USD market data, typed.
-- Observation-level: every fetch is kept, one row per (coin_id, landing_id), so marts can follow a coin
-- from day to day (community votes per asset and day) or pick its latest fetch themselves.
with

source as (

    select * from {{ source('coingecko', 'coin') }}

),

records as (

    select
        source.landing_id,
        source.run_id,
        source.endpoint,
        source.interval_start,
        source.interval_end,
        source.fetched_at,
        source.landed_at,
        source.landed_xid,
        source.body_json as record,
        source.body_json -> 'market_data' as market_data
    from source

),

renamed as (

    select
        -- ids
        lower(trim({{ json_text('record', 'id') }})) as coin_id,
        lower(trim({{ json_text('record', 'symbol') }})) as symbol,
        trim({{ json_text('record', 'name') }}) as coin_name,
        nullif(trim({{ json_text('record', 'asset_platform_id') }}), '') as asset_platform_id,
        landing_id,
        run_id,
        endpoint,

        -- attributes (read as sent: the validation rule does not type them, so nothing is cast)
        case
            when jsonb_typeof(record -> 'categories') = 'array'
                then array(select jsonb_array_elements_text(record -> 'categories'))
        end as categories,
        nullif(trim({{ json_text('record', 'hashing_algorithm') }}), '') as hashing_algorithm,
        nullif(trim(record #>> '{links,homepage,0}'), '') as homepage_url,
        nullif(trim({{ json_text('record', 'genesis_date') }}), '') as genesis_date_text,
        -- platform -> contract address, without the {"": ""} that stands for "no platform"
        case when jsonb_typeof(record -> 'platforms') = 'object' then (record -> 'platforms') - '' end
            as platforms,
        case
            when jsonb_typeof(record -> 'detail_platforms') = 'object'
                then (record -> 'detail_platforms') - ''
        end as detail_platforms,

        -- numbers: market data in USD
        ({{ json_text('record', 'market_cap_rank') }})::bigint as market_cap_rank,
        {{ json_numeric("market_data -> 'current_price'", 'usd') }} as price_usd,
        {{ json_numeric("market_data -> 'market_cap'", 'usd') }} as market_cap_usd,
        {{ json_numeric("market_data -> 'total_volume'", 'usd') }} as volume_24h_usd,
        {{ json_numeric("market_data -> 'fully_diluted_valuation'", 'usd') }} as fully_diluted_valuation_usd,
        {{ json_numeric("market_data -> 'high_24h'", 'usd') }} as high_24h_usd,
        {{ json_numeric("market_data -> 'low_24h'", 'usd') }} as low_24h_usd,
        {{ json_numeric('market_data', 'price_change_24h') }} as price_change_24h_usd,
        {{ json_numeric('market_data', 'price_change_percentage_24h') }} as price_change_percentage_24h,
        {{ json_numeric('market_data', 'price_change_percentage_7d') }} as price_change_percentage_7d,
        {{ json_numeric('market_data', 'price_change_percentage_14d') }} as price_change_percentage_14d,
        {{ json_numeric('market_data', 'price_change_percentage_30d') }} as price_change_percentage_30d,
        {{ json_numeric('market_data', 'price_change_percentage_60d') }} as price_change_percentage_60d,
        {{ json_numeric('market_data', 'price_change_percentage_200d') }} as price_change_percentage_200d,
        {{ json_numeric('market_data', 'price_change_percentage_1y') }} as price_change_percentage_1y,
        {{ json_numeric('market_data', 'market_cap_change_24h') }} as market_cap_change_24h_usd,
        {{ json_numeric('market_data', 'market_cap_change_percentage_24h') }}
            as market_cap_change_percentage_24h,
        {{ json_numeric("market_data -> 'ath'", 'usd') }} as ath_usd,
        {{ json_numeric("market_data -> 'ath_change_percentage'", 'usd') }} as ath_change_percentage,
        {{ json_numeric("market_data -> 'atl'", 'usd') }} as atl_usd,
        {{ json_numeric("market_data -> 'atl_change_percentage'", 'usd') }} as atl_change_percentage,
        {{ json_numeric('market_data', 'market_cap_fdv_ratio') }} as market_cap_fdv_ratio,
        {{ json_numeric('market_data', 'mcap_to_tvl_ratio') }} as market_cap_to_tvl_ratio,
        {{ json_numeric('market_data', 'fdv_to_tvl_ratio') }} as fdv_to_tvl_ratio,

        -- numbers: supplies
        {{ json_numeric('market_data', 'circulating_supply') }} as circulating_supply,
        {{ json_numeric('market_data', 'total_supply') }} as total_supply,
        {{ json_numeric('market_data', 'max_supply') }} as max_supply,

        -- numbers: community
        {{ json_numeric('record', 'sentiment_votes_up_percentage') }} as sentiment_votes_up_percentage,
        {{ json_numeric('record', 'sentiment_votes_down_percentage') }} as sentiment_votes_down_percentage,
        ({{ json_text('record', 'watchlist_portfolio_users') }})::bigint as watchlist_portfolio_users,

        -- timestamps
        {{ json_timestamp("market_data -> 'ath_date'", 'usd') }} as ath_at,
        {{ json_timestamp("market_data -> 'atl_date'", 'usd') }} as atl_at,
        {{ json_timestamp('market_data', 'last_updated') }} as market_data_updated_at,
        {{ json_timestamp('record', 'last_updated') }} as last_updated_at,
        (fetched_at at time zone 'UTC')::date as fetched_date,
        interval_start,
        interval_end,
        fetched_at,
        landed_at,
        landed_xid

    from records

)

select * from renamed
