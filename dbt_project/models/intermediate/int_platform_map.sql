{{ config(materialized='table') }}

-- One row per CoinGecko asset platform (chain) that the data maps to a CMC platform: the pairs of
-- platforms whose tokens share contract addresses. CoinGecko names platforms by slug
-- (`binance-smart-chain`), CMC by the CMC id of the chain's coin (1839, "BNB Smart Chain (BEP20)"), so the
-- mapping is read from the data, not a seed: for every (CoinGecko platform, CMC platform) pair, count the
-- distinct addresses both sides list for some token; a pair is kept when each side is the other's strict
-- best (most shared addresses, no tie), so an address reused on several EVM chains does not pull a
-- platform onto the wrong chain. A platform without shared addresses (no token of it on both sides yet)
-- is simply not mapped, and its tokens can only match by symbol and name.
with

coingecko_addresses as (

    select distinct
        platforms.platform as coingecko_platform,
        platforms.contract_address
    from {{ ref('stg_coingecko__coin_platforms') }} as platforms
    where platforms.contract_address is not null

),

cmc_addresses as (

    -- a token's address on every chain it lives on (info), and on its main chain (map)
    select
        contracts.platform_cmc_id,
        contracts.platform_name,
        contracts.platform_slug,
        contracts.contract_address
    from {{ ref('stg_cmc__coin_contracts') }} as contracts
    where contracts.platform_cmc_id is not null and contracts.contract_address is not null

    union

    select
        coins.platform_cmc_id,
        coins.platform_name,
        coins.platform_slug,
        coins.token_address as contract_address
    from {{ ref('stg_cmc__coins') }} as coins
    where coins.platform_cmc_id is not null and coins.token_address is not null

),

cmc_platforms as (

    -- a platform's name and slug as most of its rows spell them
    select distinct on (cmc_addresses.platform_cmc_id)
        cmc_addresses.platform_cmc_id,
        cmc_addresses.platform_name,
        cmc_addresses.platform_slug
    from cmc_addresses
    group by cmc_addresses.platform_cmc_id, cmc_addresses.platform_name, cmc_addresses.platform_slug
    order by
        cmc_addresses.platform_cmc_id asc, count(*) desc,
        cmc_addresses.platform_name asc, cmc_addresses.platform_slug asc

),

shared as (

    select
        coingecko_addresses.coingecko_platform,
        cmc_addresses.platform_cmc_id,
        count(distinct coingecko_addresses.contract_address) as shared_addresses
    from coingecko_addresses
    inner join cmc_addresses
        on coingecko_addresses.contract_address = cmc_addresses.contract_address
    group by coingecko_addresses.coingecko_platform, cmc_addresses.platform_cmc_id

),

ranked as (

    select
        shared.*,
        rank() over (
            partition by shared.coingecko_platform order by shared.shared_addresses desc
        ) as rank_for_coingecko,
        count(*) over (
            partition by shared.coingecko_platform, shared.shared_addresses
        ) as ties_for_coingecko,
        rank() over (
            partition by shared.platform_cmc_id order by shared.shared_addresses desc
        ) as rank_for_cmc,
        count(*) over (
            partition by shared.platform_cmc_id, shared.shared_addresses
        ) as ties_for_cmc
    from shared

)

select
    -- ids
    ranked.coingecko_platform,
    ranked.platform_cmc_id as cmc_platform_id,
    cmc_platforms.platform_name as cmc_platform_name,
    cmc_platforms.platform_slug as cmc_platform_slug,

    -- numbers
    ranked.shared_addresses

from ranked
left join cmc_platforms on ranked.platform_cmc_id = cmc_platforms.platform_cmc_id
where
    ranked.rank_for_coingecko = 1 and ranked.ties_for_coingecko = 1
    and ranked.rank_for_cmc = 1 and ranked.ties_for_cmc = 1
