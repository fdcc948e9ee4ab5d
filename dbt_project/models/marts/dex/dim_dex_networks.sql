-- One row per DEX network (chain) CMC DEX lists (/v4/dex/networks/list), as its latest fetch describes
-- it. Rebuilt whole on every run: the list is small and a dimension is current, not a history.
with

networks as (

    select * from {{ ref('stg_cmc_dex__networks') }}

)

select
    -- ids
    network_id,
    network_slug,
    network_name,
    native_cmc_id,
    native_slug,
    native_symbol,
    wrapped_token_cmc_id,
    wrapped_token_slug,

    -- explorers
    token_explorer_url,
    pool_explorer_url,
    transaction_explorer_url,

    -- timestamps
    fetched_at as listed_at

from networks
