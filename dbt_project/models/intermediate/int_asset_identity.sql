{{ config(materialized='table') }}

-- One asset identity across CoinGecko and CMC: one row per CoinGecko coin id of the universe (the coins
-- list and the coins fetched by id), with the CMC id it was matched to and the rule that matched it
-- (int_asset_identity_candidates: contract address on the same chain first, then symbol and name; a coin
-- whose match is ambiguous, or that matches nothing, has a null cmc_id and match_rule).
select
    -- ids
    candidates.asset_id,
    (max(candidates.cmc_id) filter (where candidates.status = 'matched'))::bigint as cmc_id,
    max(candidates.match_rule) filter (where candidates.status = 'matched') as match_rule,

    -- attributes
    max(candidates.symbol) as symbol,
    max(candidates.name) as name

from {{ ref('int_asset_identity_candidates') }} as candidates
group by candidates.asset_id
