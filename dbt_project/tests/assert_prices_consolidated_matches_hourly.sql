-- Reconciliation of fct_price_consolidated_hourly with the hourly marts, from var test_since on: every
-- CoinGecko point is there once with its close, no CoinGecko close is invented, every CMC close is that
-- of the CMC coin the row names, and the price is the mean of the closes there are. (A CMC coin newly
-- matched by the identity reaches hours built earlier only when they are recomputed: not checked here.)
with

consolidated as (

    select * from {{ ref('fct_price_consolidated_hourly') }}
    where price_hour >= {{ var('test_since') }}

),

coingecko as (

    select * from {{ ref('fct_price_hourly') }}
    where price_hour >= {{ var('test_since') }}

),

cmc as (

    select * from {{ ref('fct_cmc_price_hourly') }}
    where price_hour >= {{ var('test_since') }}

),

coingecko_side as (

    select
        coalesce(consolidated.asset_id, coingecko.asset_id) as asset_id,
        coalesce(consolidated.price_hour, coingecko.price_hour) as price_hour,
        case
            when consolidated.asset_id is null then 'coingecko point missing'
            when (consolidated.price_coingecko is distinct from coingecko.price_usd)
                then 'coingecko close differs or is invented'
        end as problem
    from consolidated
    full outer join coingecko
        on
            consolidated.asset_id = coingecko.asset_id
            and consolidated.price_hour = coingecko.price_hour

),

cmc_side as (

    select
        consolidated.asset_id,
        consolidated.price_hour,
        'cmc close is not that of its cmc_id' as problem
    from consolidated
    left join cmc
        on
            consolidated.cmc_id = cmc.cmc_id
            and consolidated.price_hour = cmc.price_hour
    where
        consolidated.price_cmc is not null
        and (consolidated.price_cmc is distinct from cmc.price_usd)

),

mean as (

    select
        consolidated.asset_id,
        consolidated.price_hour,
        'price is not the mean of the closes' as problem
    from consolidated
    where
        consolidated.price_usd
        <> (coalesce(consolidated.price_coingecko, 0) + coalesce(consolidated.price_cmc, 0))
        / nullif(num_nonnulls(consolidated.price_coingecko, consolidated.price_cmc), 0)
        or num_nonnulls(consolidated.price_coingecko, consolidated.price_cmc) <> consolidated.sources_count

)

select
    asset_id,
    price_hour,
    problem
from coingecko_side
where problem is not null

union all

select
    asset_id,
    price_hour,
    problem
from cmc_side

union all

select
    asset_id,
    price_hour,
    problem
from mean
