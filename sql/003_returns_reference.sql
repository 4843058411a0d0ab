-- emag-sync: return requests (RMA), per-account reference data (VAT rates, handling times, courier
-- accounts), and eMAG's static enumerations with their texts and lookup functions.

-- Return requests as rma/read serves them; one row per account and eMAG return id.
create table emag_rmas (
  account         text not null,
  emag_id         bigint not null,
  order_id        bigint,
  type            smallint,
  request_status  smallint,
  return_type     smallint,
  return_reason   integer,
  date            timestamptz,
  products        jsonb not null default '[]',
  customer_name   text,
  awbs            jsonb not null default '[]',
  status_history  jsonb not null default '[]',
  raw             jsonb not null,
  content_hash    text not null,
  first_seen_at   timestamptz not null default now(),
  -- Moves only when the record changed.
  updated_at      timestamptz not null default now(),
  -- When the mirror first saw the return in a final status (4 refused, 5 canceled, 7 finalized).
  final_at        timestamptz,
  primary key (account, emag_id)
);
create index emag_rmas_date on emag_rmas (account, date);
create index emag_rmas_order on emag_rmas (order_id);
-- The rma stream re-reads every non-final return on each run; this keeps finding them cheap.
create index emag_rmas_open_idx on emag_rmas (account, date)
  where request_status is null or request_status not in (4, 5, 7);

-- vat/read per account; a refresh replaces the set (rows eMAG no longer lists are deleted).
create table emag_vat_rates (
  account     text not null,
  vat_id      integer not null,
  vat_rate    numeric(8,4),
  is_default  boolean,
  raw         jsonb not null,
  updated_at  timestamptz not null default now(),
  primary key (account, vat_id)
);

-- handling_time/read per account: the handling times (days) an offer may declare.
create table emag_handling_times (
  account        text not null,
  handling_time  integer not null,
  raw            jsonb not null,
  updated_at     timestamptz not null default now(),
  primary key (account, handling_time)
);

-- courier_accounts/read per account: the accounts AWBs may be issued on.
create table emag_courier_accounts (
  account                    text not null,
  account_id                 bigint not null,
  account_display_name       text,
  courier_account_type       smallint,
  courier_name               text,
  courier_account_properties jsonb not null default '[]',
  created                    timestamptz,
  status                     smallint,
  pickup_country_code        text,
  raw                        jsonb not null,
  updated_at                 timestamptz not null default now(),
  primary key (account, account_id)
);

-- eMAG's fixed code lists (working notes "Enumerations", official doc v4.4.9), shipped as seed data.
create table emag_enumerations (
  kind  text not null,
  code  integer not null,
  text  text not null,
  primary key (kind, code)
);

