/**
 * The sandbox's pre-rendered offer pages (benchmarks): byte for byte what a rendering sandbox serves,
 * and never stale — a page whose offers changed, by a mutator or a save over HTTP, is rendered anew.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type Sandbox, startSandbox } from '../src/sandbox/server.ts';

const account = (prerenderPages: boolean) => ({ name: 'main', username: 'u', password: 'p', offers: 250, prerenderPages });
let rendering: Sandbox;
let prerendered: Sandbox;

before(async () => {
  rendering = await startSandbox({ accounts: [account(false)], enforceLimits: false });
  prerendered = await startSandbox({ accounts: [account(true)], enforceLimits: false });
});
after(async () => {
  await rendering?.close();
  await prerendered?.close();
});

async function page(sb: Sandbox, body: object, route = 'product_offer/read'): Promise<{ status: number; type: string | null; text: string }> {
  const res = await fetch(`${sb.url}/${route}`, {
    method: 'POST',
    headers: { authorization: `Basic ${Buffer.from('u:p').toString('base64')}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
}

test('pre-rendered pages are the very bytes a rendering sandbox answers, filtered reads included', async () => {
  for (const body of [{ currentPage: 1, itemsPerPage: 100 }, { currentPage: 3, itemsPerPage: 100 }, { currentPage: 2, itemsPerPage: 40 }, { status: 1 }, { currentPage: 9 }]) {
    const [a, b] = await Promise.all([page(rendering, body), page(prerendered, body)]);
    assert.equal(b.status, a.status);
    assert.equal(b.type, 'application/json');
    assert.equal(b.text, a.text, JSON.stringify(body));
  }
});

test('a page whose offers changed is rendered anew: mutators, saves over HTTP, removals', async () => {
  const first = JSON.parse((await page(prerendered, { currentPage: 1 })).text).results as Array<{ id: number; sale_price: number; stock: unknown }>;
  const changed = first[2].id;
  prerendered.account('main').setStock(changed, 4321);
  const again = JSON.parse((await page(prerendered, { currentPage: 1 })).text).results as typeof first;
  assert.deepEqual(again[2], JSON.parse(JSON.stringify(prerendered.account('main').offer(changed))), 'the changed offer as it is now');
  assert.notDeepEqual(again[2], first[2]);

  const id = first[5].id;
  const saved = await page(prerendered, [{ id, sale_price: 77.7, stock: [{ warehouse_id: 1, value: 3 }] }], 'offer/save');
  assert.equal(JSON.parse(saved.text).isError, false);
  const afterSave = (JSON.parse((await page(prerendered, { currentPage: 1 })).text).results as typeof first).find((o) => o.id === id);
  assert.equal(Number(afterSave?.sale_price), 77.7);

  prerendered.account('main').removeOffer(first[0].id);
  const afterRemoval = JSON.parse((await page(prerendered, { currentPage: 1 })).text).results as typeof first;
  assert.equal(afterRemoval[0].id, first[1].id, 'the page slid by one offer');
  assert.equal(afterRemoval.length, 100);
});
