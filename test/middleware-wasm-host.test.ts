import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import type { Logger, LogLevel } from '../proxy/runtime/logger.js';
import {
  Feature,
  HeaderOverlay,
  MemoryExchange,
  WasmGuestError,
  WasmLoadError,
  WasmMiddleware,
  loadWasmMiddleware,
  wasmOptionsFromMetadata,
  watchGuestFile,
  type WasmMiddlewareOptions,
} from '../middleware-wasm/host/index.js';
import { countLen, GuestMemory } from '../middleware-wasm/host/guest-memory.js';
import { compileGuest } from '../middleware-wasm/host/guest-module.js';
import { eventually } from './support/eventually.js';
import { tempDir } from './support/sidecar.js';
import { watCompiler, type WatCompiler } from './support/wat.js';

let compiler: WatCompiler;
const wat = (text: string, name?: string): Uint8Array => compiler.compile(text, name);
const fixture = (name: string, replace: Record<string, string> = {}): Uint8Array => compiler.fixture(name, replace);

interface LogLine {
  level: LogLevel;
  msg: string;
}

/** A logger that keeps what it is given, filtered from `threshold` up like the runtime's. */
function recordingLogger(threshold: LogLevel = 'info'): Logger & { lines: LogLine[] } {
  const order: LogLevel[] = ['debug', 'info', 'warn', 'error'];
  const lines: LogLine[] = [];
  const enabled = (level: LogLevel): boolean => order.indexOf(level) >= order.indexOf(threshold);
  const write = (level: LogLevel) => (msg: string) => {
    if (enabled(level)) lines.push({ level, msg });
  };
  return { lines, enabled, debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
}

function load(name: string, options: WasmMiddlewareOptions = {}): Promise<WasmMiddleware> {
  return WasmMiddleware.load(fixture(name), { name, logger: recordingLogger(), ...options });
}

const text = (bytes: Uint8Array): string => Buffer.from(bytes).toString('utf8');

/** Values of `name` in a flat [name, value, ...] list. */
function valuesOf(flat: readonly string[], name: string): string[] {
  const values: string[] = [];
  for (let i = 0; i < flat.length; i += 2) if (flat[i] === name) values.push(flat[i + 1]!);
  return values;
}

function countLenOf(value: bigint): { count: number; len: number } {
  return { count: Number(value >> 32n), len: Number(value & 0xffff_ffffn) };
}

/** Splits a response body made of count_len reports (8 bytes) optionally followed by the bytes they describe. */
class ReportReader {
  private at = 0;
  constructor(private readonly body: Buffer) {}

  countLen(): { count: number; len: number } {
    const value = this.body.readBigUInt64LE(this.at);
    this.at += 8;
    return countLenOf(value);
  }

  bytes(len: number): Buffer {
    const bytes = this.body.subarray(this.at, this.at + len);
    this.at += len;
    return bytes;
  }

  /** A report with its NUL-terminated list, decoded. */
  list(): { count: number; len: number; items: string[] } {
    const { count, len } = this.countLen();
    const raw = this.bytes(len);
    assert.equal(raw[raw.length - 1], 0, 'the sequence ends with a NUL terminator');
    return { count, len, items: raw.subarray(0, len - 1).toString('utf8').split('\0') };
  }

  get done(): boolean {
    return this.at === this.body.length;
  }
}

before(async () => {
  compiler = await watCompiler();
});

describe('wasm host: headers', () => {
  const manyValues = Array.from({ length: 60 }, (_, i) => `value-${i}`);
  const unicode = ['日本語のヘッダー', 'ünïcödé ✓'];
  const exchange = (): MemoryExchange =>
    new MemoryExchange({
      requestHeaders: [
        'Host', 'example.com',
        ...manyValues.flatMap((v) => ['X-Multi', v]),
        'x-unicode', unicode[0]!, 'x-unicode', unicode[1]!,
        'x-gone', 'bye',
      ],
    });

  test('names and values come back NUL-terminated with count and length; many and unicode values intact', async () => {
    const middleware = await load('headers.wat');
    const ex = exchange();
    const request = middleware.handleRequest(ex);
    assert.equal(request.next, false);
    const reports = new ReportReader(Buffer.from(ex.responseBody));

    const names = reports.list();
    assert.deepEqual(names.items, ['host', 'x-multi', 'x-unicode', 'x-gone']);
    assert.equal(names.count, 4);
    assert.equal(names.len, 'host\0x-multi\0x-unicode\0x-gone\0'.length);

    const multi = reports.list();
    assert.equal(multi.count, 60);
    assert.deepEqual(multi.items, manyValues);

    const values = reports.list();
    assert.equal(values.count, 2);
    assert.equal(values.len, Buffer.byteLength(unicode.join('\0') + '\0'));
    assert.deepEqual(values.items, unicode);

    // buf_limit 3 is too small: the length comes back, and the marker byte in the buffer is untouched.
    assert.deepEqual(reports.countLen(), { count: 60, len: multi.len });
    assert.equal(reports.bytes(1).toString(), 'Z');

    assert.deepEqual(reports.countLen(), { count: 0, len: 0 }, 'request trailer names');
    assert.deepEqual(reports.countLen(), { count: 0, len: 0 }, 'response trailer values');
    assert.deepEqual(reports.countLen(), { count: 0, len: 0 }, 'an absent header');

    assert.deepEqual(reports.countLen(), { count: 61, len: multi.len + 'added\0'.length }, 'x-multi after add');
    assert.deepEqual(reports.list().items, ['host', 'x-multi', 'x-unicode', 'x-set']);
    assert.ok(reports.done);
  });

  test('values are written whole or not at all, at every limit and up to the end of memory', () => {
    const wasmMemory = new WebAssembly.Memory({ initial: 1 });
    const memory = new GuestMemory(wasmMemory);
    const cases = [['acme'], ['ünï', 'ok'], ['日本語', 'a', ''], ['x'.repeat(9), 'é'.repeat(5)]];
    for (const values of cases) {
      const encoded = Buffer.from(values.map((value) => `${value}\0`).join(''));
      for (const at of [64, wasmMemory.buffer.byteLength - encoded.length]) {
        for (let limit = encoded.length - 2; limit <= encoded.length * 3; limit++) {
          const view = new Uint8Array(wasmMemory.buffer);
          view.fill(0x5a, at, at + encoded.length);
          assert.deepEqual(countLenOf(memory.writeNulTerminated(at, limit, values, values.length)), { count: values.length, len: encoded.length });
          const written = Buffer.from(view.subarray(at, at + encoded.length));
          const expected = limit >= encoded.length ? encoded : Buffer.alloc(encoded.length, 0x5a);
          assert.deepEqual(written, expected, `${JSON.stringify(values)} at ${at}, limit ${limit}`);
        }
      }
    }
    for (const value of ['GET', 'ünï', '日本', 'x'.repeat(12)]) {
      const encoded = Buffer.from(value);
      const at = wasmMemory.buffer.byteLength - encoded.length;
      for (let limit = encoded.length - 1; limit <= encoded.length * 3; limit++) {
        const view = new Uint8Array(wasmMemory.buffer);
        view.fill(0x5a, at, at + encoded.length);
        assert.equal(memory.writeStringIfFits(at, limit, value), encoded.length);
        const expected = limit >= encoded.length ? encoded : Buffer.alloc(encoded.length, 0x5a);
        assert.deepEqual(Buffer.from(view.subarray(at, at + encoded.length)), expected, `${value}, limit ${limit}`);
      }
    }
  });

  test('set, add and remove are recorded over the snapshot, request and response alike', async () => {
    const middleware = await load('headers.wat');
    const ex = exchange();
    middleware.handleRequest(ex);
    const request = ex.requestHeaders.toFlat();
    assert.deepEqual(valuesOf(request, 'x-set'), ['one']);
    assert.deepEqual(valuesOf(request, 'x-multi'), [...manyValues, 'added']);
    assert.deepEqual(valuesOf(request, 'x-gone'), []);
    assert.deepEqual(valuesOf(request, 'host'), ['example.com']);
    assert.deepEqual(valuesOf(request, 'x-unicode'), unicode);
    const response = ex.responseHeaders.toFlat();
    assert.deepEqual(valuesOf(response, 'x-resp'), ['a', 'b']);
    assert.deepEqual(valuesOf(response, 'x-unicode'), ['héllo']);
  });

  test('a header nobody touched leaves the snapshot as it came', async () => {
    const middleware = await load('request-line.wat');
    const ex = new MemoryExchange({ responseHeaders: ['Content-Type', 'text/plain'] });
    middleware.handleRequest(ex);
    assert.equal(ex.requestHeaders.modified, true);
    assert.equal(ex.responseHeaders.modified, false);
    assert.deepEqual(ex.responseHeaders.toFlat(), ['content-type', 'text/plain']);
  });

  test('setting a trailer traps: the host does not support trailers', async () => {
    const middleware = await load('trailer-set.wat');
    assert.throws(() => middleware.handleRequest(new MemoryExchange()), (err: Error) => {
      assert.ok(err instanceof WasmGuestError);
      assert.match(err.message, /trailers are not supported/);
      return true;
    });
  });
});

describe('wasm host: the header overlay', () => {
  const snapshot = ['host', 'a', 'x-multi', 'one', 'x-multi', 'two', 'x-gone', 'bye', 'x-set', 'old'];
  const values = (overlay: HeaderOverlay, name: string): string[] => {
    const out: string[] = [];
    return out.slice(0, overlay.collectValues(name, out));
  };
  const names = (overlay: HeaderOverlay): string[] => {
    const out: string[] = [];
    return out.slice(0, overlay.collectNames(out));
  };

  test('set, add and remove in any order: one value, several, none', () => {
    const overlay = new HeaderOverlay(snapshot);
    assert.equal(overlay.modified, false);
    overlay.set('x-set', 'new');
    overlay.add('x-set', 'newer'); // add after set: both values
    overlay.add('x-multi', 'three'); // add over the snapshot's values
    overlay.add('x-multi', 'four');
    overlay.remove('x-gone');
    overlay.add('x-gone', 'back'); // add after remove: only the new value
    overlay.set('x-new', 'fresh');
    overlay.remove('x-new'); // set then remove: gone
    overlay.add('x-added', 'first');
    overlay.set('x-added', 'only'); // set after add: one value
    assert.equal(overlay.modified, true);
    assert.deepEqual(values(overlay, 'x-set'), ['new', 'newer']);
    assert.deepEqual(values(overlay, 'x-multi'), ['one', 'two', 'three', 'four']);
    assert.deepEqual(values(overlay, 'x-gone'), ['back']);
    assert.deepEqual(values(overlay, 'x-new'), []);
    assert.deepEqual(values(overlay, 'x-added'), ['only']);
    assert.deepEqual(values(overlay, 'host'), ['a']);
    assert.deepEqual(names(overlay), ['host', 'x-multi', 'x-gone', 'x-set', 'x-added']);
    assert.deepEqual(overlay.toFlat(), [
      'host', 'a', 'x-multi', 'one', 'x-multi', 'two', 'x-multi', 'three', 'x-multi', 'four',
      'x-gone', 'back', 'x-set', 'new', 'x-set', 'newer', 'x-added', 'only',
    ]);
    assert.deepEqual(snapshot, ['host', 'a', 'x-multi', 'one', 'x-multi', 'two', 'x-gone', 'bye', 'x-set', 'old'], 'the snapshot is never written');
  });
});

describe('wasm host: what the host remembers between calls', () => {
  // Each request rewrites the same guest bytes: the name at 0 flips case ("x-ab"/"X-AB"), the value at 16 cycles
  // through "true", "TRUE", "nope". The URI is read twice, the second time into a buffer too small for it.
  const guest = `(module
    (import "http_handler" "add_header_value" (func $add (param i32 i32 i32 i32 i32)))
    (import "http_handler" "get_uri" (func $get_uri (param i32 i32) (result i32)))
    (memory (export "memory") 1)
    (data (i32.const 32) "x-uri")
    (data (i32.const 40) "x-mark")
    (global $n (mut i32) (i32.const 0))
    (func (export "handle_request") (result i64)
      (local $len i32)
      (if (i32.and (global.get $n) (i32.const 1))
        (then (i32.store (i32.const 0) (i32.const 0x42412d58)))
        (else (i32.store (i32.const 0) (i32.const 0x62612d78))))
      (i32.store (i32.const 16) (i32.const 0x65757274))
      (if (i32.eq (i32.rem_u (global.get $n) (i32.const 3)) (i32.const 1)) (then (i32.store (i32.const 16) (i32.const 0x45555254))))
      (if (i32.eq (i32.rem_u (global.get $n) (i32.const 3)) (i32.const 2)) (then (i32.store (i32.const 16) (i32.const 0x65706f6e))))
      (call $add (i32.const 0) (i32.const 0) (i32.const 4) (i32.const 16) (i32.const 4))
      (local.set $len (call $get_uri (i32.const 256) (i32.const 1024)))
      (call $add (i32.const 0) (i32.const 32) (i32.const 5) (i32.const 256) (local.get $len))
      (i32.store8 (i32.const 600) (i32.const 90))
      (drop (call $get_uri (i32.const 600) (i32.const 1)))
      (call $add (i32.const 0) (i32.const 40) (i32.const 6) (i32.const 600) (i32.const 1))
      (global.set $n (i32.add (global.get $n) (i32.const 1)))
      (i64.const 0))
    (func (export "handle_response") (param i32 i32)))`;

  test('names, values and URIs are right however the bytes behind the same pointer change', async () => {
    const middleware = await WasmMiddleware.load(wat(guest), { logger: recordingLogger() });
    const uris = ['/v1.0/orders/1', '/v1.0/orders/2', '/v1.0/orders/1', '/v1.0/ördérs/1', '/a', '/v1.0/orders/1'];
    const cycle = ['true', 'TRUE', 'nope'];
    for (let i = 0; i < 12; i++) {
      const ex = new MemoryExchange({ uri: uris[i % uris.length] });
      middleware.handleRequest(ex);
      const flat = ex.requestHeaders.toFlat();
      assert.deepEqual(valuesOf(flat, 'x-ab'), [cycle[i % 3]], `request ${i}`);
      assert.deepEqual(valuesOf(flat, 'x-uri'), [uris[i % uris.length]], `request ${i}`);
      assert.deepEqual(valuesOf(flat, 'x-mark'), ['Z'], 'a buffer too small is left alone');
    }
  });

  test('remembered names and values never answer for bytes that differ in any one position, at any length', () => {
    const wasmMemory = new WebAssembly.Memory({ initial: 1 });
    const memory = new GuestMemory(wasmMemory);
    const at = 101; // unaligned on purpose: the comparison reads 32-bit words at any offset
    for (let length = 1; length <= 40; length++) {
      const text = 'abcdefghijklmnopqrstuvwxyz0123456789ABCD'.slice(0, length);
      const bytes = (): Uint8Array => new Uint8Array(wasmMemory.buffer, at, length);
      bytes().set(Buffer.from(text));
      assert.equal(memory.readHeaderValue(at, length), text);
      assert.equal(memory.readHeaderName(at, length), text.toLowerCase());
      for (let position = 0; position < length; position++) {
        const changed = text.slice(0, position) + '_' + text.slice(position + 1);
        bytes()[position] = 0x5f;
        assert.equal(memory.readHeaderValue(at, length), changed, `length ${length}, byte ${position}`);
        assert.equal(memory.readHeaderName(at, length), changed.toLowerCase(), `length ${length}, byte ${position}`);
        bytes().set(Buffer.from(text));
        assert.equal(memory.readHeaderValue(at, length), text, `length ${length}, restored`);
      }
    }
    // Far more strings than slots: those sharing a slot displace each other, and every read stays right.
    const names = Array.from({ length: 300 }, (_, i) => `x-header-${i}`);
    for (let round = 0; round < 2; round++) {
      for (const name of round === 0 ? names : names.slice().reverse()) {
        new Uint8Array(wasmMemory.buffer, at, name.length).set(Buffer.from(name));
        assert.equal(memory.readHeaderName(at, name.length), name);
      }
    }
    // Growing detaches the old buffer; the remembered bytes must be compared against the new one.
    wasmMemory.grow(1);
    new Uint8Array(wasmMemory.buffer, at, 4).set(Buffer.from('wxyz'));
    assert.equal(memory.readHeaderValue(at, 4), 'wxyz');
    new Uint8Array(wasmMemory.buffer, 70_000, 4).set(Buffer.from('past'));
    assert.equal(memory.readHeaderValue(70_000, 4), 'past');
  });

  test('a rewritten string reads as its bytes decode, whatever it shares with the string it replaces', () => {
    const wasmMemory = new WebAssembly.Memory({ initial: 1 });
    const memory = new GuestMemory(wasmMemory);
    const bytesAt = (at: number, length: number): Uint8Array => new Uint8Array(wasmMemory.buffer, at, length);
    // NUL runs: eight zero bytes read as the double +0, which equals -0 (a 0x80 in the last of them).
    const previousUris = ['/v1.0/invoke/orders/method/list?page=2', '/v1.0/ab', '/ördérs/1?x=1', '/tiny', `/z${'\0'.repeat(17)}/q`];
    for (const previous of previousUris) {
      const encoded = Buffer.from(previous);
      // Written twice: the second write copies the bytes remembered from the first.
      for (const at of [203, 517]) {
        assert.equal(memory.writeStringIfFits(at, 1024, previous), encoded.length);
        assert.deepEqual(Buffer.from(bytesAt(at, encoded.length)), encoded, `"${previous}" written at ${at}`);
      }
      assert.equal(memory.writeStringIfFits(900, encoded.length - 1, previous), encoded.length, 'too small: only the length');
      const candidates: Uint8Array[] = [
        encoded,
        Buffer.from(`/tenants/acme${previous}`),
        Buffer.from(`/tenants/acme${previous}`), // the head again, now remembered
        Buffer.from(`/tenants/beta${previous}`),
        Buffer.from(`/ü${previous}`),
        Buffer.from(previous.slice(3)),
        Buffer.from(`/x${previous.slice(4)}`),
        Buffer.from(`${previous}?more`),
        Buffer.from('/'),
        Buffer.concat([Buffer.from([0xe2, 0x82]), encoded]), // a head cut inside a character
        Buffer.concat([Buffer.from([0xff]), encoded]),
      ];
      for (let position = 0; position < encoded.length; position++) {
        const changed = Buffer.from(`/p${previous}`);
        changed[2 + position] = 0x5f;
        candidates.push(changed);
        if (encoded[position] === 0) {
          const signed = Buffer.from(`/p${previous}`);
          signed[2 + position] = 0x80;
          candidates.push(signed);
        }
      }
      for (const candidate of candidates) {
        const at = 1301; // unaligned: words are read at any offset
        bytesAt(at, candidate.length).set(candidate);
        const expected = Buffer.from(candidate).toString('utf8');
        assert.equal(memory.readReplacement(at, candidate.length, previous, 'uri'), expected, `"${expected}" replacing "${previous}"`);
      }
    }
    // More strings than the host keeps: each slot is reused, and what it copies out is always its latest string.
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 7; i++) {
        const text = `/v1.0/state/store-${i}/key-${'x'.repeat(i * 300)}`;
        assert.equal(memory.writeStringIfFits(2000 + i, 4096, text), text.length);
        assert.equal(Buffer.from(bytesAt(2000 + i, text.length)).toString('latin1'), text, `round ${round}, string ${i}`);
      }
    }
    // After memory.grow the remembered bytes are compared against the new buffer.
    const previous = previousUris[0]!;
    memory.writeStringIfFits(203, 1024, previous);
    wasmMemory.grow(1);
    const grown = Buffer.from(`/tenants/acme${previous}`);
    bytesAt(70_001, grown.length).set(grown);
    assert.equal(memory.readReplacement(70_001, grown.length, previous, 'uri'), grown.toString('utf8'));
  });

  test('count_len results are exact at the edges and when cached values share a slot', () => {
    const exact = (count: number, len: number): bigint => (BigInt(count) << 32n) | BigInt(len);
    const edges: Array<[number, number]> = [
      [0, 0], [1, 0], [0, 1], [1, 5], [0, 0xffff_ffff], [1, 0xffff_ffff], [0x1f_ffff, 0xffff_ffff],
      [0x20_0000, 0], [0x20_0000, 0xffff_ffff], [0xffff_ffff, 0xffff_ffff],
    ];
    for (let round = 0; round < 2; round++) {
      for (const [count, len] of edges) assert.equal(countLen(count, len), exact(count, len), `${count}, ${len}`);
    }
    // 1024 apart in len lands in the same slot: each call must still answer its own value.
    for (let i = 0; i < 6; i++) {
      const len = 5 + (i % 2) * 1024;
      assert.equal(countLen(1, len), exact(1, len));
    }
  });
});

