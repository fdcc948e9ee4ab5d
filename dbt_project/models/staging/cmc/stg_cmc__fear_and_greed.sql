-- Observations: one row per value of CMC's fear-and-greed index (its `update_time`), from every landed
-- /v3/fear-and-greed/latest body. CMC refreshes the index every 15 minutes and the dataset fetches it
-- hourly, so each row is a distinct reading; a reading landed more than once is kept from the latest fetch.
with

source as (

    select * from {{ source_or_empty('cmc', 'fear_and_greed_latest') }}

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
        source.body_json -> 'data' as record
    from source

),

renamed as (

    select
        -- ids
        landing_id,
        run_id,

        -- numbers
        {{ json_numeric('record', 'value') }} as fear_and_greed_value,
        {{ json_text('record', 'value_classification') }} as value_classification,

        -- timestamps
        {{ json_timestamp('record', 'update_time') }} as updated_at,
        interval_start,
        interval_end,
        fetched_at,
        landed_at,
        landed_xid

    from records

),

deduplicated as (

    select distinct on (updated_at) *
    from renamed
    order by updated_at asc, fetched_at desc, landing_id desc

)

select * from deduplicated
