-- A pair's dimension row describes the pair's latest quote: its price, liquidity and 24 h volume are those
-- of the fact's row at the pair's last observation (both keep, among equal observations, the latest fetch).
select
    pairs.network_id,
    pairs.contract_address,
    pairs.last_observed_at,
    pairs.liquidity_usd,
    quotes.liquidity_usd as quoted_liquidity_usd
from {{ ref('dim_dex_pairs') }} as pairs
left join {{ ref('fct_dex_pair_quotes') }} as quotes
    on
        pairs.network_id = quotes.network_id
        and pairs.contract_address = quotes.contract_address
        and pairs.last_observed_at = quotes.observed_at
where
    pairs.last_observed_at >= {{ var('test_since') }}
    and (
        quotes.observed_at is null
        or pairs.price_usd is distinct from quotes.price_usd
        or pairs.liquidity_usd is distinct from quotes.liquidity_usd
        or pairs.volume_24h_usd is distinct from quotes.volume_24h_usd
    )
