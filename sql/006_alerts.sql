-- Alert history: one row per alert from when it fired until it cleared, with its notifications.
-- Kept EMAG_LOG_RETENTION_DAYS after clearing. The engine's state lives here, so a restart neither
-- forgets an active alert nor notifies it again.

create table emag_alerts (
  id                   uuid primary key,
  -- type/account/stream: at most one active alert per key.
  key                  text not null,
  type                 text not null,
  account              text,
  stream               text,
  severity             text not null check (severity in ('warning', 'critical')),
  message              text not null,
  action               text not null,
  started_at           timestamptz not null,
  cleared_at           timestamptz,
  -- When the firing / resolved notification was delivered; the result says how it ended:
  -- null while being delivered, 'delivered', 'undelivered' (given up), 'no_webhook' (none configured).
  notified_at          timestamptz,
  notify_result        text check (notify_result in ('delivered', 'undelivered', 'no_webhook')),
  resolved_notified_at timestamptz,
  resolved_notify_result text check (resolved_notify_result in ('delivered', 'undelivered', 'no_webhook')),
  -- Why the last delivery attempt failed (no URL, no body: webhook paths are secrets).
  notify_error         text
);
create unique index emag_alerts_active on emag_alerts (key) where cleared_at is null;
create index emag_alerts_started on emag_alerts (started_at desc);
create index emag_alerts_cleared on emag_alerts (cleared_at) where cleared_at is not null;
