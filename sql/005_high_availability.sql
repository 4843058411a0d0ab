-- emag-sync: catalog failover (stale or disabled preferred account), instances that take over
-- accounts from each other, and the instance that ran each run.

-- Catalog failover: whether an account is enabled and how old its last successful offers run may be
-- before the unified catalog prefers the next account's row. Written from the configuration by
-- every command that opens the database (the daemon and one-off `sync` alike).
alter table emag_account_priority
  add column enabled     boolean  not null default true,
  add column stale_after interval not null default interval '26 hours';

-- Per account: may the catalog take rows from it, and if not, why. Accounts that have offers but
-- no priority row (removed from the configuration) rank last, `main` first among them.
create view emag_catalog_accounts as
select a.account,
       coalesce(p.priority, case when a.account = 'main' then 1000000 else 1000001 end) as priority,
       coalesce(p.enabled, true) as enabled,
       s.finished_at as last_offers_success,
       case
         when not coalesce(p.enabled, true) then 'disabled'
         when s.finished_at is null or s.finished_at < now() - coalesce(p.stale_after, interval '26 hours') then 'stale'
       end as unusable
from (select account from emag_account_priority
      union select account from emag_sync_runs where stream = 'offers') a
left join emag_account_priority p on p.account = a.account
left join lateral (
  select r.finished_at from emag_sync_runs r
  where r.account = a.account and r.stream = 'offers' and r.status = 'succeeded'
  order by r.started_at desc limit 1
) s on true;

-- One row per SKU: the highest-priority account that is enabled and fresh, else (no such account
-- sells it) the highest-priority one. `source_reason` says why: `preferred`, or
-- `fallback: stale main` / `fallback: disabled main` naming the preferred account that was passed over.
create or replace view emag_products as
with ranked as (
  select o.*,
         coalesce(c.priority, 2147483647) as rank_priority,
         c.unusable,
         first_value(o.account) over w as preferred_account,
         first_value(c.unusable) over w as preferred_unusable
  from emag_offers o
  left join emag_catalog_accounts c on c.account = o.account
  where o.deleted_at is null and o.part_number is not null
  window w as (partition by o.part_number order by coalesce(c.priority, 2147483647), o.account)
)
select distinct on (r.part_number)
  r.part_number,
  r.account            as source_account,
  r.id                 as offer_id,
  r.part_number_key,
  r.name,
  r.brand,
  r.status,
  r.sale_price,
  r.recommended_price,
  r.currency,
  r.stock,
  r.general_stock,
  r.estimated_stock,
  r.vat_id,
  r.updated_at,
  (select array_agg(x.account order by x.account) from emag_offers x
    where x.part_number = r.part_number and x.deleted_at is null) as accounts,
  case
    when r.account = r.preferred_account then 'preferred'
    else 'fallback: ' || r.preferred_unusable || ' ' || r.preferred_account
  end as source_reason
from ranked r
order by r.part_number, (r.unusable is not null), r.rank_priority, r.account;

-- Daemon instances sharing this database. An instance is live while its lease connection holds the
-- advisory lock of its id (`lease_pid` is that connection's backend); `last_seen_at` is its heartbeat.
create table emag_instances (
  id           text primary key check (id !~ '\s' and length(id) between 1 and 100),
  host         text not null,
  pid          integer not null,
  version      text not null,
  lease_pid    integer,
  started_at   timestamptz not null default now(),
  last_seen_at timestamptz not null default now()
);

-- The instance that ran each run (null for one-off `sync` commands and runs from before 005).
alter table emag_sync_runs add column instance text;
