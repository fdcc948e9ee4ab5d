{#- What the incremental facts over raw intervals share (facts that can be landed again: a re-landing
    replaces its interval's raw rows, so a row kept from it may have gone or changed).

    Each such fact has a CTE `landed` (the staging rows committed since the last build: see
    commit_watermark) with `interval_start`, `interval_end` and what its keys are made from, and
    stores `landing_id`, `landed_interval_start`, `landed_interval_end` and `built_xmin` per row.

    - `touched_keys(keys, landed_keys={}, match=none)`: CTEs `relanded` (the intervals just landed,
      per `match` column where the fact keeps rows from several sources) and `touched` (the keys to
      recompute: those landed, and those the fact kept from an interval just landed again).
      `landed_keys` maps a key to its SQL over `landed` where it is not `landed.<key>`.
    - `keys_to_write(keys, full_from='latest')`: the body of the `keys` CTE: on an incremental run the
      touched keys (one left without any source row comes out holding only its key, so that
      delete+insert removes it), on a full build every key of `full_from`.
    - `delete_emptied_rows()`: the post-hook that deletes those emptied rows in the same transaction,
      so that the table equals a full rebuild. -#}

{% macro touched_keys(keys, landed_keys={}, match=none) -%}
relanded as (

    select distinct
        {%- if match %}
        landed.{{ match }},
        {%- endif %}
        landed.interval_start,
        landed.interval_end
    from landed

),

touched as (

    select
        {%- for key in keys %}
        {{ landed_keys.get(key, 'landed.' ~ key) }} as {{ key }}{{ ',' if not loop.last }}
        {%- endfor %}
    from landed

    union

    -- keys kept from an interval that has just been landed again
    select
        {%- for key in keys %}
        built.{{ key }}{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ this }} as built
    inner join relanded
        on
            {%- if match %}
            built.{{ match }} = relanded.{{ match }} and
            {%- endif %}
            built.landed_interval_start <= relanded.interval_start
            and built.landed_interval_end >= relanded.interval_end

)
{%- endmacro %}

{% macro keys_to_write(keys, full_from='latest') -%}
    select
        {%- for key in keys %}
        {{ 'touched' if is_incremental() else full_from }}.{{ key }}{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ 'touched' if is_incremental() else full_from }}
{%- endmacro %}

{% macro delete_emptied_rows() -%}
    delete from {{ this }} as emptied
    where emptied.landing_id is null
        and emptied.built_xmin = (select max(built.built_xmin) from {{ this }} as built)
{%- endmacro %}
