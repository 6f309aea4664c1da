// Tests this folder's middleware in process, with the host the sidecar runs it on: build it first
// (`npm run build` or `npm run build:middleware -- middleware-wasm/<folder>`), then `node --test middleware-wasm/<folder>/test/`.
// Each test hands the module one request and checks what it did: what the next handler would get, or its answer.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { MemoryExchange, WasmMiddleware } from '../../../dist/middleware-wasm/host/index.js';

const folder = dirname(dirname(fileURLToPath(import.meta.url)));
const wasm = await readFile(join(folder, '..', '..', 'dist', 'middleware-wasm', `${basename(folder)}.wasm`));

/** Runs one request through a fresh instance configured with `guestConfig` (the component's metadata value). */
async function run(request, guestConfig = '') {
  const middleware = await WasmMiddleware.load(wasm, { guestConfig: new TextEncoder().encode(guestConfig) });
  const exchange = new MemoryExchange(request);
  const step = middleware.handleRequest(exchange);
  // Read before handleResponse, which ends the request: the middleware then reuses `step` for its next one.
  const next = step.next;
  if (next) middleware.handleResponse(step);
  return { next, exchange };
}

test('routes a request carrying the tenant header under /tenants/<tenant>', async () => {
  const { next, exchange } = await run({ uri: '/orders?id=7', requestHeaders: ['X-Tenant', 'acme'] });
  assert.equal(next, true);
  assert.equal(exchange.uri, '/tenants/acme/orders?id=7');
  assert.deepEqual(exchange.requestHeaders.toFlat(), ['x-tenant', 'acme', 'x-tenant-routed', 'true']);
});

test('leaves a request without the header alone', async () => {
  const { next, exchange } = await run({ uri: '/orders', requestHeaders: ['content-type', 'text/plain'] });
  assert.equal(next, true);
  assert.equal(exchange.uri, '/orders');
  assert.equal(exchange.requestHeaders.modified, false);
});

test('reads the header its configuration names', async () => {
  const { exchange } = await run({ uri: '/orders', requestHeaders: ['x-team', 'blue', 'x-tenant', 'acme'] }, 'x-team');
  assert.equal(exchange.uri, '/tenants/blue/orders');
});
