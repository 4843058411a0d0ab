-- Orders and their lines, and the acknowledgement ledger that makes each acknowledgement happen once.

create table emag_orders (
  account            text not null,
  id                 bigint not null,
  status             smallint not null,
  type               smallint,
  is_complete        smallint,
  payment_mode_id    smallint,
  payment_mode       text,
  payment_status     smallint,
  delivery_mode      text,
  date               timestamptz not null,
  modified           timestamptz not null,
  shipping_tax       numeric(16,4),
  shipping_tax_voucher_split jsonb not null default '[]',
  vouchers           jsonb not null default '[]',
  customer           jsonb,
  customer_id        bigint,
  reason_cancellation smallint,
  cashed_co          numeric(16,4),
  cashed_cod         numeric(16,4),
  is_storno          boolean not null default false,
  acknowledged_at    timestamptz,
  raw                jsonb not null,
  content_hash       text not null,
  first_seen_at      timestamptz not null default now(),
  updated_at         timestamptz not null default now(),
  primary key (account, id)
);
create index emag_orders_modified on emag_orders (account, modified);
create index emag_orders_new on emag_orders (account, status) where status = 1;

create table emag_order_lines (
  account         text not null,
  order_id        bigint not null,
  line_id         bigint not null,
  product_id      bigint,
  part_number     text,
  part_number_key text,
  quantity        integer,
  sale_price      numeric(16,4),
  currency        text,
  vat             numeric(8,4),
  status          smallint,
  product_voucher_split jsonb not null default '[]',
  raw             jsonb not null,
  primary key (account, order_id, line_id),
  foreign key (account, order_id) references emag_orders (account, id) on delete cascade
);
create index emag_order_lines_part_number on emag_order_lines (part_number);

-- One row per order the daemon decided to acknowledge. `sending` is committed before the call, so
-- after a crash the outcome is checked by reading the order, never by sending blindly again.
create table emag_order_acks (
  account      text not null,
  order_id     bigint not null,
  state        text not null check (state in ('sending', 'done', 'skipped', 'failed')),
  attempts     integer not null default 0,
  error        text,
  requested_at timestamptz not null default now(),
  done_at      timestamptz,
  primary key (account, order_id)
);
