-- The latest version of each decision: the row from the newest extract wins.
with

decisions as (
    select * from {{ ref('stg_landing__decisions') }}
),

latest as (
    select *
    from decisions
    qualify row_number() over (partition by decision_id order by extract_date desc, line_number desc) = 1
)

select * from latest
