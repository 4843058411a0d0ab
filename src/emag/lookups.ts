/**
 * Reading single records by id: what the streams and the outbox both need to learn eMAG's current
 * state of an offer, an order or a return (before and after a write, or to verify a scan).
 */
import type { EmagClient } from './client.ts';
import { EmagError } from './errors.ts';
import { type OfferRow, parseOffer } from './offer-record.ts';
import { PAGE_SIZE, readList } from './pages.ts';
import { parseAll } from './quirks.ts';

/**
 * Reads offers by id: 100 ids in one `id` filter where eMAG takes a list (the doc does not say it
 * does), else one request per id. Records that cannot be parsed are left out.
 */
export async function readOffersById(client: EmagClient, ids: number[], signal?: AbortSignal): Promise<Map<number, OfferRow>> {
  const found = new Map<number, OfferRow>();
  const read = async (id: number | number[]) => parseAll(await readList(client, 'product_offer', { id, currentPage: 1, itemsPerPage: Array.isArray(id) ? PAGE_SIZE : 1 }, signal), parseOffer).rows;
  const oneByOne = async (chunk: number[]) => {
    for (const id of chunk) for (const row of await read(id)) if (row.id === id) found.set(id, row);
  };
  for (let i = 0; i < ids.length; i += PAGE_SIZE) {
    const chunk = ids.slice(i, i + PAGE_SIZE);
    const asked = new Set(chunk);
    let rows: OfferRow[];
    try {
      rows = await read(chunk);
    } catch (err) {
      if (!(err instanceof EmagError) || err.kind !== 'rejected' || chunk.length === 1) throw err;
      await oneByOne(chunk);
      continue;
    }
    // Offers we did not ask for mean the list filter was ignored: ask one by one instead.
    if (rows.some((r) => !asked.has(r.id))) await oneByOne(chunk);
    else for (const row of rows) found.set(row.id, row);
  }
  return found;
}

/** The first record of a read by id, as eMAG sent it, or null when eMAG does not return it. */
async function readOne(client: EmagClient, resource: string, body: object, signal?: AbortSignal): Promise<unknown | null> {
  const items = await readList(client, resource, { ...body, currentPage: 1, itemsPerPage: 1 }, signal);
  return items.length > 0 ? items[0] : null;
}

/** Reads one order by id (its type given: 2 FBE, 3 seller-fulfilled), or null when eMAG does not return it. */
export function readOrder(client: EmagClient, orderId: number, type: number, signal?: AbortSignal): Promise<unknown | null> {
  return readOne(client, 'order', { id: orderId, type }, signal);
}

/** Reads one return request by `emag_id` (its type given), or null when eMAG does not return it. */
export function readRma(client: EmagClient, emagId: number, type: number, signal?: AbortSignal): Promise<unknown | null> {
  return readOne(client, 'rma', { emag_id: emagId, type }, signal);
}
