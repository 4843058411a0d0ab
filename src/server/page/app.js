// The emag-sync console: one ES module, no build step, no dependencies. It reads the status
// server's API, follows /api/events (polling while the stream is down), and offers the controls
// once the admin token is entered. Everything from the API is inserted as text, never as HTML.

const TOKEN_KEY = 'emag-sync-admin-token';
const PAGE_SIZE = 25;
const POLL_MS = 3000;

const $ = (id) => document.getElementById(id);
const nf = new Intl.NumberFormat();
const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
const dtf = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

const state = {
  status: null,
  token: sessionStorage.getItem(TOKEN_KEY),
  running: new Map(),
  /** Runs whose end we saw: a status document cached from just before must not bring them back. */
  ended: new Set(),
  history: { stack: [], before: null, next: null },
  catalog: { page: 1, total: 0 },
  poller: null,
};

/** An element with properties/attributes and children; strings become text nodes. */
function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c));
  return el;
}

function relative(iso) {
  const s = (Date.parse(iso) - Date.now()) / 1000;
  const a = Math.abs(s);
  if (a < 45) return rtf.format(Math.round(s), 'second');
  if (a < 2700) return rtf.format(Math.round(s / 60), 'minute');
  if (a < 79200) return rtf.format(Math.round(s / 3600), 'hour');
  return rtf.format(Math.round(s / 86400), 'day');
}

/** A relative time with the absolute one (browser locale) on hover. */
function when(iso, none = 'never') {
  if (!iso) return h('span', { class: 'muted' }, none);
  return h('time', { datetime: iso, title: dtf.format(new Date(iso)) }, relative(iso));
}

const num = (n) => (n === null || n === undefined ? '–' : nf.format(n));

function announce(text) {
  $('announce').textContent = text;
}

// --- the API ---------------------------------------------------------------------------------

async function api(path) {
  const res = await fetch(path, { headers: { accept: 'application/json' } });
  const body = await res.json().catch(() => null);
  if (!res.ok) throw new Error(body?.message ?? `HTTP ${res.status}`);
  return body;
}

async function control(path, body = {}, token = state.token) {
  const res = await fetch(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  const json = await res.json().catch(() => null);
  if (res.status === 401 && token === state.token) tokenRefused('The admin token was refused: it is not the daemon’s EMAG_SYNC_ADMIN_TOKEN. Enter it again.');
  if (!res.ok) {
    const err = new Error(json?.message ?? `HTTP ${res.status}`);
    err.status = res.status;
    throw err;
  }
  return json;
}

const controlsOn = () => Boolean(state.status?.controls && state.token);

// --- the token -------------------------------------------------------------------------------

function renderAuth() {
  const enabled = Boolean(state.status?.controls);
  $('controls-off').hidden = !state.status || enabled;
  $('token-form').hidden = !enabled || Boolean(state.token);
  $('token-state').hidden = !controlsOn();
  for (const el of document.querySelectorAll('.control')) el.hidden = !controlsOn();
}

function tokenRefused(message) {
  state.token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  $('token-error').textContent = message;
  $('token-error').hidden = false;
  rerender();
}

$('token-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const token = $('token').value.trim();
  $('token-error').hidden = true;
  // The token is checked with the harmless control: a connection test of the first account (one
  // cheap eMAG read under its budget), whose verdict is worth showing anyway.
  const first = state.status?.accounts[0]?.name;
  try {
    const v = await control(`/api/accounts/${encodeURIComponent(first)}/test`, {}, token);
    announce(`Controls are on. ${first}: ${v.message}`);
  } catch (err) {
    $('token-error').textContent = err.status === 401 ? 'That token is wrong: the daemon refused it.' : err.message;
    $('token-error').hidden = false;
    return;
  }
  state.token = token;
  sessionStorage.setItem(TOKEN_KEY, token);
  $('token').value = '';
  rerender();
});

$('forget').addEventListener('click', () => {
  state.token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  announce('The token is forgotten; the page is read-only.');
  rerender();
});

// --- status: accounts, alerts, outbox --------------------------------------------------------

function renderStatus(s) {
  const first = state.status === null;
  state.status = s;
  $('version').textContent = `v${s.version}`;
  $('score').textContent = `${s.healthScore}/100`;
  if (first) fillSelects(s);
  renderAuth();
  renderAccounts(s);
  renderAlerts(s.alerts);
  renderOutboxCounts(s);
  // Runs of other instances (and those started before the page) come from the status document.
  const seen = new Set();
  for (const a of s.accounts) {
    for (const st of a.streams) {
      if (!st.running || state.ended.has(st.running.runId)) continue;
      seen.add(st.running.runId);
      const known = state.running.get(st.running.runId);
      upsertRun({ ...known, ...st.running, id: st.running.runId, account: a.name, stream: st.stream, status: 'running' });
    }
  }
  // A run that is no longer running anywhere ended while we were not listening. One that started a
  // moment ago may not be in this (cached) document yet.
  for (const [id, r] of state.running) if (!seen.has(id) && Date.now() - Date.parse(r.startedAt) > 5000) removeRun(id);
}

