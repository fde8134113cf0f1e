{{ config(meta={'dagster': {'ref': {'name': 'victim_withdrawal'}}}) }}
{#- The stage-and-reason breakdown adds up to the withdrawals counted in victim_withdrawal_rate. -#}
with

breakdown as (
    select period_start, force_code, offence_group, sum(decisions) as decisions
    from {{ ref('victim_withdrawal') }}
    group by period_start, force_code, offence_group
),

rates as (
    select period_start, force_code, offence_group, victim_does_not_support
    from {{ ref('victim_withdrawal_rate') }}
    where victim_does_not_support > 0
)

select *
from breakdown
full outer join rates using (period_start, force_code, offence_group)
where coalesce(breakdown.decisions, -1) <> coalesce(rates.victim_does_not_support, -2)