describe('wasm host: per-request state', () => {
  // Enables buffer_request when the URI starts with "/b"; handle_response counts its calls, and handle_request
  // hands that count back as its reqCtx.
  const guest = `(module
    (import "http_handler" "enable_features" (func $enable_features (param i32) (result i32)))
    (import "http_handler" "get_uri" (func $get_uri (param i32 i32) (result i32)))
    (memory (export "memory") 1)
    (global $responses (mut i32) (i32.const 0))
    (func (export "handle_request") (result i64)
      (drop (call $get_uri (i32.const 0) (i32.const 64)))
      (if (i32.eq (i32.load8_u (i32.const 1)) (i32.const 98)) (then (drop (call $enable_features (i32.const 1)))))
      (i64.or (i64.shl (i64.extend_i32_u (global.get $responses)) (i64.const 32)) (i64.const 1)))
    (func (export "handle_response") (param i32 i32)
      (global.set $responses (i32.add (global.get $responses) (i32.const 1)))))`;

  test('a finished request serves the next one from a clean state; requests in flight stay apart', async () => {
    const middleware = await WasmMiddleware.load(wat(guest), { name: 'per-request', logger: recordingLogger() });
    const first = middleware.handleRequest(new MemoryExchange({ uri: '/buffered' }));
    assert.equal(first.reqCtx, 0);
    assert.equal(first.features & Feature.bufferRequest, Feature.bufferRequest);
    middleware.handleResponse(first);
    assert.equal(first.next, true, 'what the caller read stays readable until another request takes the object');
    middleware.handleResponse(first); // a stray second call runs nothing

    const exchange = new MemoryExchange({ uri: '/plain' });
    const second = middleware.handleRequest(exchange);
    assert.equal(second, first, 'the finished request is reused');
    assert.equal(second.exchange, exchange);
    assert.equal(second.next, true);
    assert.equal(second.reqCtx, 1, 'handle_response ran once for the first request');
    assert.equal(second.features & Feature.bufferRequest, 0, 'a feature one request enabled does not carry over');
    assert.equal(second.afterNext, true);

    const third = middleware.handleRequest(new MemoryExchange({ uri: '/plain' }));
    assert.notEqual(third, second, 'a request still in flight is not reused');
    middleware.handleResponse(third);
    middleware.handleResponse(second);
    assert.equal(middleware.handleRequest(new MemoryExchange()).reqCtx, 3);
  });
});

