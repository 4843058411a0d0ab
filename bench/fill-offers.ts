/**
 * Fills emag_offers with a synthetic catalog of mirror rows (diacritics, quotes, nested stock and a
 * raw record of about a kilobyte, as eMAG sends), in one statement per 100,000 rows.
 */
import type { Sql } from '../src/db/connect.ts';

/** Inserts `n` offers of account `bench`. */
export async function fillOffers(sql: Sql, n: number): Promise<void> {
  for (let from = 1; from <= n; from += 100_000) {
    const to = Math.min(n, from + 99_999);
    await sql`
      insert into emag_offers (account, id, part_number, part_number_key, name, brand, category_id, status, sale_price,
        recommended_price, currency, stock, general_stock, estimated_stock, handling_time, vat_id, ean, raw, content_hash)
      select 'bench', g, 'SKU-' || g, 'D' || lpad(g::text, 8, '0'), 'Produs „' || g || '”, mărimea ' || (g % 50) || ' "XL"',
        'Brand ' || (g % 100), g % 500, 1, 100 + (g % 10000) / 100.0, 150 + (g % 10000) / 100.0, 'RON', g % 100, g % 100,
        g % 100, 1 + g % 5, 1, array['594' || lpad(g::text, 10, '0')],
        jsonb_build_object('id', g, 'part_number', 'SKU-' || g, 'name', 'Produs „' || g || '”', 'sale_price', (100 + (g % 10000) / 100.0)::text,
          'stock', jsonb_build_array(jsonb_build_object('warehouse_id', 1, 'value', g % 100)),
          'description', repeat('Descriere lungă, cu diacritice ă î ș ț. ', 16),
          'images', jsonb_build_array(jsonb_build_object('url', 'https://example.invalid/' || g || '.jpg', 'display_type', 1)),
          'offer_details', jsonb_build_object('warranty', 24, 'supply_lead_time', 14)),
        md5(g::text)
      from generate_series(${from}::int, ${to}::int) g`;
  }
}
