-- What a run did beyond its counters: a maintenance run (stream 'maintenance', the daily retention
-- cleanup) records the rows it deleted per table, e.g. {"deleted": {"emag_sync_runs": 120, …}}.
alter table emag_sync_runs add column summary jsonb;