describe('wasm host: request line', () => {
  test('method, URI, protocol version and source address are readable; method and URI rewritable', async () => {
    const middleware = await load('request-line.wat');
    const ex = new MemoryExchange({ method: 'GET', uri: '/v1.0/invoke/app/method/hi?name=kung+fu+panda', protocolVersion: 'HTTP/1.1', sourceAddr: '[::1]:51234' });
    const request = middleware.handleRequest(ex);
    assert.equal(request.next, true);
    const headers = ex.requestHeaders.toFlat();
    assert.deepEqual(valuesOf(headers, 'x-method'), ['GET']);
    assert.deepEqual(valuesOf(headers, 'x-uri'), ['/v1.0/invoke/app/method/hi?name=kung+fu+panda']);
    assert.deepEqual(valuesOf(headers, 'x-proto'), ['HTTP/1.1']);
    assert.deepEqual(valuesOf(headers, 'x-source'), ['[::1]:51234']);
    assert.equal(ex.method, 'PUT');
    assert.equal(ex.uri, '/v1.0/rewritten?to=new%20place');
  });

  test('an empty URI reads as "/"', async () => {
    const middleware = await load('request-line.wat');
    const ex = new MemoryExchange({ uri: '' });
    middleware.handleRequest(ex);
    assert.deepEqual(valuesOf(ex.requestHeaders.toFlat(), 'x-uri'), ['/']);
  });
});

