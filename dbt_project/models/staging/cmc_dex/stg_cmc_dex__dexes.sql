-- Dimension: one row per DEX (a `dex_id` on its network), from the latest spot-pair observation that
-- names it. There is no DEX endpoint: the DEXes are those the landed spot pairs trade on.
with

spot_pairs as (

    select * from {{ ref('stg_cmc_dex__spot_pairs') }}

),

latest as (

    select distinct on (network_id, dex_id)
        -- ids
        dex_id,
        dex_slug,
        network_id,
        network_slug,
        landing_id,

        -- timestamps
        interval_start,
        interval_end,
        fetched_at,
        landed_at,
        landed_xid
    from spot_pairs
    order by network_id asc, dex_id asc, fetched_at desc, landing_id desc

)

select * from latest
