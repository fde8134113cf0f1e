-- The latest version of each decision: the row from the newest extract wins. A decision has at most one version
-- per extract (ingest loads one row per key and file, and a folder holds one decisions extract per date), so the
-- newest extract date finds it; the unique test on decision_id would catch it if that ever failed.
-- Incremental by decision: a run rebuilds only the decisions its new, changed or removed extracts touch
-- (raw.touched_decisions, written by ingest); every other decision's versions are as they were, and so is its
-- latest version. `make full-refresh` rebuilds everything.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    pre_hook="{{ delete_touched_decisions() }}",
) }}
with

decisions as {{ not_materialized() }} (
    select * from {{ ref('stg_landing__decisions') }}
    {% if is_incremental() -%}
    where {{ in_touched_decisions() }}
    {%- endif %}
),

newest as (
    -- only the keys and dates: the versions themselves are not sorted or held
    select decision_id, max(extract_date) as extract_date
    from decisions
    group by decision_id
),

final as (
    select decisions.*
    from decisions
    semi join newest on decisions.decision_id = newest.decision_id and decisions.extract_date = newest.extract_date
)

select * from final
