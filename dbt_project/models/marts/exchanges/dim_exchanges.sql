-- The exchange dimension: one row per CoinGecko exchange (stg_coingecko__exchanges: its latest fetch),
-- with CMC's exchange id and slug where the names match. Names are compared by key (lower-cased,
-- without spaces and punctuation), and only one to one: a key that two CoinGecko exchanges or two CMC
-- exchanges share matches nothing (no guess). CMC exchange listings land only on the Growth plan and up;
-- without them stg_cmc__exchanges is empty and every CMC column is null.
with

coingecko as (

    select
        exchanges.*,
        regexp_replace(lower(trim(exchanges.exchange_name)), '[[:space:][:punct:]]+', '', 'g') as name_key
    from {{ ref('stg_coingecko__exchanges') }} as exchanges

),

cmc as (

    -- each CMC exchange's latest observation
    select distinct on (observations.exchange_id)
        observations.exchange_id as cmc_exchange_id,
        observations.slug as cmc_slug,
        observations.exchange_name as cmc_exchange_name,
        regexp_replace(lower(trim(observations.exchange_name)), '[[:space:][:punct:]]+', '', 'g') as name_key
    from {{ ref('stg_cmc__exchanges') }} as observations
    order by
        observations.exchange_id asc, observations.last_updated_at desc, observations.fetched_at desc,
        observations.landing_id desc

),

unique_coingecko_keys as (

    select coingecko.name_key
    from coingecko
    group by coingecko.name_key
    having count(*) = 1

),

unique_cmc_keys as (

    select cmc.name_key
    from cmc
    group by cmc.name_key
    having count(*) = 1

),

matched as (

    select
        cmc.cmc_exchange_id,
        cmc.cmc_slug,
        cmc.name_key
    from cmc
    inner join unique_cmc_keys on cmc.name_key = unique_cmc_keys.name_key
    inner join unique_coingecko_keys on cmc.name_key = unique_coingecko_keys.name_key

)

select
    -- ids
    coingecko.exchange_id,
    matched.cmc_exchange_id,
    matched.cmc_slug,

    -- attributes
    coingecko.exchange_name,
    coingecko.country,
    coingecko.year_established::integer as year_established,
    coingecko.url,
    coingecko.image_url,

    -- numbers
    coingecko.trust_score::integer as trust_score,
    coingecko.trust_score_rank::integer as trust_score_rank,
    coingecko.trade_volume_24h_btc,
    coingecko.trade_volume_24h_btc_normalized,

    -- timestamps
    coingecko.fetched_at as last_fetched_at

from coingecko
left join matched on coingecko.name_key = matched.name_key
