-- Every kept observation lies inside the hour it is filed under.
select
    asset_id,
    price_hour,
    observed_at
from {{ ref('fct_price_hourly') }}
where observed_at < price_hour or observed_at >= price_hour + interval '1 hour'
