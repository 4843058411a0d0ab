/**
 * Pre-rendered `product_offer/read` pages, so a benchmark measures the client rather than the
 * sandbox building and serialising records. A page is served from its rendering only while it holds
 * the very same offers in the very same state: each offer's slot is compared (identity and every
 * field) with the copy taken when the page was rendered, so no mutation can ever be served stale.
 */
import type { OfferSlot } from './offer-record.ts';
import { ok, type Reply } from './reply.ts';

/** One rendered page: the answer's bytes and the state of the offers it was rendered from. */
interface Rendered {
  slots: readonly OfferSlot[];
  copies: OfferSlot[];
  body: Buffer;
}

/** Rendered pages of one catalog, by page request (`currentPage/itemsPerPage/detailed`). */
export class RenderedPages {
  readonly #pages = new Map<string, Rendered>();

  /**
   * The answer for a page of `slots`: its rendering when still exact, else rendered anew by
   * `render` and kept.
   */
  reply(key: string, slots: readonly OfferSlot[], render: (slots: readonly OfferSlot[]) => unknown[]): Reply {
    const cached = this.#pages.get(key);
    if (cached && unchanged(cached, slots)) return { status: 200, body: cached.body, contentType: 'application/json' };
    const body = Buffer.from(JSON.stringify(ok(render(slots)).body));
    this.#pages.set(key, { slots: [...slots], copies: slots.map((s) => ({ ...s })), body });
    return { status: 200, body, contentType: 'application/json' };
  }
}

/** Whether `slots` are the rendered page's offers, each in the state it was rendered in. */
function unchanged(r: Rendered, slots: readonly OfferSlot[]): boolean {
  if (r.slots.length !== slots.length) return false;
  for (let i = 0; i < slots.length; i++) {
    const now = slots[i];
    if (now !== r.slots[i]) return false;
    const then = r.copies[i] as unknown as Record<string, unknown>;
    const fields = Object.keys(now) as Array<keyof OfferSlot>;
    if (fields.length !== Object.keys(then).length) return false;
    for (const f of fields) if (now[f] !== then[f]) return false;
  }
  return true;
}
