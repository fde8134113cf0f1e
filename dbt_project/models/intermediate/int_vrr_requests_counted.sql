-- Requests that count: their decision is known and they are dated on or after it. Any other request counts
-- nowhere (ingest holds such rows in quarantine; the filter here restates the definition).
with

requests as (
    select * from {{ ref('int_vrr_requests_latest') }}
),

decisions as (
    select decision_id, decision_date, force_code from {{ ref('int_decisions_latest') }}
),

counted as (
    select
        requests.*,
        decisions.force_code as decision_force_code,
        decisions.decision_date,
        requests.review_result in ('decision_stands', 'decision_overturned') as is_review_completed,
        requests.review_result = 'decision_overturned' as is_decision_overturned
    from requests
    inner join decisions on requests.decision_id = decisions.decision_id
    where requests.request_date >= decisions.decision_date
)

select * from counted
