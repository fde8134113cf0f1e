-- Decisions closed because the victim did not support or withdrew support (outcomes 14 and 16), by quarter of
-- the decision (cohort basis), force, offence group, stage and reason of withdrawal. A blank or unlisted stage
-- or reason is Not recorded.
-- Incremental by quarter, like fct_vrr_decisions: a run rebuilds the affected quarters and refreshes every row's
-- as-at date and provisional flag (the config of the cohort-basis marts, in dbt_project.yml).
with

withdrawals as (
    select * from {{ ref('fct_vrr_decisions') }} where outcome_code in ('14', '16')
    {%- if is_incremental() %} and {{ in_affected_quarters('period_start') }}{% endif %}
),

stages as (
    select * from {{ ref('withdrawal_stages') }}
),

reasons as (
    select * from {{ ref('withdrawal_reasons') }}
),

labelled as (
    select
        withdrawals.period_start,
        withdrawals.force_code,
        withdrawals.offence_group,
        coalesce(stages.stage_label, 'Not recorded') as withdrawal_stage,
        coalesce(reasons.reason_label, 'Not recorded') as withdrawal_reason
    from withdrawals
    left join stages on withdrawals.withdrawal_stage_code = lower(trim(stages.stage_code))
    left join reasons on withdrawals.withdrawal_reason_code = lower(trim(reasons.reason_code))
),

counts as (
    select
        period_start,
        {{ force_or_all() }} as force_code,
        offence_group,
        withdrawal_stage,
        withdrawal_reason,
        count(*) as decisions
    from labelled
    {{ by_force_and_all(['offence_group', 'withdrawal_stage', 'withdrawal_reason']) }}
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
        withdrawal_stage,
        withdrawal_reason,
        decisions,
        {{ counting_basis('cohort') }} as counting_basis,
        {{ is_provisional('counts.period_start', 'load_info.as_at_date') }} as is_provisional,
        load_info.as_at_date
    from counts
    cross join load_info
)

select * from final
