/**
 * `emag-sync alerts test`: sends one test notification to every configured webhook (signed like
 * the real ones) and reports each answer, so a person can check the wiring before an incident.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { ConfigError, loadAlertConfig } from '../config.ts';
import { notificationText, postOnce, safeUrl, type WebhookAlert } from '../alerts/notify.ts';
import { type Command, UsageError } from './command.ts';

/** The `alerts` command. */
export const alerts: Command = {
  summary: 'send a test notification to the configured webhooks',
  args: 'test',
  usage: `Usage: emag-sync alerts test

Sends one test notification ({"text", "alert": {"type": "test", …}}) to each URL of
EMAG_ALERT_WEBHOOK_URL, signed with EMAG_ALERT_WEBHOOK_SECRET when it is set, and prints each
answer (HTTP status, time, the first characters of the body). Exits 0 when every webhook accepted
it, 1 when any did not, 78 when no webhook is configured. Nothing is retried.`,
  options: {},
  positionals: 1,
  async run({ positionals }) {
    if (positionals[0] !== 'test') throw new UsageError(positionals[0] ? `unknown subcommand "${positionals[0]}"` : 'missing subcommand (test)');
    const config = loadAlertConfig();
    if (config.webhookUrls.length === 0) throw new ConfigError(['EMAG_ALERT_WEBHOOK_URL: no webhook configured (one or more URLs, comma-separated)']);
    const now = new Date().toISOString();
    const alert: WebhookAlert = {
      id: randomUUID(),
      type: 'test',
      severity: 'warning',
      message: `Test notification from emag-sync on ${hostname()}.`,
      action: 'None: this checks that notifications reach you.',
      state: 'firing',
      since: now,
    };
    const body = JSON.stringify({ text: notificationText(alert), alert });
    let failed = 0;
    for (const [i, url] of config.webhookUrls.entries()) {
      const a = await postOnce(url, body, { secret: config.webhookSecret, timeoutMs: config.webhookTimeoutMs });
      const answer = a.answer.replace(/\s+/g, ' ').trim().slice(0, 80);
      const where = `#${i + 1} ${safeUrl(url)}`;
      if (a.ok) console.log(`✔ ${where}: HTTP ${a.status} in ${a.ms} ms${answer ? ` ("${answer}")` : ''}`);
      else {
        failed++;
        console.log(`✘ ${where}: ${a.error}${answer ? ` ("${answer}")` : ''}`);
      }
    }
    if (config.webhookSecret) console.log(`signed: X-Emag-Sync-Signature: sha256=<HMAC of the body>`);
    return failed === 0 ? 0 : 1;
  },
};
