-- The latest version of each decision: the row from the newest extract wins. Incremental: a run rebuilds only the
-- quarters (of the latest decision date) that its new extracts touch; `make full-refresh` rebuilds everything.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_affected_quarters('decision_date') }}",
) }}
with

decisions as (
    select * from {{ ref('stg_landing__decisions') }}
    {% if is_incremental() -%}
    -- every version of the decisions with a version in an affected quarter
    where decision_id in (
        select decision_id from {{ ref('stg_landing__decisions') }} where {{ in_affected_quarters('decision_date') }}
    )
    {%- endif %}
),

latest as (
    {{ latest_version('decisions', 'decision_id') }}
),

final as (
    select * from latest
    {% if is_incremental() -%}
    where {{ in_affected_quarters('decision_date') }}
    {%- endif %}
)

select * from final
