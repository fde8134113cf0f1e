{{ config(severity='warn', meta={'dagster': {'ref': {'name': 'int_working_days'}}}) }}
{#- Dates whose working days are counted fall inside the working-day calendar (the years of the bank holiday
    seed); outside it the working days are null and drop out of the timeliness figures. Regenerate the seed
    with a wider range (pipeline/calendar.py) if this warns. -#}
with

calendar as (
    select min(calendar_date) as first_day, max(calendar_date) as last_day from {{ ref('int_working_days') }}
),

dates as (
    select decision_id as record_id, 'decision_date' as date_column, decision_date as value
    from {{ ref('fct_vrr_decisions') }} where is_vrr_eligible
    union all
    select decision_id, 'victim_notified_date', victim_notified_date
    from {{ ref('fct_vrr_decisions') }} where is_vrr_eligible and victim_notified_date is not null
    union all
    select request_id, 'request_date', request_date
    from {{ ref('int_vrr_requests_counted') }} where is_review_completed and review_completed_date is not null
    union all
    select request_id, 'review_completed_date', review_completed_date
    from {{ ref('int_vrr_requests_counted') }} where is_review_completed and review_completed_date is not null
)

select dates.*
from dates
cross join calendar
where dates.value not between calendar.first_day and calendar.last_day
