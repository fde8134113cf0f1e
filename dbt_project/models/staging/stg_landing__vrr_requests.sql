with

source as (
    select * from {{ source('landing', 'vrr_requests') }}
),

renamed as (
    select
        -- ids
        trim(request_id) as request_id,
        trim(decision_id) as decision_id,

        -- codes
        lower(trim(scheme)) as scheme,
        nullif(lower(trim(review_stage)), '') as review_stage,
        nullif(lower(trim(review_result)), '') as review_result,

        -- dates
        cast(request_date as date) as request_date,
        {{ date_or_null('trim(review_completed_date)') }} as review_completed_date,
        nullif(trim(review_completed_date), '') as review_completed_date_raw,

        -- lineage
        source_file,
        extract_date,
        line_number
    from source
)

select * from renamed
