{{ config(materialized='table') }}

-- The CoinGecko coins left without a CMC id although they had candidates: one row per (asset_id,
-- candidate cmc_id), with the rule the candidates were found by and why none was chosen (several CMC
-- candidates for the coin, a CMC id claimed by several coins at the same rule, or a symbol-and-name
-- candidate already a contract candidate of another coin). For review: a coin here is not guessed.
select
    -- ids
    candidates.asset_id,
    candidates.cmc_id as candidate_cmc_id,
    candidates.symbol,
    candidates.name,
    candidates.match_rule,

    -- verdict
    candidates.status,
    candidates.reason,
    candidates.candidate_count,
    candidates.claimant_count

from {{ ref('int_asset_identity_candidates') }} as candidates
where
    candidates.cmc_id is not null
    and not exists (
        select 1
        from {{ ref('int_asset_identity_candidates') }} as matched
        where matched.asset_id = candidates.asset_id and matched.status = 'matched'
    )
