-- Every run's changes to the quarantine, append-only: 'quarantined' when a row first enters, 'released' when
-- it leaves.
with

history as (
    select * from {{ source('audit', 'quarantine_history') }}
),

final as (
    select
        event,
        run_id,
        recorded_at,
        source_file,
        file_sha256,
        line_number,
        record_key,
        reason_code
    from history
)

select * from final