function fillSelects(s) {
  const streams = [...new Set(s.accounts.flatMap((a) => a.streams.map((st) => st.stream)))];
  for (const a of s.accounts) {
    $('sync-account').append(h('option', { value: a.name }, a.name));
    $('history-account').append(h('option', { value: a.name }, a.name));
    $('catalog-source').append(h('option', { value: a.name }, `offers of ${a.name}`));
  }
  for (const st of streams) {
    $('sync-stream').append(h('option', { value: st }, st));
    $('history-stream').append(h('option', { value: st }, st));
  }
}

function renderAccounts(s) {
  const cards = s.accounts.map((a) =>
    h(
      'article',
      { class: 'card', 'data-account': a.name },
      h('h3', {}, a.name, h('span', { class: `badge s-${a.status}` }, a.status.replace('_', ' '))),
      h('div', { class: 'muted' }, a.owned ? 'owned by this instance' : 'synced by another instance', ' · last sync ', when(a.lastSync), ' · next ', when(a.nextSync, 'not scheduled')),
      h(
        'ul',
        {},
        a.streams.map((st) =>
          h(
            'li',
            {},
            h('strong', {}, st.stream),
            ' ',
            st.stale ? h('span', { class: 's-stale' }, 'stale ') : null,
            st.lastSuccess ? ['last success ', when(st.lastSuccess)] : h('span', { class: 'muted' }, 'not synced yet'),
            st.nextRun ? [' · next ', when(st.nextRun)] : null,
            st.lastError ? h('div', { class: 'error' }, 'last error ', when(st.lastError.at), ': ', st.lastError.message) : null,
          ),
        ),
      ),
      controlsOn() ? h('p', {}, h('button', { type: 'button', class: 'ctl', onclick: () => testAccount(a.name) }, `Test connection of ${a.name}`)) : null,
      h('p', { class: 'test-result', 'aria-live': 'polite' }),
    ),
  );
  $('accounts').replaceChildren(...cards);
}

async function testAccount(name) {
  const out = document.querySelector(`[data-account="${CSS.escape(name)}"] .test-result`);
  out.textContent = 'Testing…';
  try {
    const v = await control(`/api/accounts/${encodeURIComponent(name)}/test`);
    out.className = `test-result ${v.ok ? 's-ok' : 'error'}`;
    out.textContent = `${v.ok ? '✔' : '✘'} ${v.message}`;
    announce(`${name}: ${v.ok ? 'connection works' : 'connection failed'}`);
  } catch (err) {
    out.textContent = err.message;
  }
}

function renderAlerts(alerts) {
  $('alerts-none').hidden = alerts.length > 0;
  $('alerts').replaceChildren(
    ...alerts.map((a) => h('li', {}, h('span', { class: `badge s-${a.severity}` }, a.severity), ' ', h('strong', {}, a.message), h('div', { class: 'muted' }, a.action))),
  );
}

function renderOutboxCounts(s) {
  $('outbox-counts').replaceChildren(
    ...s.accounts.map((a) => {
      const c = a.commands;
      const kinds = c ? Object.entries(c.byKind) : [];
      return h(
        'article',
        { class: 'card' },
        h('h3', {}, a.name),
        c ? h('div', {}, `${num(c.pending)} waiting · ${num(c.failed)} failed · ${num(c.conflict)} in conflict`) : h('div', { class: 'muted' }, 'unknown'),
        kinds.length ? h('ul', {}, kinds.map(([k, n]) => h('li', {}, `${k}: ${num(n.pending)} waiting, ${num(n.failed)} failed, ${num(n.conflict)} in conflict`))) : null,
      );
    }),
  );
}

