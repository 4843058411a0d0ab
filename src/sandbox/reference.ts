/**
 * Reference data every account reads the same way: VAT rates, handling times and courier
 * accounts. Small, fixed lists; shapes follow §2.2, §2.3 and §6.7.
 */
import { ok, type Reply } from './reply.ts';

/** `vat/read`: the VAT rates an offer's `vat_id` may point at. */
export function readVat(): Reply {
  return ok([
    { vat_id: 1, vat_rate: 0.21, is_default: true },
    { vat_id: 2, vat_rate: 0.11, is_default: false },
    { vat_id: 3, vat_rate: 0, is_default: false },
    { vat_id: 4, vat_rate: 0.19, is_default: false },
    { vat_id: 5, vat_rate: 0.09, is_default: false },
  ]);
}

/** `handling_time/read`: the handling times (days) an offer may declare. */
export function readHandlingTime(): Reply {
  return ok([0, 1, 2, 3, 4, 5, 6, 7, 10, 14, 21, 30].map((id) => ({ id })));
}

/** `courier_accounts/read`: the courier accounts AWBs may be issued on. */
export function readCourierAccounts(): Reply {
  return ok([
    {
      account_id: 1071,
      account_display_name: 'Sameday - Ridicare din depozit',
      courier_account_type: 3,
      courier_name: 'Sameday',
      courier_account_properties: [0, 2],
      created: '2023-03-14 10:22:05',
      status: 1,
      pickup_country_code: 'RO',
    },
    {
      account_id: 1202,
      account_display_name: 'Cargus Ramburs',
      courier_account_type: 2,
      courier_name: 'Cargus',
      courier_account_properties: [0, 6],
      created: '2024-01-09 08:01:44',
      status: 1,
      pickup_country_code: 'RO',
    },
    {
      account_id: 988,
      account_display_name: 'FAN Courier (vechi)',
      courier_account_type: 2,
      courier_name: 'FAN Courier',
      courier_account_properties: [0],
      created: '2021-06-30 16:45:12',
      status: 0,
      pickup_country_code: 'RO',
    },
  ]);
}