insert into emag_enumerations (kind, code, text) values
  ('order_status', 0, 'canceled'),
  ('order_status', 1, 'new'),
  ('order_status', 2, 'in progress'),
  ('order_status', 3, 'prepared'),
  ('order_status', 4, 'finalized'),
  ('order_status', 5, 'returned'),
  ('payment_mode', 1, 'cash on delivery'),
  ('payment_mode', 2, 'bank transfer'),
  ('payment_mode', 3, 'online card'),
  ('order_type', 2, 'fulfilled by eMAG (FBE)'),
  ('order_type', 3, 'fulfilled by seller'),
  ('cancellation_reason', 1, 'Out of stock'),
  ('cancellation_reason', 2, 'Cancelled by the client'),
  ('cancellation_reason', 3, 'The client can not be contacted'),
  ('cancellation_reason', 15, 'Courier delivery term is too large'),
  ('cancellation_reason', 16, 'Transport tax is too large'),
  ('cancellation_reason', 17, 'Large delivery term until the product arrives in our warehouse'),
  ('cancellation_reason', 18, 'Better offer in another store'),
  ('cancellation_reason', 19, 'Payment order has not been paid'),
  ('cancellation_reason', 20, 'Undelivered order, courier reasons'),
  ('cancellation_reason', 21, 'Others'),
  ('cancellation_reason', 22, 'Order incomplete – automatic cancellation'),
  ('cancellation_reason', 23, 'The customer changed his mind'),
  ('cancellation_reason', 24, 'By customer request'),
  ('cancellation_reason', 25, 'Failed delivery'),
  ('cancellation_reason', 26, 'Late shipment'),
  ('cancellation_reason', 27, 'Irrelevant order'),
  ('cancellation_reason', 28, 'Canceled by SuperAdmin on seller request'),
  ('cancellation_reason', 29, 'Blacklisted customer'),
  ('cancellation_reason', 30, 'No VAT invoice'),
  ('cancellation_reason', 31, 'The eMAG Marketplace partner requested the order cancellation'),
  ('cancellation_reason', 32, 'The delivery estimate is too long'),
  ('cancellation_reason', 33, 'The product is no longer available in the partner''s stock'),
  ('cancellation_reason', 34, 'Other reasons'),
  ('cancellation_reason', 35, 'The delivery is too expensive'),
  ('cancellation_reason', 36, 'The customer found a better price elsewhere'),
  ('cancellation_reason', 37, 'The customer registered another eMAG order with a similar product'),
  ('cancellation_reason', 38, 'The customer changed his mind, does not need the product'),
  ('cancellation_reason', 39, 'The customer can purchase the product only by installments'),
  ('cancellation_reason', 40, 'Other reasons EIS'),
  ('cancellation_reason', 41, 'Out of stock – instalments'),
  ('cancellation_reason', 42, 'No longer in the partner''s stock – instalments'),
  ('cancellation_reason', 43, 'The delivery estimate is too long'),
  ('rma_status', 1, 'incomplete'),
  ('rma_status', 2, 'new'),
  ('rma_status', 3, 'acknowledged'),
  ('rma_status', 4, 'refused'),
  ('rma_status', 5, 'canceled'),
  ('rma_status', 6, 'received'),
  ('rma_status', 7, 'finalized'),
  ('rma_return_type', 1, 'Replacement with same product'),
  ('rma_return_type', 2, 'Replacement with a different product'),
  ('rma_return_type', 3, 'Refund'),
  ('rma_return_type', 4, 'Cancel payment contract for this product'),
  ('rma_return_type', 5, 'Voucher'),
  ('attachment_type', 1, 'invoice'),
  ('attachment_type', 3, 'warranty'),
  ('attachment_type', 4, 'user manual'),
  ('attachment_type', 8, 'user guide'),
  ('attachment_type', 10, 'AWB'),
  ('attachment_type', 11, 'proforma'),
  ('offer_status', 0, 'inactive'),
  ('offer_status', 1, 'active'),
  ('offer_status', 2, 'end of life'),
  ('offer_validation_status', 1, 'valid'),
  ('offer_validation_status', 2, 'invalid price'),
  ('validation_status', 0, 'draft'),
  ('validation_status', 1, 'in validation'),
  ('validation_status', 2, 'awaiting brand'),
  ('validation_status', 3, 'awaiting EAN approval'),
  ('validation_status', 4, 'new doc pending'),
  ('validation_status', 5, 'brand rejected'),
  ('validation_status', 6, 'EAN rejected'),
  ('validation_status', 8, 'doc rejected'),
  ('validation_status', 9, 'approved'),
  ('validation_status', 10, 'blocked'),
  ('validation_status', 11, 'update pending'),
  ('validation_status', 12, 'update rejected');

-- The text of any enumeration code; null for an unknown kind or code.
create function get_enumeration_text(p_kind text, p_code integer) returns text
  language sql stable parallel safe
  as $$ select text from emag_enumerations where kind = p_kind and code = p_code $$;

create function get_cancellation_reason_text(p_code integer) returns text
  language sql stable parallel safe
  as $$ select get_enumeration_text('cancellation_reason', p_code) $$;

create function get_order_status_text(p_code integer) returns text
  language sql stable parallel safe
  as $$ select get_enumeration_text('order_status', p_code) $$;

create function get_payment_mode_text(p_code integer) returns text
  language sql stable parallel safe
  as $$ select get_enumeration_text('payment_mode', p_code) $$;

create function get_rma_status_text(p_code integer) returns text
  language sql stable parallel safe
  as $$ select get_enumeration_text('rma_status', p_code) $$;

-- Returns still waiting on someone (not refused, canceled or finalized), oldest first, with texts.
create view emag_rmas_open as
select
  r.account,
  r.emag_id,
  r.order_id,
  r.type,
  r.request_status,
  get_rma_status_text(r.request_status)                      as request_status_text,
  r.return_type,
  get_enumeration_text('rma_return_type', r.return_type)     as return_type_text,
  r.return_reason,
  r.customer_name,
  r.date,
  now() - r.date                                             as age,
  r.updated_at
from emag_rmas r
where r.request_status is null or r.request_status not in (4, 5, 7)
order by r.date nulls first, r.account, r.emag_id;
