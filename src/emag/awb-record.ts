/**
 * The AWB record (shipping labels, §6): what `awb/save` and `awb/read` answer, parsed with the
 * shared field readers (ids as strings or numbers, `awb` and `status` as a list or one object, the
 * courier under either of its names).
 */
import { int, list, object, record, RecordError, str } from './quirks.ts';

/** An AWB as the mirror keeps it. */
export interface AwbRow {
  emag_id: number;
  order_id: number | null;
  rma_id: number | null;
  reservation_id: number | null;
  awb_number: string | null;
  awb_barcode: string | null;
  courier_account_id: number | null;
  courier_name: string | null;
  status_code: string | null;
  status_name: string | null;
  parcels?: number | null;
  envelopes?: number | null;
  weight?: number | null;
  cod?: number | null;
  command_id?: number | null;
  raw: unknown;
}

/** The first element of a field eMAG sends as a list or as one object. */
function firstOf(v: unknown, field: string, key: string | null): Record<string, unknown> {
  const items = Array.isArray(v) ? v : v && typeof v === 'object' ? [v] : list(v, field, key);
  return object(items[0], field, key) ?? {};
}

/** A positive id, or null when absent or not positive. */
function idOrNull(v: unknown, field: string, key: string | null): number | null {
  const n = int(v, field, key, Number.MAX_SAFE_INTEGER);
  return n !== null && n > 0 ? n : null;
}

/** Parses one `awb/read` record. Throws RecordError when it carries no usable AWB id. */
export function parseAwb(raw: unknown): AwbRow {
  const r = record(raw, 'AWB');
  const key = str(r.emag_id);
  const barcode = firstOf(r.awb, 'awb', key);
  const emagId = idOrNull(barcode.emag_id, 'awb.emag_id', key) ?? idOrNull(r.emag_id, 'emag_id', key);
  if (emagId === null) throw new RecordError('AWB without an emag_id', key);
  const status = firstOf(r.status, 'status', key);
  const courier = object(r.courier, 'courier', key) ?? {};
  return {
    emag_id: emagId,
    order_id: idOrNull(r.order_id, 'order_id', key),
    rma_id: idOrNull(r.rma_id, 'rma_id', key),
    reservation_id: idOrNull(r.reservation_id, 'reservation_id', key),
    awb_number: str(barcode.awb_number),
    awb_barcode: str(barcode.awb_barcode),
    courier_account_id: idOrNull(courier.courier_account_id ?? courier.courier_id ?? r.courier_id, 'courier_account_id', key),
    courier_name: str(courier.courier_name ?? r.courier_name),
    status_code: str(status.code),
    status_name: str(status.name),
    raw: r,
  };
}

/**
 * Parses what `awb/save` answers: the reservation, the courier and the AWB numbers issued (eMAG
 * returns them as a list, a single object, or a list of such results). Throws RecordError on garbage.
 */
export function parseAwbSave(results: unknown): Array<Omit<AwbRow, 'order_id' | 'rma_id'>> {
  const out: Array<Omit<AwbRow, 'order_id' | 'rma_id'>> = [];
  for (const item of Array.isArray(results) ? results : [results]) {
    const r = object(item, 'awb/save result', null) ?? {};
    const courier = object(r.courier, 'courier', null) ?? {};
    const barcodes = Array.isArray(r.awb) ? r.awb : r.awb ? [r.awb] : [];
    for (const raw of barcodes) {
      const b = object(raw, 'awb', null) ?? {};
      const emagId = idOrNull(b.emag_id, 'awb.emag_id', null);
      if (emagId === null) continue;
      out.push({
        emag_id: emagId,
        reservation_id: idOrNull(r.reservation_id, 'reservation_id', null),
        awb_number: str(b.awb_number),
        awb_barcode: str(b.awb_barcode),
        courier_account_id: idOrNull(r.courier_id ?? courier.courier_account_id, 'courier_id', null),
        courier_name: str(r.courier_name ?? courier.courier_name),
        status_code: null,
        status_name: null,
        raw: r,
      });
    }
  }
  return out;
}
