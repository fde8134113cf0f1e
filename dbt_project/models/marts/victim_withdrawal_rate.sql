-- Share of assigned outcomes where the victim did not support action (outcomes 14 and 16 over every outcome
-- except 0), by quarter of the decision (cohort basis), force and offence group: the rape review scorecards'
-- victim-engagement measure.
-- Incremental by quarter, like fct_vrr_decisions: a run rebuilds the affected quarters and refreshes every row's
-- as-at date and provisional flag (the config of the cohort-basis marts, in dbt_project.yml).
with

assigned as (
    select * from {{ ref('fct_vrr_decisions') }} where outcome_code <> '0'
    {%- if is_incremental() %} and {{ in_affected_quarters('period_start') }}{% endif %}
),

counts as (
    select
        period_start,
        {{ force_or_all() }} as force_code,
        offence_group,
        count(*) as outcomes_assigned,
        count(*) filter (where outcome_code in ('14', '16')) as victim_does_not_support
    from assigned
    {{ by_force_and_all(['offence_group']) }}
),

load_info as (
    select as_at_date from {{ ref('int_load_as_at') }}
),

final as (
    select
        period_start,
        {{ period_label('period_start') }} as period_label,
        force_code,
        offence_group,
        outcomes_assigned,
        victim_does_not_support,
        {{ safe_rate('victim_does_not_support', 'outcomes_assigned') }} as withdrawal_rate,
        {{ counting_basis('cohort') }} as counting_basis,
        {{ is_provisional('counts.period_start', 'load_info.as_at_date') }} as is_provisional,
        load_info.as_at_date
    from counts
    cross join load_info
)

select * from final
