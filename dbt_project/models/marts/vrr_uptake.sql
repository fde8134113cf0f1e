-- VRR take-up by quarter (cohort basis: decisions made in the quarter), force and cohort.
-- Incremental by quarter, like fct_vrr_decisions: a run rebuilds the affected quarters and refreshes every row's
-- as-at date and provisional flag (the config of the cohort-basis marts, in dbt_project.yml).
with

eligible as (
    select
        period_start, force_code, scheme, age_band, sex, ethnicity_group, disability, offence_group, has_request,
        requests, reviews_completed, reviews_overturned, days_notification_to_request, victim_pseudonym
    from {{ ref('fct_vrr_decisions') }}
    where is_vrr_eligible{% if is_incremental() %} and {{ in_affected_quarters('period_start') }}{% endif %}
),

load_info as (
    select as_at_date from {{ ref('int_load_as_at') }}
),

by_cohort as (
    {{ uptake_by_cohort('eligible') }}
),

counts as (
    select
        period_start,
        {{ force_or_all() }} as force_code,
        cohort_dimension,
        cohort_value,
        {{ uptake_counts() }}
    from by_cohort
    {{ by_force_and_all(['cohort_dimension', 'cohort_value']) }}
),

final as (
    select
        counts.period_start,
        {{ period_label('counts.period_start') }} as period_label,
        counts.force_code,
        counts.cohort_dimension,
        counts.cohort_value,
        {{ uptake_figures('counts') }},
        {{ is_provisional('counts.period_start', 'load_info.as_at_date') }} as is_provisional,
        load_info.as_at_date,
        {{ counting_basis('cohort') }} as counting_basis,
        counts.decisions_timed_to_request,
        counts.eligible_victims,
        counts.victims_with_request
    from counts
    cross join load_info
)

select * from final
