/**
 * eMAG's business rules that a command must satisfy before it is sent: the status matrices of
 * orders and returns, the known codes. Pure data and checks; no I/O.
 */

/** Cancellation reasons (`reason_cancellation`) eMAG accepts: 1–3 and 15–43. */
export const CANCELLATION_REASONS: ReadonlySet<number> = new Set([1, 2, 3, ...Array.from({ length: 29 }, (_, i) => 15 + i)]);

/**
 * Order status moves a seller may make with order/save (emag-api.md): 2→3/4/0; 3→4/0; 4→3/0 (within
 * 48 h) and 4→5; 0→2/3/4 (within 48 h). 1→2 happens only through acknowledge.
 */
export const ORDER_MOVES: Readonly<Record<number, readonly number[]>> = {
  1: [2],
  2: [3, 4, 0],
  3: [4, 0],
  4: [3, 0, 5],
  0: [2, 3, 4],
  5: [],
};

/** Return request moves a seller may make with rma/save (§7.2); 4, 5 and 7 are final. */
export const RMA_MOVES: Readonly<Record<number, readonly number[]>> = {
  1: [2],
  2: [3, 5],
  3: [5, 6],
  4: [],
  5: [],
  6: [4, 7],
  7: [],
};

/** Attachment types of order/attachments/save: 1 invoice, 3 warranty, 4 user manual, 8 user guide, 10 AWB, 11 proforma. */
export const ATTACHMENT_TYPES: ReadonlySet<number> = new Set([1, 3, 4, 8, 10, 11]);

/** Whether `from → to` is an allowed order status move. */
export function orderMoveAllowed(from: number, to: number): boolean {
  return ORDER_MOVES[from]?.includes(to) ?? false;
}

/** Whether `from → to` is an allowed return request move. */
export function rmaMoveAllowed(from: number, to: number): boolean {
  return RMA_MOVES[from]?.includes(to) ?? false;
}