describe('wasm host: bodies and the response', () => {
  for (const size of [25_500, 3000, 0]) {
    test(`a buffered request body of ${size} bytes is read in 1000-byte chunks up to EOF`, async () => {
      const middleware = await load('body.wat');
      const body = Buffer.alloc(size);
      for (let i = 0; i < size; i++) body[i] = (i * 31) & 0xff;
      const ex = new MemoryExchange({ method: 'POST', requestBody: body });
      const request = middleware.handleRequest(ex);
      assert.equal(request.features & Feature.bufferRequest, Feature.bufferRequest);
      const answer = Buffer.from(ex.responseBody);
      assert.deepEqual(answer.subarray(0, size), body);
      // EOF comes with the last bytes; an empty body needs one read.
      assert.equal(answer.readUInt32LE(size), Math.max(1, Math.ceil(size / 1000)));
      assert.deepEqual(Buffer.from(ex.requestBody), body, 'a buffered body stays for the next handler');
    });
  }

  test('without buffer_request, what the guest read is gone for the next handler', async () => {
    const reader = wat(`(module (import "http_handler" "read_body" (func $read (param i32 i32 i32) (result i64)))
      (memory (export "memory") 1)
      (func (export "handle_request") (result i64) (drop (call $read (i32.const 0) (i32.const 64) (i32.const 4))) (i64.const 1))
      (func (export "handle_response") (param i32 i32)))`);
    const middleware = await WasmMiddleware.load(reader, { logger: recordingLogger() });
    const ex = new MemoryExchange({ method: 'POST', requestBody: Buffer.from('abcdefgh') });
    middleware.handleRequest(ex);
    assert.equal(text(ex.requestBody), 'efgh');
  });

  test('changing the response after the next handler without buffer_response fails the request', async () => {
    const late = wat(`(module (import "http_handler" "set_status_code" (func $status (param i32)))
      (memory (export "memory") 1)
      (func (export "handle_request") (result i64) (i64.const 1))
      (func (export "handle_response") (param i32 i32) (call $status (i32.const 201))))`);
    const middleware = await WasmMiddleware.load(late, { name: 'late', logger: recordingLogger() });
    const request = middleware.handleRequest(new MemoryExchange());
    assert.throws(
      () => middleware.handleResponse(request),
      /wasm middleware "late" failed in handle_response: set_status_code after the next handler needs the buffer_response feature/,
    );
  });

  test('a guest can answer by itself (next=0): its status, headers and body; handle_response is not called', async () => {
    const middleware = await load('short-circuit.wat');
    const ex = new MemoryExchange();
    const request = middleware.handleRequest(ex);
    assert.equal(request.next, false);
    assert.equal(ex.statusCode, 403);
    assert.deepEqual(valuesOf(ex.responseHeaders.toFlat(), 'content-type'), ['text/plain']);
    assert.equal(text(ex.responseBody), 'denied!');
    middleware.handleResponse(request);
  });

  test('handle_response gets the request context, rewrites the status and wraps the buffered body', async () => {
    const middleware = await load('response.wat');
    const ex = new MemoryExchange();
    const request = middleware.handleRequest(ex);
    assert.equal(request.next, true);
    assert.equal(request.reqCtx, 42);
    assert.ok(request.features & Feature.bufferResponse, 'the caller learns it must buffer the response');
    // The next handler answers.
    ex.statusCode = 404;
    ex.responseBody = Buffer.from('{"missing":true}');
    middleware.handleResponse(request);
    assert.equal(ex.statusCode, 410);
    assert.equal(text(ex.responseBody), 'wrapped:{"missing":true}');
    assert.deepEqual(valuesOf(ex.responseHeaders.toFlat(), 'x-error'), ['0']);

    const failed = new MemoryExchange();
    const second = middleware.handleRequest(failed);
    failed.statusCode = 500;
    middleware.handleResponse(second, true);
    assert.equal(failed.statusCode, 500);
    assert.deepEqual(valuesOf(failed.responseHeaders.toFlat(), 'x-error'), ['1']);
  });
});

