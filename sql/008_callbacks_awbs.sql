-- eMAG callbacks queued for the drain, AWBs (shipping labels) issued through the API, and the
-- `stale` figure of runs (reads older than the stored record, not applied).

-- One row per account, event and record: repeated callbacks for one order coalesce into it
-- (`hits` counts them, `seq` tells the drain that another came while it was reading). A row is
-- deleted when its read is done; the routes refuse new rows beyond EMAG_CALLBACK_QUEUE_MAX per account.
create table emag_callback_queue (
  id               bigserial primary key,
  account          text not null,
  event            text not null check (event in ('order', 'cancellation', 'return', 'awb')),
  -- The order id (order, cancellation, and awb when eMAG names the order), the return's emag_id,
  -- or — negated, so it never meets an order id — the AWB's emag_id when eMAG named only the AWB.
  target_id        bigint not null,
  -- For an awb event: the AWB's emag_id when eMAG sent one (target_id is then the order id, if known).
  awb_id           bigint,
  hits             integer not null default 1,
  seq              integer not null default 1,
  attempts         integer not null default 0,
  error            text,
  -- A failed read waits until then (backoff), so an outage does not spin.
  not_before       timestamptz,
  claimed_by       text,
  claimed_at       timestamptz,
  received_at      timestamptz not null default now(),
  last_received_at timestamptz not null default now(),
  unique (account, event, target_id)
);
create index emag_callback_queue_account on emag_callback_queue (account, id);

-- A new row wakes the drain of whichever daemon owns the account.
create function emag_callback_queue_notify() returns trigger language plpgsql as $$
begin
  perform pg_notify('emag_callbacks', new.account);
  return null;
end $$;
create trigger emag_callback_queue_notify after insert on emag_callback_queue
  for each row execute function emag_callback_queue_notify();

-- AWBs issued by `awb_create` commands (or read back through awb/read), one row per eMAG AWB id.
create table emag_awbs (
  account            text not null,
  emag_id            bigint not null,
  order_id           bigint,
  rma_id             bigint,
  reservation_id     bigint,
  awb_number         text,
  awb_barcode        text,
  courier_account_id bigint,
  courier_name       text,
  status_code        text,
  status_name        text,
  parcels            integer,
  envelopes          integer,
  weight             numeric(12,3),
  cod                numeric(16,4),
  command_id         bigint references emag_commands (id) on delete set null,
  raw                jsonb,
  -- Set once the AWB reached a final status (delivered or returned): it is not re-read after that.
  final_at           timestamptz,
  -- When its status was last read from eMAG.
  checked_at         timestamptz,
  created_at         timestamptz not null default now(),
  updated_at         timestamptz not null default now(),
  primary key (account, emag_id)
);
create index emag_awbs_order on emag_awbs (account, order_id);
create index emag_awbs_open on emag_awbs (account, checked_at) where final_at is null;

-- The latest status change of a return, from its status history: the "modified" a read is compared by.
alter table emag_rmas add column modified timestamptz;

-- Reads older than the stored record, not applied (a slow poll racing a callback's read).
alter table emag_sync_runs add column items_stale integer not null default 0;
