-- One row per DEX on its network (CMC DEX ids a DEX per network; it has no DEX endpoint): the DEXes the
-- landed pairs trade on, with the slug of the latest spot-pair observation naming it (stg_cmc_dex__dexes;
-- for a DEX only quotes or candles name, its most recently observed pair's), how many pairs
-- (dim_dex_pairs) are known on it and when the first and last of them were observed.
with

pairs as (

    select * from {{ ref('dim_dex_pairs') }}
    where dex_id is not null

),

named as (

    select * from {{ ref('stg_cmc_dex__dexes') }}

),

latest_pair as (

    select distinct on (pairs.network_id, pairs.dex_id)
        pairs.network_id,
        pairs.dex_id,
        pairs.network_slug,
        pairs.dex_slug
    from pairs
    order by
        pairs.network_id asc, pairs.dex_id asc, pairs.last_observed_at desc nulls last,
        pairs.contract_address asc

),

counted as (

    select
        pairs.network_id,
        pairs.dex_id,
        count(*) as pairs,
        min(pairs.first_observed_at) as first_observed_at,
        max(pairs.last_observed_at) as last_observed_at
    from pairs
    group by pairs.network_id, pairs.dex_id

)

select
    -- ids
    counted.network_id,
    counted.dex_id,
    coalesce(named.network_slug, latest_pair.network_slug) as network_slug,
    coalesce(named.dex_slug, latest_pair.dex_slug) as dex_slug,

    -- numbers
    counted.pairs,

    -- timestamps
    counted.first_observed_at,
    counted.last_observed_at

from counted
inner join latest_pair
    on
        counted.network_id = latest_pair.network_id
        and counted.dex_id = latest_pair.dex_id
left join named
    on
        counted.network_id = named.network_id
        and counted.dex_id = named.dex_id
