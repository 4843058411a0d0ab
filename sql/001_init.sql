-- emag-sync: runs, offers, the unified catalog, quarantine, API call log, stream checkpoints.

create table emag_sync_runs (
  id              bigserial primary key,
  account         text not null,
  stream          text not null,
  mode            text not null default 'full',
  trigger         text not null check (trigger in ('schedule', 'manual', 'cli', 'failover')),
  status          text not null default 'running'
                  check (status in ('running', 'succeeded', 'partial', 'failed', 'cancelled', 'interrupted')),
  started_at      timestamptz not null default now(),
  finished_at     timestamptz,
  heartbeat_at    timestamptz not null default now(),
  pages_done      integer not null default 0,
  pages_total     integer,
  items_seen      integer not null default 0,
  items_inserted  integer not null default 0,
  items_updated   integer not null default 0,
  items_unchanged integer not null default 0,
  items_deleted   integer not null default 0,
  items_failed    integer not null default 0,
  api_requests    integer not null default 0,
  rate_limit_waits integer not null default 0,
  checkpoint      jsonb,
  error           text,
  -- The eMAG error kind of a failed run (auth, ip_not_whitelisted, rate_limited, …), for health checks.
  error_kind      text
);
create index emag_sync_runs_account_stream on emag_sync_runs (account, stream, started_at desc);
create index emag_sync_runs_running on emag_sync_runs (status) where status = 'running';

create table emag_offers (
  account            text not null,
  id                 bigint not null,
  part_number        text,
  part_number_key    text,
  name               text,
  brand              text,
  category_id        bigint,
  status             smallint,
  sale_price         numeric(16,4),
  recommended_price  numeric(16,4),
  min_sale_price     numeric(16,4),
  max_sale_price     numeric(16,4),
  best_offer_sale_price numeric(16,4),
  currency           text,
  stock              integer,
  general_stock      integer,
  estimated_stock    integer,
  handling_time      integer,
  vat_id             integer,
  offer_validation_status smallint,
  validation_status  smallint,
  number_of_offers   integer,
  buy_button_rank    integer,
  ean                text[] not null default '{}',
  raw                jsonb not null,
  content_hash       text not null,
  first_seen_at      timestamptz not null default now(),
  last_seen_at       timestamptz not null default now(),
  updated_at         timestamptz not null default now(),
  deleted_at         timestamptz,
  primary key (account, id)
);
create index emag_offers_part_number on emag_offers (part_number) where deleted_at is null;

-- Ids seen by a running full scan; what a completed scan did not see is soft-deleted.
create unlogged table emag_offer_scan_seen (
  run_id bigint not null,
  id     bigint not null,
  primary key (run_id, id)
);

-- Which account the unified catalog prefers for a SKU (lower first); written from config at start.
create table emag_account_priority (
  account  text primary key,
  priority integer not null
);

create view emag_products as
select distinct on (o.part_number)
  o.part_number,
  o.account            as source_account,
  o.id                 as offer_id,
  o.part_number_key,
  o.name,
  o.brand,
  o.status,
  o.sale_price,
  o.recommended_price,
  o.currency,
  o.stock,
  o.general_stock,
  o.estimated_stock,
  o.vat_id,
  o.updated_at,
  (select array_agg(x.account order by x.account) from emag_offers x
    where x.part_number = o.part_number and x.deleted_at is null) as accounts
from emag_offers o
left join emag_account_priority p on p.account = o.account
where o.deleted_at is null and o.part_number is not null
order by o.part_number, coalesce(p.priority, 2147483647), o.account;

-- Records eMAG sent that could not be stored, with the reason; never silently dropped.
create table emag_quarantine (
  id          bigserial primary key,
  account     text not null,
  stream      text not null,
  run_id      bigint references emag_sync_runs (id) on delete set null,
  record_key  text,
  reason      text not null,
  raw         jsonb,
  created_at  timestamptz not null default now()
);
create index emag_quarantine_account on emag_quarantine (account, stream, created_at desc);

-- Every eMAG call (kept EMAG_LOG_RETENTION_DAYS days, as eMAG recommends 30).
create table emag_api_calls (
  id          bigserial primary key,
  at          timestamptz not null default now(),
  account     text not null,
  resource    text not null,
  action      text not null,
  status      integer not null,
  duration_ms integer not null,
  error       text
);
create index emag_api_calls_at on emag_api_calls (at);

-- Cursors and checkpoints per account and stream; advanced only with the data they cover.
create table emag_checkpoints (
  account    text not null,
  stream     text not null,
  value      jsonb not null,
  updated_at timestamptz not null default now(),
  primary key (account, stream)
);