describe('wasm host: configuration, logging and features', () => {
  test('get_config hands over guestConfig, its length first', async () => {
    const config = '{"environment":"production","ünï":"✓"}';
    const middleware = await load('config.wat', { guestConfig: Buffer.from(config) });
    const ex = new MemoryExchange();
    middleware.handleRequest(ex);
    assert.equal(text(ex.responseBody), config);

    const unconfigured = await load('config.wat');
    const empty = new MemoryExchange();
    unconfigured.handleRequest(empty);
    assert.equal(empty.responseBody.byteLength, 0);
  });

  for (const [threshold, enabled] of [
    ['info', [0, 1, 1, 1, 0]],
    ['debug', [1, 1, 1, 1, 0]],
    ['error', [0, 0, 0, 1, 0]],
  ] as const) {
    test(`log levels map onto the host's (threshold ${threshold}); "none" never logs`, async () => {
      const logger = recordingLogger(threshold);
      const middleware = await load('log.wat', { logger });
      const ex = new MemoryExchange();
      middleware.handleRequest(ex);
      assert.deepEqual([...ex.responseBody], enabled);
      const expected = [
        { level: 'debug', msg: 'debug message' },
        { level: 'info', msg: 'info message' },
        { level: 'warn', msg: 'warn message' },
        { level: 'error', msg: 'error message' },
      ].filter((_, i) => enabled[i] === 1);
      assert.deepEqual(logger.lines, expected);
    });
  }

  test('features: buffering is granted, trailers never; start-up features apply to every request', async () => {
    const middleware = await load('features.wat');
    for (let i = 0; i < 2; i++) {
      const ex = new MemoryExchange();
      const request = middleware.handleRequest(ex);
      const answer = Buffer.from(ex.responseBody);
      assert.equal(answer.readUInt32LE(0), Feature.bufferRequest, 'enabled in _initialize');
      assert.equal(answer.readUInt32LE(4), Feature.bufferRequest | Feature.bufferResponse, 'trailers are not granted');
      assert.equal(request.features & Feature.trailers, 0);
    }
  });
});

