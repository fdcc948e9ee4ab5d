-- Observations: one row per day of CMC's fear-and-greed history (its `timestamp`, 00:00 UTC), from every
-- landed /v3/fear-and-greed/historical page. A run for [a, b) asks for an offset range that covers its
-- interval with slack, so a body also holds days outside it: a day is kept only from a landing whose
-- data interval holds it (interval_start <= day < interval_end), and a day that two landings hold (the
-- same interval landed again under another run's offsets, or overlapping intervals) is kept from the
-- latest fetch.
with

source as (

    select * from {{ source_or_empty('cmc', 'fear_and_greed_historical') }}

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
        -- UNIX seconds, sent as a string or a number
        to_timestamp((record.value ->> 'timestamp')::bigint) as observed_at
    from source
    cross join lateral jsonb_array_elements(source.body_json -> 'data') with ordinality as record (value, ordinality)

),

in_interval as (

    select records.*
    from records
    where
        records.observed_at >= records.interval_start
        and records.observed_at < records.interval_end

),

renamed as (

    select
        -- ids
        landing_id,
        run_id,

        -- numbers
        {{ json_numeric('record', 'value') }} as fear_and_greed_value,
        {{ json_text('record', 'value_classification') }} as value_classification,
        page,
        position_in_page,

        -- timestamps
        observed_at,
        interval_start,
        interval_end,
        fetched_at,
        landed_at,
        landed_xid

    from in_interval

),

deduplicated as (

    select distinct on (observed_at) *
    from renamed
    order by observed_at asc, fetched_at desc, landing_id desc, position_in_page desc

)

select * from deduplicated