async function loadOutbox() {
  const [failed, conflicts] = await Promise.all([api('/api/commands?status=failed&limit=50'), api('/api/conflicts')]);
  $('failed-none').hidden = failed.items.length > 0;
  $('failed').replaceChildren(
    ...failed.items.map((c) =>
      h(
        'li',
        {},
        h('strong', {}, `#${c.id} ${c.account} ${c.kind}`),
        ' ',
        when(c.updated_at),
        h('div', { class: 'error' }, c.error ?? 'failed'),
        controlsOn()
          ? h(
              'p',
              {},
              h('button', { type: 'button', class: 'ctl', onclick: () => act(`/api/commands/${c.id}/retry`, {}, `Command ${c.id} is queued again.`) }, `Retry command ${c.id}`),
              ' ',
              h('button', { type: 'button', class: 'ctl', onclick: () => act(`/api/commands/${c.id}/cancel`, {}, `Command ${c.id} is cancelled.`) }, `Cancel command ${c.id}`),
            )
          : null,
      ),
    ),
  );
  $('conflicts-none').hidden = conflicts.items.length > 0;
  $('conflicts').replaceChildren(
    ...conflicts.items.map((c) =>
      h(
        'li',
        {},
        h('strong', {}, `#${c.id} ${c.account} offer ${c.offer_id}`),
        ' ',
        when(c.created_at),
        h('div', {}, 'local ', JSON.stringify(c.local), ' · eMAG ', JSON.stringify(c.emag)),
        controlsOn()
          ? h(
              'p',
              {},
              h('button', { type: 'button', class: 'ctl', onclick: () => act(`/api/conflicts/${c.id}/resolve`, { keep: 'local' }, `Conflict ${c.id}: the local value will be sent.`) }, 'Keep local'),
              ' ',
              h('button', { type: 'button', class: 'ctl', onclick: () => act(`/api/conflicts/${c.id}/resolve`, { keep: 'emag' }, `Conflict ${c.id}: eMAG’s value is kept.`) }, 'Keep eMAG'),
            )
          : null,
      ),
    ),
  );
}

async function act(path, body, done) {
  try {
    await control(path, body);
    announce(done);
  } catch (err) {
    announce(err.message);
  }
  await Promise.all([loadOutbox(), refreshStatus()]).catch(() => {});
}

// --- running runs ----------------------------------------------------------------------------

function figures(r) {
  const parts = [`${num(r.pagesDone)}/${r.pagesTotal === null || r.pagesTotal === undefined ? '?' : num(r.pagesTotal)} pages`, `${num(r.itemsSeen)} items`, `${num(r.inserted)} new`, `${num(r.updated)} changed`, `${num(r.unchanged)} unchanged`];
  if (r.failed) parts.push(`${num(r.failed)} failed`);
  parts.push(`${num(r.apiRequests)} API requests`);
  if (r.rateLimitWaits !== undefined) parts.push(`${num(r.rateLimitWaits)} rate-limit waits`);
  return parts.join(' · ');
}

/** Adds or updates a running run in place, so its <progress> keeps its identity as it advances. */
function upsertRun(r) {
  state.running.set(r.id, r);
  let li = document.querySelector(`#running li[data-run="${r.id}"]`);
  if (!li) {
    li = h(
      'li',
      { 'data-run': r.id },
      h('div', { class: 'head' }, h('strong', {}, `${r.account}/${r.stream}`), h('span', { class: 'muted started' })),
      h('progress', { max: 1, 'aria-label': `progress of ${r.account}/${r.stream} (run ${r.id})` }),
      h('div', { class: 'figures muted' }),
      h('p', { class: 'actions' }),
    );
    $('running').append(li);
  }
  li.querySelector('.started').replaceChildren(`run ${r.id} · ${r.mode ?? ''} · started `, when(r.startedAt));
  const bar = li.querySelector('progress');
  if (r.pagesTotal) {
    bar.max = r.pagesTotal;
    bar.value = Math.min(r.pagesDone, r.pagesTotal);
  } else bar.removeAttribute('value');
  li.querySelector('.figures').textContent = figures(r);
  const actions = li.querySelector('.actions');
  if (controlsOn() && !actions.firstChild) actions.append(h('button', { type: 'button', class: 'ctl', onclick: () => cancelRun(r.id) }, `Cancel run ${r.id}`));
  if (!controlsOn()) actions.replaceChildren();
  $('running-none').hidden = true;
}

function removeRun(id) {
  state.running.delete(id);
  document.querySelector(`#running li[data-run="${id}"]`)?.remove();
  $('running-none').hidden = state.running.size > 0;
}

async function cancelRun(id) {
  try {
    await control(`/api/runs/${id}/cancel`);
    // The run may have ended (and been announced) before this answer arrived: don't talk over it.
    if (state.running.has(id)) announce(`Run ${id} is being cancelled.`);
  } catch (err) {
    announce(err.message);
  }
}

