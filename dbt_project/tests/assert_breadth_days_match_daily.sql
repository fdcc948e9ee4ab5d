-- Reconciliation of fct_market_breadth_daily with fct_price_daily, from var test_since on: one row for
-- every UTC day with a CoinGecko close and a market cap, none for any other day; its assets are the
-- day's top N (the fewer of N and the assets with a market cap that day); advancers, decliners and
-- unchanged together are at most that many.
with

since as (

    -- the first UTC day checked
    select ((({{ var('test_since') }})::timestamptz at time zone 'UTC')::date) as first_day

),

ranked_days as (

    select
        price_date,
        count(*) as assets_with_cap
    from {{ ref('fct_price_daily') }}
    where
        source = 'coingecko'
        and market_cap_usd is not null
        and price_date >= (select since.first_day from since)
    group by price_date

),

breadth as (

    select * from {{ ref('fct_market_breadth_daily') }}
    where price_date >= (select since.first_day from since)

)

select
    coalesce(breadth.price_date, ranked_days.price_date) as price_date,
    ranked_days.assets_with_cap,
    breadth.top_n,
    breadth.assets_count,
    breadth.advancers,
    breadth.decliners,
    breadth.unchanged
from breadth
full outer join ranked_days on breadth.price_date = ranked_days.price_date
where
    breadth.price_date is null
    or ranked_days.price_date is null
    or breadth.assets_count <> least(breadth.top_n, ranked_days.assets_with_cap)
    or breadth.advancers + breadth.decliners + breadth.unchanged > breadth.assets_count
