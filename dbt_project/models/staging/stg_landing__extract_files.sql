with

source as (
    select * from {{ source('landing', 'extract_files') }}
),

renamed as (
    select
        source_file,
        extract_kind,
        extract_date,
        sha256,
        size_bytes,
        encoding,
        rows_read,
        rows_loaded,
        rows_quarantined,
        duplicates_dropped,
        nullif(extra_columns, '') as extra_columns,
        run_id
    from source
)

select * from renamed