function summary(r) {
  const secs = r.durationSeconds === null || r.durationSeconds === undefined ? '' : ` in ${nf.format(r.durationSeconds)} s`;
  return `${r.account}/${r.stream} ${r.status}${secs}: ${num(r.itemsSeen)} seen, ${num(r.inserted)} new, ${num(r.updated)} changed, ${num(r.deleted)} deleted, ${num(r.failed)} failed${r.error ? ` — ${r.error}` : ''}`;
}

// --- live events, polling while they are down --------------------------------------------------

function follow() {
  const es = new EventSource('/api/events');
  es.addEventListener('open', () => {
    $('live').textContent = 'live';
    stopPolling();
  });
  es.addEventListener('error', () => {
    $('live').textContent = 'reconnecting (polling meanwhile)';
    startPolling();
  });
  es.addEventListener('run', (ev) => {
    const { type, run } = JSON.parse(ev.data);
    if (type === 'finished') {
      state.ended.add(run.id);
      removeRun(run.id);
      announce(summary(run));
      void loadHistory();
      void refreshStatus();
    } else if (!state.ended.has(run.id)) upsertRun(run);
  });
  es.addEventListener('alert', (ev) => {
    const { type, alert } = JSON.parse(ev.data);
    announce(`${type === 'started' ? 'Alert' : 'Cleared'}: ${alert.message}`);
  });
  es.addEventListener('status', (ev) => renderStatus(JSON.parse(ev.data)));
}

function startPolling() {
  if (state.poller) return;
  state.polling = true;
  state.poller = setInterval(() => {
    void refreshStatus();
    void loadHistory();
  }, POLL_MS);
}

function stopPolling() {
  clearInterval(state.poller);
  state.poller = null;
  state.polling = false;
}

async function refreshStatus() {
  try {
    renderStatus(await api('/api/status'));
  } catch (err) {
    announce(`Status unavailable: ${err.message}`);
  }
}

// --- start a sync ----------------------------------------------------------------------------

$('sync-mode').addEventListener('change', () => {
  $('filters-box').hidden = $('sync-mode').value !== 'selective';
});

$('sync-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const body = { account: $('sync-account').value, stream: $('sync-stream').value };
  const mode = $('sync-mode').value;
  if (mode) body.mode = mode;
  if (mode === 'selective') {
    body.filters = {};
    for (const pair of $('sync-filters').value.split(',')) {
      const [name, ...rest] = pair.split('=');
      if (name.trim()) body.filters[name.trim()] = rest.join('=').trim();
    }
  }
  try {
    const { runs, skipped } = await control('/api/sync', body);
    for (const r of runs) upsertRun({ id: r.runId, account: r.account, stream: r.stream, mode: mode || 'default', startedAt: new Date().toISOString(), pagesDone: 0, pagesTotal: null, itemsSeen: 0, inserted: 0, updated: 0, unchanged: 0, apiRequests: 0 });
    announce(`Started ${runs.map((r) => `${r.account}/${r.stream} (run ${r.runId})`).join(', ')}${skipped?.length ? `; skipped ${skipped.map((s) => `${s.account}/${s.stream}`).join(', ')}` : ''}.`);
  } catch (err) {
    announce(`Not started: ${err.message}`);
  }
});

// --- history ---------------------------------------------------------------------------------

async function loadHistory() {
  const p = new URLSearchParams({ limit: String(PAGE_SIZE) });
  for (const name of ['account', 'stream', 'status']) {
    const v = $(`history-${name}`).value;
    if (v) p.set(name, v);
  }
  if (state.history.before) p.set('before', String(state.history.before));
  const { runs, next } = await api(`/api/runs?${p}`);
  state.history.next = next;
  $('history-older').disabled = next === null;
  $('history-newest').disabled = state.history.before === null;
  $('history').tBodies[0].replaceChildren(
    ...runs.map((r) =>
      h(
        'tr',
        {},
        h('td', { class: 'num' }, String(r.id)),
        h('td', {}, r.account),
        h('td', {}, r.stream),
        h('td', { class: `s-${r.status}` }, r.status),
        h('td', {}, when(r.startedAt)),
        h('td', { class: 'num' }, r.durationSeconds === null ? '–' : `${nf.format(r.durationSeconds)} s`),
        h('td', { class: 'num' }, num(r.itemsSeen)),
        h('td', { class: 'num' }, num(r.inserted + r.updated + r.deleted)),
        h('td', { class: 'error' }, r.error ?? ''),
      ),
    ),
  );
}

$('history-form').addEventListener('change', () => {
  state.history.before = null;
  void loadHistory();
});
$('history-older').addEventListener('click', () => {
  state.history.stack.push(state.history.before);
  state.history.before = state.history.next;
  void loadHistory();
});
$('history-newest').addEventListener('click', () => {
  state.history.stack = [];
  state.history.before = null;
  void loadHistory();
});

