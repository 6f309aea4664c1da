import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { AppRequest } from '../proxy/appchannel/http-pool.js';
import { COALESCED_BODY_BYTES, encodeRequestHead } from '../proxy/appchannel/request-head.js';

const HOST = '127.0.0.1:3000';

function encoded(req: Partial<AppRequest>): string | null {
  const bytes = encodeRequestHead({ method: 'GET', path: '/', headers: [], body: null, ...req }, HOST);
  return bytes === null ? null : bytes.toString('utf8');
}

describe('app channel: request head encoding', () => {
  test('request line, host, headers in order, and the body after the blank line', () => {
    const text = encoded({ method: 'POST', path: '/orders?id=7', headers: ['content-type', 'text/plain', 'x-a', '1', 'x-a', '2'], body: Buffer.from('hello') });
    assert.equal(text, 'POST /orders?id=7 HTTP/1.1\r\nHost: 127.0.0.1:3000\r\ncontent-type: text/plain\r\nx-a: 1\r\nx-a: 2\r\nContent-Length: 5\r\n\r\nhello');
  });

  test('a POST, PUT or PATCH without a body says Content-Length: 0; a GET says nothing', () => {
    for (const method of ['POST', 'PUT', 'PATCH']) assert.equal(encoded({ method }), `${method} / HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 0\r\n\r\n`);
    assert.equal(encoded({ method: 'GET' }), `GET / HTTP/1.1\r\nHost: ${HOST}\r\n\r\n`);
    assert.equal(encoded({ method: 'GET', body: new Uint8Array(0) }), `GET / HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 0\r\n\r\n`);
  });

  test('text beyond ASCII is written as UTF-8, wherever it starts in a string', () => {
    const values = ['é', 'café', 'naïve résumé', '日本語', 'emoji 🚀 end', 'ascii then ü'];
    const text = encoded({ path: '/ünïcode', headers: values.flatMap((value, i) => [`x-${i}`, value]) });
    assert.equal(text, `GET /ünïcode HTTP/1.1\r\nHost: ${HOST}\r\n${values.map((value, i) => `x-${i}: ${value}\r\n`).join('')}\r\n`);
  });

  test('a line feed anywhere in the method, path, a name or a value refuses the request', () => {
    assert.equal(encoded({ method: 'GET\n' }), null);
    assert.equal(encoded({ path: '/a\nb' }), null);
    assert.equal(encoded({ headers: ['x-a\n', 'v'] }), null);
    assert.equal(encoded({ headers: ['x-a', 'v', 'x-b', 'one\ntwo'] }), null);
    assert.equal(encoded({ headers: ['x-a', 'ü then\n'] }), null, 'after a non-ASCII character');
    assert.equal(encoded({ headers: ['x-a', '\nü'] }), null, 'before a non-ASCII character');
    assert.notEqual(encoded({ headers: ['x-a', 'carriage\rreturn only'] }), null);
  });

  test('a head larger than the scratch buffer is written whole, and later heads are still right', () => {
    const big = 'v'.repeat(20_000);
    const wide = '€'.repeat(10_000); // 30 000 bytes of UTF-8
    assert.equal(encoded({ headers: ['x-big', big, 'x-wide', wide] }), `GET / HTTP/1.1\r\nHost: ${HOST}\r\nx-big: ${big}\r\nx-wide: ${wide}\r\n\r\n`);
    assert.equal(encoded({ headers: ['x-small', 's'] }), `GET / HTTP/1.1\r\nHost: ${HOST}\r\nx-small: s\r\n\r\n`);
  });

  test('a body up to the coalescing limit rides in the same buffer; a larger one is left to be written after it', () => {
    const small = Buffer.alloc(COALESCED_BODY_BYTES, 0x61);
    const head = `POST / HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: ${COALESCED_BODY_BYTES}\r\n\r\n`;
    assert.equal(encoded({ method: 'POST', body: small }), head + small.toString());
    const large = Buffer.alloc(COALESCED_BODY_BYTES + 1, 0x62);
    assert.equal(encoded({ method: 'POST', body: large }), `POST / HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: ${COALESCED_BODY_BYTES + 1}\r\n\r\n`);
  });
});
