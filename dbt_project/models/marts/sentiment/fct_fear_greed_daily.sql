-- One row per UTC day of CMC's fear-and-greed index, from two sources read as one series of readings:
-- the live readings (/v3/fear-and-greed/latest, every `update_time` landed hourly) and the daily history
-- (/v3/fear-and-greed/historical, one value per day stamped 00:00 UTC, stg_cmc__fear_and_greed_history).
-- The day's value is its latest reading by its own time, so a day with both is resolved by time: the
-- history value, stamped at the day's first instant, is the day's value only when no live reading of the
-- day landed (a backfilled day); any live reading of the day is later and supersedes it (a tie on the time
-- goes to the latest fetch, then to the live reading). `value_source` says which won, and the history
-- value stays beside it (`history_fear_greed_value`). The row also counts the day's readings (both
-- kinds) and their range.
--
-- Incremental (the commit-ordered watermark of macro commit_watermark): a run recomputes only the days
-- touched since the snapshot the last build read, reading staging only from the earliest such day on:
-- - the days of readings committed since then (either kind);
-- - the days whose readings came from an interval that has just been landed again: a re-landing
--   replaces its interval's raw rows, so a reading counted before may be gone (each row keeps the span
--   of the landing intervals it was computed from to find them; a day with a history value spans the
--   history landing's interval, so a live re-landing inside it recomputes the day too: extra work, the
--   same result).
-- A touched day left without any reading comes out as a row holding only its date, so that
-- delete+insert empties the day; the post-hook deletes those rows in the same transaction. The table
-- equals a full rebuild. (Both staging views deduplicate with DISTINCT ON their reading time, through
-- which Postgres pushes neither the landed_xid filter nor a fetched_at one: they are computed whole each
-- run. Their raw tables hold one small body an hour, and one a day of history.)
{{
    config(
        materialized='incremental',
        unique_key=['fear_greed_date'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
        indexes=[
            {'columns': ['fear_greed_date'], 'unique': true},
            {'columns': ['built_xmin']},
            {'columns': ['landed_interval_end']},
        ],
        post_hook=["{{ delete_emptied_rows() }}"],
    )
}}

with

{% if is_incremental() %}
landed as (

    -- readings committed since the last build's snapshot
    select
        staged.updated_at,
        staged.interval_start,
        staged.interval_end
    from {{ ref('stg_cmc__fear_and_greed') }} as staged
    where {{ landed_since_watermark('staged.landed_xid') }}

    union all

    select
        history.observed_at as updated_at,
        history.interval_start,
        history.interval_end
    from {{ ref('stg_cmc__fear_and_greed_history') }} as history
    where {{ landed_since_watermark('history.landed_xid') }}

),

{{ touched_keys(['fear_greed_date'], landed_keys={'fear_greed_date': "(landed.updated_at at time zone 'UTC')::date"}) }},
{% endif %}

readings as (

    select
        'live'::text as value_source,
        1 as source_order,
        readings.fear_and_greed_value,
        readings.value_classification,
        readings.updated_at,
        readings.fetched_at,
        readings.landing_id,
        readings.landed_at,
        readings.interval_start,
        readings.interval_end,
        (readings.updated_at at time zone 'UTC')::date as fear_greed_date
    from {{ ref('stg_cmc__fear_and_greed') }} as readings
    {% if is_incremental() %}
        where
            readings.updated_at
            >= (select min(touched.fear_greed_date) from touched)::timestamp at time zone 'UTC'
    {% endif %}

    union all

    select
        'history'::text as value_source,
        2 as source_order,
        history.fear_and_greed_value,
        history.value_classification,
        history.observed_at as updated_at,
        history.fetched_at,
        history.landing_id,
        history.landed_at,
        history.interval_start,
        history.interval_end,
        (history.observed_at at time zone 'UTC')::date as fear_greed_date
    from {{ ref('stg_cmc__fear_and_greed_history') }} as history
    {% if is_incremental() %}
        where
            history.observed_at
            >= (select min(touched.fear_greed_date) from touched)::timestamp at time zone 'UTC'
    {% endif %}

),

ranked as (

    select
        readings.*,
        row_number() over (
            partition by readings.fear_greed_date
            order by
                readings.updated_at desc, readings.fetched_at desc, readings.landing_id desc,
                readings.source_order asc
        ) as recency,
        count(*) over whole_day as observations,
        min(readings.fear_and_greed_value) over whole_day as min_value,
        max(readings.fear_and_greed_value) over whole_day as max_value,
        max(readings.fear_and_greed_value) filter (where readings.value_source = 'history') over whole_day
            as history_value,
        min(readings.interval_start) over whole_day as first_interval_start,
        max(readings.interval_end) over whole_day as last_interval_end
    from readings
    window whole_day as (partition by readings.fear_greed_date)

),

daily as (

    select * from ranked
    where recency = 1

),

keys as (

    -- the rows to write (see macro keys_to_write)
    {{ keys_to_write(['fear_greed_date'], full_from='daily') }}

)

select
    -- ids
    keys.fear_greed_date,
    daily.landing_id,

    -- numbers
    daily.fear_and_greed_value as fear_greed_value,
    daily.value_classification,
    daily.observations,
    daily.min_value as min_fear_greed_value,
    daily.max_value as max_fear_greed_value,
    daily.history_value as history_fear_greed_value,
    daily.value_source,

    -- timestamps
    daily.updated_at as observed_at,
    daily.landed_at,
    daily.first_interval_start as landed_interval_start,
    daily.last_interval_end as landed_interval_end,
    {{ commit_watermark() }} as built_xmin

from keys
left join daily
    on keys.fear_greed_date = daily.fear_greed_date