describe('wasm host: faults', () => {
  test('a trap fails only its request, is logged, and the next request runs on a fresh instance', async () => {
    const logger = recordingLogger();
    const middleware = await load('trap.wat', { logger });
    const count = (ex: MemoryExchange): string[] => valuesOf(ex.requestHeaders.toFlat(), 'x-count');

    const first = new MemoryExchange();
    const inFlight = middleware.handleRequest(first);
    assert.deepEqual(count(first), ['1']);
    const second = new MemoryExchange();
    middleware.handleRequest(second);
    assert.deepEqual(count(second), ['2']);

    assert.throws(() => middleware.handleRequest(new MemoryExchange({ requestHeaders: ['x-trap', '1'] })), (err: Error) => {
      assert.ok(err instanceof WasmGuestError);
      assert.equal(err.httpStatus, 500);
      assert.deepEqual(Object.keys(err.toJSON()), ['errorCode', 'message']);
      assert.match(err.message, /wasm middleware "trap.wat" failed in handle_request: unreachable/);
      return true;
    });
    assert.ok(logger.lines.some((line) => line.level === 'error' && /unreachable/.test(line.msg)), 'the cause is logged');

    const third = new MemoryExchange();
    middleware.handleRequest(third);
    assert.deepEqual(count(third), ['1'], 'a fresh instance');

    // The request that was past handle_request on the trapped instance cannot finish on it.
    assert.throws(() => middleware.handleResponse(inFlight), WasmGuestError);
  });

  test('a pointer outside guest memory fails the request with a 500 naming it; the next request runs normally', async () => {
    // Request header x-call picks the host call and x-bad makes its pointer point past the one page of memory.
    const calls: Array<[string, string]> = [
      ['set_uri', '(call $set_uri (local.get $at) (i32.const 8))'],
      ['get_uri', '(drop (call $get_uri (local.get $at) (i32.const 64)))'],
      ['set_header_value', '(call $set_header (i32.const 0) (local.get $at) (i32.const 8) (i32.const 16) (i32.const 4))'],
      ['get_header_values', '(drop (call $get_values (i32.const 0) (local.get $at) (i32.const 8) (i32.const 0) (i32.const 64)))'],
    ];
    const branches = calls.map(([, call], i) => `(if (i32.eq (local.get $call) (i32.const ${i})) (then ${call}))`).join('\n');
    const guest = wat(`(module
      (import "http_handler" "get_header_values" (func $get_values (param i32 i32 i32 i32 i32) (result i64)))
      (import "http_handler" "set_header_value" (func $set_header (param i32 i32 i32 i32 i32)))
      (import "http_handler" "get_uri" (func $get_uri (param i32 i32) (result i32)))
      (import "http_handler" "set_uri" (func $set_uri (param i32 i32)))
      (memory (export "memory") 1)
      (data (i32.const 32) "x-call")
      (data (i32.const 48) "x-bad")
      (data (i32.const 64) "/new-uri")
      (func (export "handle_request") (result i64)
        (local $call i32) (local $at i32)
        (drop (call $get_values (i32.const 0) (i32.const 32) (i32.const 6) (i32.const 128) (i32.const 16)))
        (local.set $call (i32.sub (i32.load8_u (i32.const 128)) (i32.const 48)))
        (local.set $at (select (i32.const 65530) (i32.const 64)
          (i64.ne (call $get_values (i32.const 0) (i32.const 48) (i32.const 5) (i32.const 256) (i32.const 16)) (i64.const 0))))
        ${branches}
        (i64.const 1))
      (func (export "handle_response") (param i32 i32)))`);
    const logger = recordingLogger();
    const middleware = await WasmMiddleware.load(guest, { name: 'pointers', logger });
    for (const [i, [fn]] of calls.entries()) {
      const bad = new MemoryExchange({ uri: '/v1.0/invoke/a/method/b', requestHeaders: ['x-call', String(i), 'x-bad', '1'] });
      assert.throws(() => middleware.handleRequest(bad), (err: Error) => {
        assert.ok(err instanceof WasmGuestError, `${fn}: ${err.message}`);
        assert.equal(err.httpStatus, 500);
        assert.match(err.message, /\[65530, 655\d\d\) is outside guest memory of 65536 bytes/, fn);
        return true;
      });
      const good = new MemoryExchange({ uri: '/v1.0/invoke/a/method/b', requestHeaders: ['x-call', String(i)] });
      assert.equal(middleware.handleRequest(good).next, true, `${fn}: the next request`);
      if (fn === 'set_uri') assert.equal(good.uri, '/new-uri');
    }
    assert.equal(logger.lines.filter((line) => line.level === 'error' && /outside guest memory/.test(line.msg)).length, calls.length);
  });

  test('an instance whose memory grew past the limit is replaced after the request', async () => {
    const logger = recordingLogger();
    const middleware = await load('memory.wat', { logger, maxMemoryBytes: 2 * 65536 });
    const pages = (headers: string[] = []): string[] => {
      const ex = new MemoryExchange({ requestHeaders: headers });
      middleware.handleRequest(ex);
      return valuesOf(ex.requestHeaders.toFlat(), 'x-pages');
    };
    assert.deepEqual(pages(), ['1']);
    assert.deepEqual(pages(['x-grow', '1']), ['3']);
    assert.deepEqual(pages(), ['1'], 'a fresh instance with its initial memory');
    assert.ok(logger.lines.some((line) => line.level === 'warn' && /grew to 196608 bytes/.test(line.msg)));
  });

  test('a guest without handle_request is refused at load with a clear message', async () => {
    await assert.rejects(load('missing-export.wat'), (err: Error) => {
      assert.ok(err instanceof WasmLoadError);
      assert.match(err.message, /does not export the function "handle_request"/);
      return true;
    });
  });

  test('a guest importing what the host lacks, or bytes that are not wasm, are refused at load', async () => {
    const foreign = wat(`(module (import "env" "abort" (func)) (memory (export "memory") 1)
      (func (export "handle_request") (result i64) (i64.const 1)) (func (export "handle_response") (param i32 i32)))`);
    await assert.rejects(WasmMiddleware.load(foreign), /imports function "env.abort", which this host does not provide/);
    await assert.rejects(WasmMiddleware.load(Buffer.from('not wasm')), WasmLoadError);
  });
});

