-- The current asset dimension: one row per asset (CoinGecko coin id, int_asset_identity) with its CMC
-- id, CoinGecko's names, market cap rank and supplies, categories, platforms, genesis date and homepage,
-- and CMC's category and tags. Read from the latest staging rows:
--   - rank and supplies from the coin's latest observation among the latest /coins/markets snapshot
--     (the landings of its latest interval) and its latest /coins/{id} fetch (the later fetch wins, the
--     markets row on a tie);
--   - categories, genesis date, homepage from its latest /coins/{id} fetch (null for a coin never fetched
--     by id); platforms from its kept /coins/list record (else its latest /coins/{id});
--   - CMC's slug, category and tags from stg_cmc__coin_infos, its rank from stg_cmc__coins.
-- first_seen_at is carried over from the previous build of this table (the earliest of it and what the
-- staging rows show now), so it stays when old landings are no longer read; the history of the
-- dimension is the snapshot snap_assets.
{%- set has_previous = relation_exists(this) %}

with

identity as (

    select * from {{ ref('int_asset_identity') }}

),

latest_markets_interval as (

    -- the interval of the latest fetch (the fetched_at index finds it)
    select markets.interval_end
    from {{ source('coingecko', 'coins_markets') }} as markets
    order by markets.fetched_at desc, markets.landing_id desc
    limit 1

),

markets as (

    select distinct on (observations.coin_id)
        observations.coin_id,
        observations.market_cap_rank,
        observations.circulating_supply,
        observations.total_supply,
        observations.max_supply,
        observations.last_updated_at,
        observations.fetched_at,
        observations.landing_id,
        1 as source_priority
    from {{ ref('stg_coingecko__coins_markets') }} as observations
    where observations.interval_end = (select latest_markets_interval.interval_end from latest_markets_interval)
    order by
        observations.coin_id asc, observations.fetched_at desc, observations.landing_id desc,
        observations.position_in_page desc

),

details_ranked as (

    select
        details.*,
        row_number() over (
            partition by details.coin_id order by details.fetched_at desc, details.landing_id desc
        ) as recency,
        min(details.fetched_at) over (partition by details.coin_id) as first_fetched_at
    from {{ ref('stg_coingecko__coin_details') }} as details

),

details as (

    select * from details_ranked
    where recency = 1

),

market_data as (

    -- the later of the two observations of rank and supplies
    select distinct on (observed.coin_id) observed.*
    from (
        select
            markets.coin_id,
            markets.market_cap_rank,
            markets.circulating_supply,
            markets.total_supply,
            markets.max_supply,
            markets.last_updated_at,
            markets.fetched_at,
            markets.source_priority
        from markets

        union all

        select
            details.coin_id,
            details.market_cap_rank::integer,
            details.circulating_supply,
            details.total_supply,
            details.max_supply,
            coalesce(details.market_data_updated_at, details.last_updated_at) as last_updated_at,
            details.fetched_at,
            2 as source_priority
        from details
    ) as observed
    order by observed.coin_id asc, observed.fetched_at desc, observed.source_priority asc

),

listed as (

    select * from {{ ref('stg_coingecko__coins') }}

),

listed_platforms as (

    select
        platforms.coin_id,
        jsonb_object_agg(platforms.platform, platforms.contract_address order by platforms.platform)
            as platforms
    from {{ ref('stg_coingecko__coin_platforms') }} as platforms
    group by platforms.coin_id

),

cmc_infos as (

    select * from {{ ref('stg_cmc__coin_infos') }}

),

cmc_coins as (

    select * from {{ ref('stg_cmc__coins') }}

),

previous as (

    -- first_seen_at as the last build had it (nothing on the first build)
    {%- if has_previous %}
        select
            built.asset_id,
            built.first_seen_at
        from {{ this }} as built
    {%- else %}
        select
            null::text as asset_id,
            null::timestamptz as first_seen_at
        where false
    {%- endif %}

),

assembled as (

    select
        identity.asset_id,
        identity.name,
        identity.symbol,
        identity.cmc_id,
        identity.match_rule,
        listed.landing_id is not null as is_listed,
        market_data.market_cap_rank,
        details.categories,
        case
            -- a coin in the list: its platforms there ({} for a native coin); else what /coins/{id} says
            when listed.coin_id is not null then coalesce(listed_platforms.platforms, '{}'::jsonb)
            else details.platforms
        end as platforms,
        market_data.circulating_supply,
        market_data.total_supply,
        market_data.max_supply,
        case
            when details.genesis_date_text ~ '^\d{4}-\d{2}-\d{2}$' then details.genesis_date_text::date
        end as genesis_date,
        details.homepage_url,
        details.hashing_algorithm,
        cmc_infos.slug as cmc_slug,
        cmc_infos.category as cmc_category,
        cmc_infos.tags as cmc_tags,
        cmc_coins.cmc_rank,
        market_data.last_updated_at,
        market_data.fetched_at as market_data_fetched_at,
        least(
            listed.fetched_at, markets.fetched_at, details.first_fetched_at, previous.first_seen_at
        ) as first_seen_at,
        greatest(listed.fetched_at, markets.fetched_at, details.fetched_at) as last_seen_at
    from identity
    left join listed on identity.asset_id = listed.coin_id
    left join listed_platforms on identity.asset_id = listed_platforms.coin_id
    left join markets on identity.asset_id = markets.coin_id
    left join details on identity.asset_id = details.coin_id
    left join market_data on identity.asset_id = market_data.coin_id
    left join cmc_infos on identity.cmc_id = cmc_infos.cmc_id
    left join cmc_coins on identity.cmc_id = cmc_coins.cmc_id
    left join previous on identity.asset_id = previous.asset_id

)

select
    -- ids
    asset_id,
    cmc_id,
    match_rule as cmc_match_rule,

    -- attributes
    name,
    symbol,
    is_listed,
    categories,
    platforms,
    genesis_date,
    homepage_url,
    hashing_algorithm,
    cmc_slug,
    cmc_category,
    cmc_tags,

    -- numbers
    market_cap_rank,
    cmc_rank,
    circulating_supply,
    total_supply,
    max_supply,

    -- timestamps
    last_updated_at,
    market_data_fetched_at,
    first_seen_at,
    last_seen_at

from assembled
