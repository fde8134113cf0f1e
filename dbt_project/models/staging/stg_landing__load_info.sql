select
    as_at_date,
    run_id
from {{ source('landing', 'load_info') }}
