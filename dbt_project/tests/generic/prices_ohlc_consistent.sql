{#- Open, high, low and close of a row agree: low <= open <= high and low <= close <= high (rows with a
    null among them are not judged here: not_null tests say whether one may be null). -#}
{% test prices_ohlc_consistent(model, open, high, low, close) %}
select {{ open }}, {{ high }}, {{ low }}, {{ close }}
from {{ model }}
where
    {{ low }} > {{ open }}
    or {{ open }} > {{ high }}
    or {{ low }} > {{ close }}
    or {{ close }} > {{ high }}
{% endtest %}
