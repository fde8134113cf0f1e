-- Rows refused by the current load, with the reason. A row leaves when the cause is fixed in a later extract
-- (for example a request whose decision arrives later); every entry and exit is in quarantine_history.
with

quarantine as (
    select * from {{ source('landing', 'quarantine') }}
),

final as (
    select
        extract_kind,
        source_file,
        extract_date,
        line_number,
        record_key,
        reason_code,
        reason,
        all_reasons,
        raw_row,
        run_id
    from quarantine
)

select * from final
