/**
 * Reference data every account reads the same way: VAT rates, handling times, courier accounts,
 * addresses and the localities AWBs may name. Small, fixed lists; shapes follow §2.2, §2.3, §6.6–6.8.
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

/** The seller's courier accounts (§6.7): `courier_account_type` 1 RMA, 2 orders, 3 both; status 0 inactive. */
export const COURIER_ACCOUNTS = [
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
] as const;

/** `courier_accounts/read`: the courier accounts AWBs may be issued on. */
export function readCourierAccounts(): Reply {
  return ok(COURIER_ACCOUNTS);
}

/** The seller's saved addresses (§6.8): a default pickup address and a return address. */
export const ADDRESSES = [
  {
    address_id: '140231',
    country_id: 1,
    country_code: 'RO',
    address_type_id: 2,
    locality_id: 8813,
    suburb: 'Bucuresti',
    city: 'Sector 3',
    address: 'Str. Depozitului nr. 7, Hala B',
    zipcode: '032451',
    quarter: null,
    floor: null,
    is_default: true,
  },
  {
    address_id: '140232',
    country_id: 1,
    country_code: 'RO',
    address_type_id: 1,
    locality_id: 3358,
    suburb: 'Cluj',
    city: 'Cluj-Napoca',
    address: 'Str. Fabricii nr. 12',
    zipcode: '400632',
    quarter: null,
    floor: null,
    is_default: true,
  },
] as const;

/** `addresses/read`: the pickup and return addresses AWBs may name by `address_id`. */
export function readAddresses(): Reply {
  return ok(ADDRESSES);
}

/** Locality ids the sandbox knows (§6.6): those its orders, returns and addresses use. */
export const LOCALITY_IDS: ReadonlySet<number> = new Set([8813, 3358, 4722, 7441, 1507]);
