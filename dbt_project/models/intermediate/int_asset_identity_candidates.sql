{{ config(materialized='table') }}

-- Every CMC id a CoinGecko coin could be, at the coin's best matching rule, with the verdict on each.
-- One row per (asset_id, cmc_id) candidate, plus one row (cmc_id null, status 'unmatched') for a coin of
-- the universe without any candidate. The universe: every coin of stg_coingecko__coins (the coins list)
-- and of stg_coingecko__coin_details (a coin fetched by id but missing from the list).
--
-- Rules, best first:
--   1. 'contract': the coin and the CMC id list the same contract address on the same chain (platforms
--      mapped by int_platform_map; CMC addresses from info's contract_address[] and the map's and info's
--      platform.token_address). A coin with a contract candidate is judged on this rule only.
--   2. 'symbol_name': for a coin without contract candidates, CMC ids with the same symbol (lower-cased,
--      trimmed) and the same name key (lower-cased, a trailing generic word - token, protocol, coin,
--      network - dropped, without spaces and punctuation: CMC often drops the word CoinGecko keeps, "Xoze"
--      for "Xoze Token"). A CMC id that is a
--      contract candidate of any coin is not offered again here (status 'taken': contract beats symbol).
-- At its rule, a coin is matched when it has exactly one candidate and that CMC id is claimed by no other
-- coin at the same rule; otherwise every candidate of the coin is 'ambiguous' and the coin gets no CMC id
-- (int_asset_identity_ambiguous lists them): nothing is guessed.
with

coingecko_listed as (

    select
        coins.coin_id as asset_id,
        coins.symbol,
        coins.coin_name
    from {{ ref('stg_coingecko__coins') }} as coins

),

coingecko_detailed as (

    select distinct on (details.coin_id)
        details.coin_id as asset_id,
        details.symbol,
        details.coin_name
    from {{ ref('stg_coingecko__coin_details') }} as details
    where details.coin_id is not null
    order by details.coin_id asc, details.fetched_at desc, details.landing_id desc

),

universe as (

    select * from coingecko_listed

    union all

    select coingecko_detailed.*
    from coingecko_detailed
    where not exists (
        select 1
        from coingecko_listed
        where coingecko_listed.asset_id = coingecko_detailed.asset_id
    )

),

cmc_addresses as (

    select
        contracts.cmc_id,
        contracts.platform_cmc_id,
        contracts.contract_address
    from {{ ref('stg_cmc__coin_contracts') }} as contracts
    where contracts.contract_address is not null

    union

    select
        coins.cmc_id,
        coins.platform_cmc_id,
        coins.token_address
    from {{ ref('stg_cmc__coins') }} as coins
    where coins.token_address is not null

    union

    select
        infos.cmc_id,
        infos.platform_cmc_id,
        infos.token_address
    from {{ ref('stg_cmc__coin_infos') }} as infos
    where infos.token_address is not null

),

cmc_coins as (

    -- the map's symbol and name, else info's (a coin described but not mapped yet)
    select
        coalesce(coins.cmc_id, infos.cmc_id) as cmc_id,
        coalesce(coins.symbol, infos.symbol) as symbol,
        coalesce(coins.coin_name, infos.coin_name) as coin_name
    from {{ ref('stg_cmc__coins') }} as coins
    full outer join {{ ref('stg_cmc__coin_infos') }} as infos on coins.cmc_id = infos.cmc_id

),

contract_candidates as (

    select distinct
        platforms.coin_id as asset_id,
        cmc_addresses.cmc_id
    from {{ ref('stg_coingecko__coin_platforms') }} as platforms
    inner join {{ ref('int_platform_map') }} as platform_map
        on platforms.platform = platform_map.coingecko_platform
    inner join cmc_addresses
        on
            platform_map.cmc_platform_id = cmc_addresses.platform_cmc_id
            and platforms.contract_address = cmc_addresses.contract_address
    where
        platforms.contract_address is not null
        and exists (
            select 1
            from universe
            where universe.asset_id = platforms.coin_id
        )

),

contract_judged as (

    select
        contract_candidates.asset_id,
        contract_candidates.cmc_id,
        'contract' as match_rule,
        count(*) over (partition by contract_candidates.asset_id) as candidate_count,
        count(*) over (partition by contract_candidates.cmc_id) as claimant_count,
        false as is_taken
    from contract_candidates

),

normalised_universe as (

    select
        universe.asset_id,
        lower(trim(universe.symbol)) as symbol_key,
        regexp_replace(
            regexp_replace(
                lower(trim(universe.coin_name)), '[[:space:][:punct:]]+(token|protocol|coin|network)$', ''
            ),
            '[[:space:][:punct:]]+', '', 'g'
        ) as name_key
    from universe

),

normalised_cmc_coins as (

    select
        cmc_coins.cmc_id,
        lower(trim(cmc_coins.symbol)) as symbol_key,
        regexp_replace(
            regexp_replace(
                lower(trim(cmc_coins.coin_name)), '[[:space:][:punct:]]+(token|protocol|coin|network)$', ''
            ),
            '[[:space:][:punct:]]+', '', 'g'
        ) as name_key
    from cmc_coins

),

symbol_name_candidates as (

    select
        universe.asset_id,
        cmc_coins.cmc_id,
        exists(
            select 1
            from contract_candidates
            where contract_candidates.cmc_id = cmc_coins.cmc_id
        ) as is_taken
    from normalised_universe as universe
    inner join normalised_cmc_coins as cmc_coins
        on
            universe.symbol_key = cmc_coins.symbol_key
            and universe.name_key = cmc_coins.name_key
    where not exists (
        select 1
        from contract_candidates
        where contract_candidates.asset_id = universe.asset_id
    )

),

symbol_name_judged as (

    select
        symbol_name_candidates.asset_id,
        symbol_name_candidates.cmc_id,
        'symbol_name' as match_rule,
        count(*) filter (where not symbol_name_candidates.is_taken)
            over (partition by symbol_name_candidates.asset_id) as candidate_count,
        count(*) filter (where not symbol_name_candidates.is_taken)
            over (partition by symbol_name_candidates.cmc_id) as claimant_count,
        symbol_name_candidates.is_taken
    from symbol_name_candidates

),

judged as (

    select * from contract_judged
    union all
    select * from symbol_name_judged

),

verdicts as (

    select
        judged.*,
        case
            when judged.is_taken then 'taken'
            when judged.candidate_count = 1 and judged.claimant_count = 1 then 'matched'
            else 'ambiguous'
        end as status,
        case
            when judged.is_taken then 'cmc_id_is_a_contract_candidate_of_another_asset'
            when judged.candidate_count > 1 and judged.claimant_count > 1
                then 'several_cmc_candidates_and_cmc_id_claimed_by_several_assets'
            when judged.candidate_count > 1 then 'several_cmc_candidates'
            when judged.claimant_count > 1 then 'cmc_id_claimed_by_several_assets'
        end as reason
    from judged

)

select
    -- ids
    universe.asset_id,
    verdicts.cmc_id,
    universe.symbol,
    universe.coin_name as name,
    verdicts.match_rule,

    -- verdict
    coalesce(verdicts.status, 'unmatched') as status,
    verdicts.reason,
    verdicts.candidate_count,
    verdicts.claimant_count

from universe
left join verdicts on universe.asset_id = verdicts.asset_id
