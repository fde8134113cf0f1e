-- One row per decision (latest version) with its requests. Incremental by decision, like int_decisions_latest: a run
-- rebuilds the rows of the touched decisions only (a row depends on nothing but its decision's latest version and the
-- latest versions of the requests that name it, and a decision named by any version of a changed request is
-- touched). The quarterly marts rebuild whole quarters from it.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ delete_touched_decisions() }}",
) }}
with

decisions as (
    select * from {{ ref('int_decisions_classified') }}
    {% if is_incremental() -%}
    where {{ in_touched_decisions() }}
    {%- endif %}
),

requests as (
    select * from {{ ref('int_vrr_requests_counted') }}
),

requests_per_decision as (
    select
        decision_id,
        count(*) as requests,
        min(request_date) as first_request_date,
        cast(count_if(is_review_completed) as bigint) as reviews_completed,
        cast(count_if(is_decision_overturned) as bigint) as reviews_overturned
    from requests
    group by decision_id
),

final as (
    select
        decisions.decision_id,
        decisions.force_code,
        decisions.offence_code,
        decisions.decision_date,
        {{ period_start('decisions.decision_date') }} as period_start,
        {{ period_label(period_start('decisions.decision_date')) }} as period_label,
        decisions.outcome_code,
        decisions.outcome_group,
        decisions.decision_maker,
        decisions.suspect_interviewed,
        decisions.is_vrr_eligible,
        decisions.scheme,
        decisions.victim_age,
        decisions.age_band,
        decisions.sex,
        decisions.ethnicity_group,
        decisions.disability,
        decisions.offence_group,
        decisions.withdrawal_stage_code,
        decisions.withdrawal_reason_code,
        decisions.victim_notified_date,
        coalesce(requests_per_decision.requests, 0) as requests,
        coalesce(requests_per_decision.requests, 0) > 0 as has_request,
        requests_per_decision.first_request_date,
        cast(requests_per_decision.first_request_date - decisions.victim_notified_date as integer)
            as days_notification_to_request,
        coalesce(requests_per_decision.reviews_completed, 0) as reviews_completed,
        coalesce(requests_per_decision.reviews_overturned, 0) as reviews_overturned,
        coalesce(requests_per_decision.reviews_overturned, 0) > 0 as any_decision_overturned,
        decisions.victim_pseudonym,
        decisions.crime_reference_pseudonym,
        decisions.source_file,
        decisions.extract_date
    from decisions
    left join requests_per_decision on decisions.decision_id = requests_per_decision.decision_id
)

select * from final
