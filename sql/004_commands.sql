-- The commands outbox: the ERP inserts (account, kind, payload[, idempotency_key]); the daemon does the rest.

create table emag_commands (
  id              bigserial primary key,
  account         text not null,
  kind            text not null,
  payload         jsonb not null,
  status          text not null default 'pending'
                  check (status in ('pending', 'running', 'done', 'failed', 'conflict', 'cancelled')),
  -- How many times a request for it went out to eMAG.
  attempts        integer not null default 0,
  error           text,
  result          jsonb,
  idempotency_key text,
  -- Send without a conflict check: a person chose the local value (emag-sync conflicts resolve --keep local).
  force           boolean not null default false,
  -- The mirror's values of the target when the command was created (conflict detection); set on insert.
  baseline        jsonb,
  -- When a request for it last went out (committed just before sending).
  sent_at         timestamptz,
  -- A command put back after a failure waits until then (backoff), so an outage does not spin.
  not_before      timestamptz,
  claimed_by      text,
  claimed_at      timestamptz,
  created_at      timestamptz not null default now(),
  updated_at      timestamptz not null default now(),
  done_at         timestamptz
);
create unique index emag_commands_idempotency_key on emag_commands (idempotency_key) where idempotency_key is not null;
create index emag_commands_pending on emag_commands (account, id) where status = 'pending';
create index emag_commands_status on emag_commands (account, kind, status);

-- A repeated idempotency key is ignored (the insert does nothing) instead of failing the ERP's transaction.
-- The baseline records what the ERP saw in the mirror, and a NOTIFY wakes the daemon.
create function emag_commands_before_insert() returns trigger language plpgsql as $$
begin
  if new.idempotency_key is not null
     and exists (select 1 from emag_commands where idempotency_key = new.idempotency_key) then
    return null;
  end if;
  -- Only a well-formed id is looked up; a malformed payload is the daemon's to refuse, with a reason.
  if new.kind in ('offer_update', 'stock_update') and new.baseline is null
     and coalesce(new.payload->>'id', '') ~ '^[0-9]{1,15}$' then
    select jsonb_build_object(
             'sale_price', o.sale_price, 'recommended_price', o.recommended_price,
             'min_sale_price', o.min_sale_price, 'max_sale_price', o.max_sale_price,
             'status', o.status, 'stock', o.stock, 'handling_time', o.handling_time, 'vat_id', o.vat_id,
             'updated_at', o.updated_at)
      into new.baseline
      from emag_offers o
     where o.account = new.account and o.id = (new.payload->>'id')::bigint;
  end if;
  return new;
end $$;
create trigger emag_commands_before_insert before insert on emag_commands
  for each row execute function emag_commands_before_insert();

create function emag_commands_notify() returns trigger language plpgsql as $$
begin
  perform pg_notify('emag_commands', new.account);
  return null;
end $$;
create trigger emag_commands_notify after insert on emag_commands
  for each row execute function emag_commands_notify();

-- Offer changes that met a different value on eMAG, parked for a person (strategy `manual`).
create table emag_conflicts (
  id          bigserial primary key,
  command_id  bigint not null references emag_commands (id) on delete cascade,
  account     text not null,
  offer_id    bigint not null,
  local       jsonb not null,
  emag        jsonb not null,
  baseline    jsonb,
  status      text not null default 'open' check (status in ('open', 'resolved')),
  resolution  text check (resolution in ('local', 'emag')),
  created_at  timestamptz not null default now(),
  resolved_at timestamptz
);
create index emag_conflicts_open on emag_conflicts (account) where status = 'open';
