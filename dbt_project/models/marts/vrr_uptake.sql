-- VRR take-up by quarter (cohort basis: decisions made in the quarter), force and cohort.
{%- set cohorts = [
    ('all', "'All'"),
    ('scheme', 'scheme'),
    ('age_band', 'age_band'),
    ('sex', 'sex'),
    ('ethnicity_group', 'ethnicity_group'),
    ('disability', 'disability'),
    ('offence_group', 'offence_group'),
] %}
with

eligible as (
    select * from {{ ref('fct_vrr_decisions') }} where is_vrr_eligible
),

load_info as (
    select as_at_date from {{ ref('int_load_as_at') }}
),

by_cohort as (
    {% for dimension, value in cohorts %}
    select *, '{{ dimension }}' as cohort_dimension, {{ value }} as cohort_value from eligible
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
),

counts as (
    select
        period_start,
        {{ force_or_all() }} as force_code,
        cohort_dimension,
        cohort_value,
        count(*) as eligible_decisions,
        cast(count_if(has_request) as bigint) as decisions_with_request,
        cast(sum(requests) as bigint) as requests,
        cast(sum(reviews_completed) as bigint) as reviews_completed,
        cast(sum(reviews_overturned) as bigint) as reviews_overturned,
        median(days_notification_to_request::double)
            filter (where has_request and days_notification_to_request is not null) as median_days_to_request
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
        counts.eligible_decisions,
        counts.decisions_with_request,
        {{ safe_rate('counts.decisions_with_request', 'counts.eligible_decisions') }} as uptake_rate,
        {{ wilson_bound('counts.decisions_with_request', 'counts.eligible_decisions', 'lower') }} as uptake_ci_lower,
        {{ wilson_bound('counts.decisions_with_request', 'counts.eligible_decisions', 'upper') }} as uptake_ci_upper,
        counts.requests,
        counts.reviews_completed,
        counts.reviews_overturned,
        {{ safe_rate('counts.reviews_overturned', 'counts.reviews_completed') }} as overturn_rate,
        counts.median_days_to_request,
        load_info.as_at_date < counts.period_start + interval 6 month as is_provisional,
        load_info.as_at_date,
        {{ counting_basis('cohort') }} as counting_basis
    from counts
    cross join load_info
)

select * from final
