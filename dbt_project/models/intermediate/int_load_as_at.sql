-- The warehouse's as-at date: the newest extract date in the landing folder.
select max(extract_date) as as_at_date
from {{ ref('stg_landing__extract_files') }}
