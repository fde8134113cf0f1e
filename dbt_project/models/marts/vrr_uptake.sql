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

victims_named as (
    select distinct victim_pseudonym from eligible where nullif(victim_pseudonym, '') is not null
),

victim_numbers as (
    -- each victim of these decisions as a number: the distinct-victim counts group numbers, not pseudonyms
    select victim_pseudonym, row_number() over (order by victim_pseudonym) as victim_number
    from victims_named
),

numbered as (
    select eligible.*, victim_numbers.victim_number
    from eligible
    left join victim_numbers on eligible.victim_pseudonym = victim_numbers.victim_pseudonym
),

by_cohort as (
    {{ uptake_by_cohort('numbered') }}
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

{{ victim_counts('by_cohort') }},

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
        coalesce(victims.eligible_victims, 0) as eligible_victims,
        coalesce(victims.victims_with_request, 0) as victims_with_request
    from counts
    cross join load_info
    left join victims
        on
            counts.period_start = victims.period_start
            and counts.force_code = victims.force_code
            and counts.cohort_dimension = victims.cohort_dimension
            and counts.cohort_value is not distinct from victims.cohort_value
)

select * from final