describe('wasm host: WASI', () => {
  test('a TinyGo-style _start ending in proc_exit(0) counts as started; fd_write reaches the log', async () => {
    const logger = recordingLogger();
    const middleware = await load('wasi-command.wat', { logger });
    assert.deepEqual(logger.lines, [
      { level: 'info', msg: 'main ran' },
      { level: 'info', msg: 'in two lines' },
    ]);
    const request = middleware.handleRequest(new MemoryExchange());
    assert.equal(request.next, true);
    assert.deepEqual(logger.lines.slice(2), [
      { level: 'info', msg: 'handling a request' },
      { level: 'warn', msg: 'no newline' },
    ]);
  });

  test('a guest whose _start exits with a non-zero code fails to load', async () => {
    const exiting = wat(`(module (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
      (memory (export "memory") 1) (func (export "_start") (call $exit (i32.const 3)))
      (func (export "handle_request") (result i64) (i64.const 1)) (func (export "handle_response") (param i32 i32)))`);
    await assert.rejects(WasmMiddleware.load(exiting), /failed to start: guest called proc_exit\(3\)/);
  });

  test('a guest that traps while starting fails to load, quoting the errors and stderr lines it wrote first', async () => {
    const refusing = wat(`(module
      (import "http_handler" "log" (func $log (param i32 i32 i32)))
      (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (data (i32.const 0) "setting up")
      (data (i32.const 16) "rate: not a number")
      (data (i32.const 48) "panic: bad config\\0a")
      (data (i32.const 80) "\\30\\00\\00\\00\\12\\00\\00\\00")
      (func (export "_start")
        (call $log (i32.const 0) (i32.const 0) (i32.const 10))
        (call $log (i32.const 2) (i32.const 16) (i32.const 18))
        (drop (call $fd_write (i32.const 2) (i32.const 80) (i32.const 1) (i32.const 96)))
        unreachable)
      (func (export "handle_request") (result i64) (i64.const 1)) (func (export "handle_response") (param i32 i32)))`);
    // Even with only errors let through, the warning from stderr is quoted in the failure.
    const logger = recordingLogger('error');
    await assert.rejects(WasmMiddleware.load(refusing, { name: 'refusing', logger }), (err: Error) => {
      assert.ok(err instanceof WasmLoadError);
      assert.equal(err.message, 'wasm middleware "refusing": the guest failed to start: unreachable; the guest reported: rate: not a number; panic: bad config');
      return true;
    });
    assert.deepEqual(logger.lines, [{ level: 'error', msg: 'rate: not a number' }]);
  });

  test('strictSandbox: fixed wall clock, a monotonic clock that ticks, and seeded randomness', async () => {
    const run = async (strictSandbox: boolean): Promise<Buffer> => {
      const middleware = await load('sandbox.wat', { strictSandbox });
      const ex = new MemoryExchange();
      middleware.handleRequest(ex);
      return Buffer.from(ex.responseBody);
    };
    const [a, b] = [await run(true), await run(true)];
    assert.deepEqual(a, b, 'two sandboxes see the same clocks and random bytes');
    assert.equal(a.readBigUInt64LE(0), 1_640_995_200_000_000_000n);
    assert.ok(a.readBigUInt64LE(16) > a.readBigUInt64LE(8));

    const [c, d] = [await run(false), await run(false)];
    const wall = Number(c.readBigUInt64LE(0) / 1_000_000n);
    assert.ok(Math.abs(wall - Date.now()) < 60_000, 'the real wall clock');
    const monotonic = c.readBigUInt64LE(8);
    assert.ok(monotonic <= process.hrtime.bigint() && monotonic > process.hrtime.bigint() - 60_000_000_000n, 'the process monotonic clock');
    assert.ok(c.readBigUInt64LE(16) >= monotonic);
    assert.notDeepEqual(c.subarray(24), d.subarray(24), 'real randomness');
  });

  test('a clock id WASI does not define, large or past the top bit, is EINVAL and leaves memory alone', async () => {
    const probe = wat(`(module
      (import "wasi_snapshot_preview1" "clock_time_get" (func $time (param i32 i64 i32) (result i32)))
      (import "wasi_snapshot_preview1" "clock_res_get" (func $res (param i32 i32) (result i32)))
      (import "http_handler" "write_body" (func $write_body (param i32 i32 i32)))
      (memory (export "memory") 1)
      (func (export "handle_request") (result i64)
        (i32.store8 (i32.const 0) (call $time (i32.const 4) (i64.const 1) (i32.const 16)))
        (i32.store8 (i32.const 1) (call $time (i32.const -1) (i64.const 1) (i32.const 16)))
        (i32.store8 (i32.const 2) (call $res (i32.const 4) (i32.const 16)))
        (i32.store8 (i32.const 3) (call $res (i32.const -2147483648) (i32.const 16)))
        (i32.store8 (i32.const 4) (call $time (i32.const 1) (i64.const 1) (i32.const 8)))
        (call $write_body (i32.const 1) (i32.const 0) (i32.const 24))
        (i64.const 0))
      (func (export "handle_response") (param i32 i32)))`);
    for (const strictSandbox of [false, true]) {
      const middleware = await WasmMiddleware.load(probe, { strictSandbox });
      const ex = new MemoryExchange();
      middleware.handleRequest(ex);
      const body = Buffer.from(ex.responseBody);
      assert.deepEqual([...body.subarray(0, 5)], [28, 28, 28, 28, 0], `errno values, strictSandbox ${strictSandbox}`);
      assert.ok(body.readBigUInt64LE(8) > 0n, 'a defined clock still answers');
      assert.equal(body.readBigUInt64LE(16), 0n, 'nothing written for an undefined clock');
    }
  });

  test('clock values are written as the exact u64 of seconds and nanoseconds, up to 2^32 seconds', () => {
    const wasmMemory = new WebAssembly.Memory({ initial: 1 });
    const memory = new GuestMemory(wasmMemory);
    const view = Buffer.from(wasmMemory.buffer);
    const at = 13; // unaligned, as a guest's pointer may be
    const seconds = [0, 1, 0xffff, 0x1_0000, 1_640_995_200, 1_000_000_007, 0xffff_fffe, 0xffff_ffff];
    const nanos = [0, 1, 999_999, 123_456_789, 999_999_999];
    for (let i = 0; i < 200; i++) seconds.push(Math.floor(Math.random() * 0x1_0000_0000));
    for (const s of seconds) {
      for (const n of nanos) {
        memory.setNanoseconds(at, s, n);
        assert.equal(view.readBigUInt64LE(at), BigInt(s) * 1_000_000_000n + BigInt(n), `${s} s ${n} ns`);
      }
    }
  });
});

