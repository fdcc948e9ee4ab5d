-- One row per coin CoinGecko lists (`/coins/list`): the latest fetch of each coin id, by fetched_at then
-- landing_id, so a coin gone from the newest list (delisted) keeps its last-seen row. Dimension; the
-- coin's contract addresses are in stg_coingecko__coin_platforms.
with

source as (

    select * from {{ source('coingecko', 'coins_list') }}

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
        record.value as record
    from source
    cross join lateral jsonb_array_elements(source.body_json) as record (value)

),

renamed as (

    select
        -- ids
        lower(trim({{ json_text('record', 'id') }})) as coin_id,
        lower(trim({{ json_text('record', 'symbol') }})) as symbol,
        trim({{ json_text('record', 'name') }}) as coin_name,
        landing_id,
        run_id,

        -- timestamps
        interval_start,
        interval_end,
        fetched_at,
        landed_at,
        landed_xid

    from records

),

latest as (

    select distinct on (coin_id) *
    from renamed
    order by coin_id asc, fetched_at desc, landing_id desc

)

select * from latest
