-- The latest version of each VRR request: the row from the newest extract wins.
with

requests as (
    select * from {{ ref('stg_landing__vrr_requests') }}
),

latest as (
    select *
    from requests
    qualify row_number() over (partition by request_id order by extract_date desc, line_number desc) = 1
)

select * from latest
