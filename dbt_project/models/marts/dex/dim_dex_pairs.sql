-- One row per DEX pair (a pool: its network and contract address) ever observed, as its latest
-- observation describes it: name, DEX, base and quote assets, creation date, and the latest price,
-- liquidity and 24 h volume. Pairs are described by spot-pairs/latest and pairs/quotes/latest (the
-- latest observation of either wins); a pair known only from its candles (pairs/ohlcv/historical,
-- whose spot-pair landings were replaced since) keeps what the candles carry. Rebuilt whole on every
-- run: a dimension is current, not a history.
with

described as (

    select
        quotes.network_id,
        quotes.contract_address,
        quotes.network_slug,
        quotes.pair_name,
        quotes.dex_id,
        quotes.dex_slug,
        quotes.base_asset_id,
        quotes.base_asset_ucid,
        quotes.base_asset_symbol,
        quotes.base_asset_name,
        quotes.base_asset_contract_address,
        quotes.quote_asset_id,
        quotes.quote_asset_ucid,
        quotes.quote_asset_symbol,
        quotes.quote_asset_name,
        quotes.quote_asset_contract_address,
        quotes.price_usd,
        quotes.liquidity_usd,
        quotes.volume_24h_usd,
        quotes.created_at,
        quotes.launched_at,
        quotes.last_updated_at,
        quotes.fetched_at,
        1 as endpoint_preference,
        quotes.landing_id
    from {{ ref('stg_cmc_dex__pair_quotes') }} as quotes

    union all

    select
        spot.network_id,
        spot.contract_address,
        spot.network_slug,
        spot.pair_name,
        spot.dex_id,
        spot.dex_slug,
        spot.base_asset_id,
        spot.base_asset_ucid,
        spot.base_asset_symbol,
        spot.base_asset_name,
        spot.base_asset_contract_address,
        spot.quote_asset_id,
        spot.quote_asset_ucid,
        spot.quote_asset_symbol,
        spot.quote_asset_name,
        spot.quote_asset_contract_address,
        spot.price_usd,
        spot.liquidity_usd,
        spot.volume_24h_usd,
        spot.created_at,
        spot.launched_at,
        spot.last_updated_at,
        spot.fetched_at,
        2 as endpoint_preference,
        spot.landing_id
    from {{ ref('stg_cmc_dex__spot_pairs') }} as spot

),

observed as (

    select
        described.network_id,
        described.contract_address,
        min(described.last_updated_at) as first_observed_at,
        max(described.last_updated_at) as last_observed_at
    from described
    group by described.network_id, described.contract_address

),

latest as (

    select distinct on (described.network_id, described.contract_address) described.*
    from described
    order by
        described.network_id asc, described.contract_address asc, described.last_updated_at desc,
        described.fetched_at desc, described.endpoint_preference asc, described.landing_id desc

),

candles_only as (

    -- pairs whose candles landed but no description (a spot-pair landing replaced since)
    select distinct on (candles.network_id, candles.contract_address)
        candles.network_id,
        candles.contract_address,
        candles.network_slug,
        candles.pair_name,
        candles.dex_id,
        candles.dex_slug,
        candles.base_asset_symbol,
        candles.quote_asset_symbol
    from {{ ref('stg_cmc_dex__pair_ohlcv') }} as candles
    where not exists (
        select 1 from observed
        where
            observed.network_id = candles.network_id
            and observed.contract_address = candles.contract_address
    )
    order by
        candles.network_id asc, candles.contract_address asc, candles.fetched_at desc,
        candles.landing_id desc

)

select
    -- ids
    latest.network_id,
    latest.contract_address,
    latest.network_slug,
    latest.pair_name,
    latest.dex_id,
    latest.dex_slug,
    latest.base_asset_id,
    latest.base_asset_ucid,
    latest.base_asset_symbol,
    latest.base_asset_name,
    latest.base_asset_contract_address,
    latest.quote_asset_id,
    latest.quote_asset_ucid,
    latest.quote_asset_symbol,
    latest.quote_asset_name,
    latest.quote_asset_contract_address,

    -- numbers (USD, at the latest observation)
    latest.price_usd,
    latest.liquidity_usd,
    latest.volume_24h_usd,

    -- timestamps
    latest.created_at,
    latest.launched_at,
    observed.first_observed_at,
    observed.last_observed_at

from latest
inner join observed
    on
        latest.network_id = observed.network_id
        and latest.contract_address = observed.contract_address

union all

select
    -- ids
    network_id,
    contract_address,
    network_slug,
    pair_name,
    dex_id,
    dex_slug,
    null::bigint as base_asset_id,
    null::bigint as base_asset_ucid,
    base_asset_symbol,
    null::text as base_asset_name,
    null::text as base_asset_contract_address,
    null::bigint as quote_asset_id,
    null::bigint as quote_asset_ucid,
    quote_asset_symbol,
    null::text as quote_asset_name,
    null::text as quote_asset_contract_address,

    -- numbers
    null::numeric as price_usd,
    null::numeric as liquidity_usd,
    null::numeric as volume_24h_usd,

    -- timestamps
    null::timestamptz as created_at,
    null::timestamptz as launched_at,
    null::timestamptz as first_observed_at,
    null::timestamptz as last_observed_at

from candles_only