// --- catalog ---------------------------------------------------------------------------------

function catalogParams(withPage) {
  const account = $('catalog-source').value;
  const p = new URLSearchParams();
  if (account) p.set('account', account);
  const q = $('catalog-q').value.trim();
  if (q) p.set('q', q);
  const status = $('catalog-status').value;
  if (account && status) p.set('status', status);
  if (withPage) {
    p.set('page', String(state.catalog.page));
    p.set('limit', String(PAGE_SIZE));
  }
  return { account, p };
}

async function loadCatalog() {
  const { account, p } = catalogParams(true);
  $('catalog-status').disabled = !account;
  const data = await api(`${account ? '/api/offers' : '/api/products'}?${p}`);
  state.catalog.total = data.total;
  const pages = Math.max(1, Math.ceil(data.total / PAGE_SIZE));
  $('catalog-total').textContent = `${num(data.total)} ${account ? `offers of ${account}` : 'products'} match`;
  $('catalog-page').textContent = `page ${num(state.catalog.page)} of ${num(pages)}`;
  $('catalog-prev').disabled = state.catalog.page <= 1;
  $('catalog-next').disabled = state.catalog.page >= pages;
  const csv = catalogParams(false);
  csv.p.set('format', 'csv');
  $('catalog-csv').href = `${account ? '/api/offers' : '/api/products'}?${csv.p}`;
  $('catalog').tBodies[0].replaceChildren(
    ...data.items.map((o) => {
      const acc = account ? o.account : o.source_account;
      const id = account ? o.id : o.offer_id;
      const open = () => showOffer(acc, id);
      const key = (e) => {
        if (e.key !== 'Enter' && e.key !== ' ') return;
        e.preventDefault();
        open();
      };
      return h(
        'tr',
        { tabindex: 0, 'data-sku': o.part_number ?? '', onclick: open, onkeydown: key },
        h('td', {}, o.part_number ?? '–'),
        h('td', {}, o.name ?? ''),
        h('td', {}, account ? o.account : (o.accounts ?? [o.source_account]).join(', ')),
        h('td', {}, o.status === null ? '–' : String(o.status)),
        h('td', { class: 'num' }, o.sale_price === null ? '–' : `${nf.format(Number(o.sale_price))} ${o.currency ?? ''}`),
        h('td', { class: 'num' }, num(o.stock)),
        h('td', {}, when(o.updated_at)),
      );
    }),
  );
}

async function showOffer(account, id) {
  const o = await api(`/api/offers/${encodeURIComponent(account)}/${id}`);
  $('details-title').textContent = o.name ?? `Offer ${id}`;
  const fields = [
    ['Account', o.account],
    ['Offer id', o.id],
    ['SKU', o.part_number],
    ['PNK', o.part_number_key],
    ['Brand', o.brand],
    ['Status', o.status],
    ['Price', o.sale_price === null ? null : `${nf.format(Number(o.sale_price))} ${o.currency ?? ''}`],
    ['Stock', o.stock],
    ['Updated', o.updated_at ? dtf.format(new Date(o.updated_at)) : null],
    ['Deleted', o.deleted_at ? dtf.format(new Date(o.deleted_at)) : null],
  ];
  $('details-fields').replaceChildren(...fields.filter(([, v]) => v !== null && v !== undefined).flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, String(v))]));
  $('details-raw').textContent = JSON.stringify(o.raw, null, 2);
  $('details').showModal();
}

$('catalog-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  state.catalog.page = 1;
  void loadCatalog();
});
$('catalog-source').addEventListener('change', () => {
  state.catalog.page = 1;
  void loadCatalog();
});
$('catalog-status').addEventListener('change', () => {
  state.catalog.page = 1;
  void loadCatalog();
});
$('catalog-prev').addEventListener('click', () => {
  state.catalog.page--;
  void loadCatalog();
});
$('catalog-next').addEventListener('click', () => {
  state.catalog.page++;
  void loadCatalog();
});

// --- start ----------------------------------------------------------------------------------

/** Re-renders what depends on whether the controls are on. */
function rerender() {
  renderAuth();
  if (state.status) renderAccounts(state.status);
  for (const r of state.running.values()) upsertRun(r);
  void loadOutbox().catch(() => {});
}

setInterval(() => {
  for (const t of document.querySelectorAll('time[datetime]')) t.textContent = relative(t.dateTime);
}, 15_000);

await refreshStatus();
follow();
await Promise.all([loadHistory(), loadCatalog(), loadOutbox()]).catch((err) => announce(err.message));