describe('wasm host: a handle_response that does nothing', () => {
  const handleRequest = '(func (export "handle_request") (result i64) (i64.const 1))';
  const module = (body: string): string => `(module (memory (export "memory") 1) ${body})`;
  const handlesResponses = async (text: string, bytes = wat(text)): Promise<boolean> => (await compileGuest(bytes, 'scan')).handlesResponses;

  test('is found empty from the module\'s code, whatever comes before it', async () => {
    assert.equal(await handlesResponses(module(`${handleRequest} (func (export "handle_response") (param i32 i32))`)), false);
    assert.equal(await handlesResponses(module(`${handleRequest} (func (export "handle_response") (param i32 i32) (local i64 f32) (local externref))`)), false, 'locals alone do nothing');
    assert.equal(await handlesResponses(module(`${handleRequest} (func (export "handle_response") (param i32 i32) nop)`)), true);
    assert.equal(await handlesResponses(module(`${handleRequest} (func (export "handle_response") (param i32 i32) (drop (local.get 0)))`)), true);
    // Imported functions come first in the index space: the export's index points past them into the code.
    const imports = `(import "http_handler" "get_uri" (func (param i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))`;
    const emptyHelper = '(func $helper)';
    assert.equal(await handlesResponses(`(module ${imports} (memory (export "memory") 1) ${emptyHelper} ${handleRequest} (func (export "handle_response") (param i32 i32) (call $helper)))`), true);
    assert.equal(await handlesResponses(`(module ${imports} (memory (export "memory") 1) (func $busy (drop (i32.const 1))) ${handleRequest} (func (export "handle_response") (param i32 i32)))`), false);
    // A host function exported as the handler is not the guest's code: it counts as doing something.
    assert.equal(await handlesResponses('(module (import "http_handler" "set_uri" (func $set_uri (param i32 i32))) (memory (export "memory") 1) ' + `${handleRequest} (export "handle_response" (func $set_uri)))`), true);
    // Sections after the code section (names, custom data) change nothing.
    const empty = wat(module(`${handleRequest} (func (export "handle_response") (param i32 i32))`));
    const custom = Uint8Array.from([0, 6, 4, ...Buffer.from('note'), 1]);
    assert.equal(await handlesResponses('', Uint8Array.from([...empty, ...custom])), false);
  });

  test('a request through such a guest still ends, and a reload to a guest with a response handler takes effect', async () => {
    const middleware = await WasmMiddleware.load(fixture('pipeline/pass.wat'), { name: 'quiet', logger: recordingLogger() });
    const first = middleware.handleRequest(new MemoryExchange());
    assert.equal(first.instance.handlesResponses, false);
    middleware.handleResponse(first);
    assert.equal(first.finished, true);
    assert.equal(middleware.handleRequest(new MemoryExchange()), first, 'the ended request serves the next one');

    await middleware.reload(fixture('stamp.wat', { VERSION: 'b' }));
    const exchange = new MemoryExchange();
    const stamped = middleware.handleRequest(exchange);
    assert.equal(stamped.instance.handlesResponses, true);
    middleware.handleResponse(stamped);
    assert.deepEqual(valuesOf(exchange.responseHeaders.toFlat(), 'x-version'), ['b']);
  });
});

describe('wasm host: loading and hot reload', () => {
  const dir = tempDir('wasm-host');
  let server: Server;
  let base: string;
  before(async () => {
    server = createServer((req, res) => {
      if (req.url === '/config.wasm') res.end(fixture('config.wat'));
      else res.writeHead(404).end();
    });
    await new Promise<void>((ready) => server.listen(0, '127.0.0.1', ready));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise((closed) => server.close(closed));
    dir.remove();
  });

  test('guests load from file:// and http:// URLs with their guestConfig', async () => {
    const path = join(dir.path, 'config.wasm');
    writeFileSync(path, fixture('config.wat'));
    for (const url of [pathToFileURL(path).href, `${base}/config.wasm`]) {
      const middleware = await loadWasmMiddleware(url, { guestConfig: Buffer.from(url), logger: recordingLogger() });
      const ex = new MemoryExchange();
      middleware.handleRequest(ex);
      assert.equal(text(ex.responseBody), url);
    }
    await assert.rejects(loadWasmMiddleware(`${base}/missing.wasm`), /HTTP 404/);
    await assert.rejects(loadWasmMiddleware(pathToFileURL(join(dir.path, 'absent.wasm')).href), WasmLoadError);
    await assert.rejects(loadWasmMiddleware('oci://registry/guest:1'), /unsupported scheme/);
  });

  test('metadata: url, guestConfig and strictSandbox as Dapr names them', () => {
    const options = wasmOptionsFromMetadata({
      name: 'rewrite', type: 'middleware.http.wasm', version: 'v1',
      properties: { URL: 'file://router.wasm', guestConfig: 'environment=production', strictSandbox: 'true' },
    });
    assert.equal(options.url, 'file://router.wasm');
    assert.equal(text(options.guestConfig!), 'environment=production');
    assert.equal(options.strictSandbox, true);
    assert.throws(() => wasmOptionsFromMetadata({ name: 'w', type: 'middleware.http.wasm', version: 'v1', properties: {} }), /"url" is required/);
  });

  test('a reload swaps modules between requests; a request in flight finishes on the old one', async () => {
    const middleware = await WasmMiddleware.load(fixture('stamp.wat', { VERSION: 'a' }), { logger: recordingLogger() });
    const stamp = (flat: string[]): string[] => valuesOf(flat, 'x-version');

    const early = new MemoryExchange();
    const inFlight = middleware.handleRequest(early);
    assert.deepEqual(stamp(early.requestHeaders.toFlat()), ['a']);

    await middleware.reload(fixture('stamp.wat', { VERSION: 'b' }));
    assert.equal(middleware.generation, 1);
    const late = new MemoryExchange();
    middleware.handleResponse(middleware.handleRequest(late));
    assert.deepEqual(stamp(late.requestHeaders.toFlat()), ['b']);
    assert.deepEqual(stamp(late.responseHeaders.toFlat()), ['b']);

    middleware.handleResponse(inFlight);
    assert.deepEqual(stamp(early.responseHeaders.toFlat()), ['a'], 'finished on the module it started on');

    await assert.rejects(middleware.reload(fixture('missing-export.wat')), WasmLoadError);
    const after = new MemoryExchange();
    middleware.handleRequest(after);
    assert.deepEqual(stamp(after.requestHeaders.toFlat()), ['b'], 'a bad module leaves the running one in place');
  });

  test('a watched file:// guest is reloaded when the file is rebuilt', async (t) => {
    const path = join(dir.path, 'stamp.wasm');
    writeFileSync(path, fixture('stamp.wat', { VERSION: 'a' }));
    const url = pathToFileURL(path).href;
    const middleware = await loadWasmMiddleware(url, { logger: recordingLogger() });
    const errors: Error[] = [];
    const watcher = watchGuestFile(middleware, url, (err) => errors.push(err));
    t.after(() => watcher.close());
    const stamp = (): string[] => {
      const ex = new MemoryExchange();
      middleware.handleRequest(ex);
      return valuesOf(ex.requestHeaders.toFlat(), 'x-version');
    };
    assert.deepEqual(stamp(), ['a']);
    writeFileSync(path, fixture('stamp.wat', { VERSION: 'c' }));
    await eventually(5000, async () => assert.deepEqual(stamp(), ['c']));
    assert.deepEqual(errors, []);
  });
});
