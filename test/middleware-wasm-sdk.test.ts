import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import asc from 'assemblyscript/asc';

// The compiled test may run from an output dir that only links package.json; its real location is the root.
const PROJECT_ROOT = dirname(realpathSync(fileURLToPath(new URL('../../package.json', import.meta.url))));
const TEMPLATE_DIR = join(PROJECT_ROOT, 'middleware-wasm', 'template');
const SDK_DIR = join(PROJECT_ROOT, 'middleware-wasm', 'assembly');

interface BuildScript {
  buildMiddleware(dir: string, options?: { outDir?: string; target?: 'release' | 'debug' }): Promise<string>;
  checkImports(wasm: Uint8Array, label: string): void;
}

// @types/node does not declare the WebAssembly global; these are the few members used here.
interface WasmModuleEntry { module?: string; name: string; kind: string }
interface WasmGlobal {
  Module: { new (bytes: Uint8Array): object; imports(m: object): WasmModuleEntry[]; exports(m: object): WasmModuleEntry[] };
  Instance: new (m: object, imports: object) => { exports: Record<string, unknown> };
}
const WebAssemblyApi = (globalThis as unknown as { WebAssembly: WasmGlobal }).WebAssembly;

interface MiddlewareExports {
  memory: { buffer: ArrayBuffer };
  _start(): void;
  handle_request(): bigint;
  handle_response(reqCtx: number, isError: number): void;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** An in-memory request behind the http_handler functions, as a host would serve it. */
class FakeHost {
  exports!: MiddlewareExports;
  method = 'GET';
  uri = '/';
  config = '';
  readonly requestHeaders = new Map<string, string[]>();
  readonly logs: Array<{ level: number; message: string }> = [];

  constructor(private readonly module: object) {}

  start(): this {
    // Functions this fake does not serve still link, and fail loudly if the middleware calls them.
    const served = this.functions();
    for (const { name } of WebAssemblyApi.Module.imports(this.module)) {
      served[name] ??= () => { throw new Error(`http_handler.${name} is not served by this fake`); };
    }
    const instance = new WebAssemblyApi.Instance(this.module, { http_handler: served });
    this.exports = instance.exports as unknown as MiddlewareExports;
    this.exports._start();
    return this;
  }

  header(name: string): string[] | undefined {
    return this.requestHeaders.get(name.toLowerCase());
  }

  private bytes(ptr: number, len: number): Uint8Array {
    return new Uint8Array(this.exports.memory.buffer, ptr, len);
  }

  private text(ptr: number, len: number): string {
    return decoder.decode(this.bytes(ptr, len));
  }

  /** The ABI's buf/buf_limit contract: write only when it fits, always report the length. */
  private writeIfFits(value: Uint8Array, buf: number, limit: number): number {
    if (value.length <= limit) this.bytes(buf, value.length).set(value);
    return value.length;
  }

  private writeList(items: string[], buf: number, limit: number): bigint {
    if (items.length === 0) return 0n;
    const encoded = encoder.encode(items.map((item) => `${item}\0`).join(''));
    return (BigInt(items.length) << 32n) | BigInt(this.writeIfFits(encoded, buf, limit));
  }

  private headersOf(kind: number): Map<string, string[]> {
    if (kind !== 0) throw new Error(`header kind ${kind} is not served by this fake`);
    return this.requestHeaders;
  }

  private functions(): Record<string, (...args: number[]) => number | bigint | void> {
    return {
      get_config: (buf, limit) => this.writeIfFits(encoder.encode(this.config), buf, limit),
      log: (level, ptr, len) => { this.logs.push({ level, message: this.text(ptr, len) }); },
      get_method: (buf, limit) => this.writeIfFits(encoder.encode(this.method), buf, limit),
      get_uri: (buf, limit) => this.writeIfFits(encoder.encode(this.uri), buf, limit),
      set_uri: (ptr, len) => { this.uri = this.text(ptr, len); },
      get_header_names: (kind, buf, limit) => this.writeList([...this.headersOf(kind).keys()], buf, limit),
      get_header_values: (kind, name, nameLen, buf, limit) =>
        this.writeList(this.headersOf(kind).get(this.text(name, nameLen).toLowerCase()) ?? [], buf, limit),
      set_header_value: (kind, name, nameLen, value, valueLen) => {
        this.headersOf(kind).set(this.text(name, nameLen).toLowerCase(), [this.text(value, valueLen)]);
      },
    };
  }
}

describe('middleware-wasm SDK template', () => {
  let outDir: string;
  let templateWasm: Uint8Array;
  let templateModule: object;
  let build: BuildScript;

  before(async () => {
    build = await import(pathToFileURL(join(PROJECT_ROOT, 'scripts', 'build-middleware.mjs')).href) as BuildScript;
    outDir = mkdtempSync(join(tmpdir(), 'pillion-wasm-sdk-'));
    const output = await build.buildMiddleware(TEMPLATE_DIR, { outDir });
    templateWasm = readFileSync(output);
    templateModule = new WebAssemblyApi.Module(templateWasm);
  });
  after(() => rmSync(outDir, { recursive: true, force: true }));

  test('the build script writes <folder>.wasm into the output dir', () => {
    assert.deepEqual(readdirSync(outDir), ['template.wasm']);
  });

  test('the debug target builds too, passing the same import check', async () => {
    const debugDir = mkdtempSync(join(tmpdir(), 'pillion-wasm-sdk-debug-'));
    try {
      const output = await build.buildMiddleware(TEMPLATE_DIR, { outDir: debugDir, target: 'debug' });
      assert.ok(readFileSync(output).length > templateWasm.length, 'debug build keeps names and is unoptimised');
    } finally {
      rmSync(debugDir, { recursive: true, force: true });
    }
  });

  test('imports only http_handler functions', () => {
    const imports = WebAssemblyApi.Module.imports(templateModule);
    assert.deepEqual(imports.map((entry) => entry.module), imports.map(() => 'http_handler'));
    assert.deepEqual(imports.map((entry) => entry.name).sort(), [
      'get_config', 'get_header_names', 'get_header_values', 'get_uri', 'log', 'set_header_value', 'set_uri',
    ]);
  });

  test('exports the guest functions, memory and the initialiser', () => {
    const exports = Object.fromEntries(WebAssemblyApi.Module.exports(templateModule).map((e) => [e.name, e.kind]));
    assert.deepEqual(exports, {
      handle_request: 'function', handle_response: 'function', memory: 'memory', _start: 'function',
    });
  });

  test('rewrites the URI and sets a header when the request carries the tenant header', () => {
    const host = new FakeHost(templateModule).start();
    host.uri = '/orders?id=7';
    host.requestHeaders.set('x-tenant', ['acme']);
    assert.equal(host.exports.handle_request(), 1n, 'proceeds to the next handler without context');
    assert.equal(host.uri, '/tenants/acme/orders?id=7');
    assert.deepEqual(host.header('x-tenant-routed'), ['true']);
    host.exports.handle_response(0, 0);
    assert.deepEqual(host.logs, []);
  });

  test('leaves a request without the header untouched', () => {
    const host = new FakeHost(templateModule).start();
    host.uri = '/orders';
    assert.equal(host.exports.handle_request(), 1n);
    assert.equal(host.uri, '/orders');
    assert.equal(host.header('x-tenant-routed'), undefined);
  });

  test('reads the header name from the configuration', () => {
    const host = new FakeHost(templateModule);
    host.config = 'X-Org';
    host.start();
    host.uri = '/a';
    host.requestHeaders.set('x-tenant', ['ignored']);
    host.requestHeaders.set('x-org', ['blue']);
    host.exports.handle_request();
    assert.equal(host.uri, '/tenants/blue/a');
  });

  test('values larger than the scratch buffer are read through the arena', () => {
    const host = new FakeHost(templateModule).start();
    const longPath = `/${'p'.repeat(10_000)}`;
    host.uri = longPath;
    host.requestHeaders.set('x-tenant', ['t'.repeat(5_000)]);
    host.exports.handle_request();
    assert.equal(host.uri, `/tenants/${'t'.repeat(5_000)}${longPath}`);
  });

  test('a URI exactly filling the scratch buffer behind prefix and tenant, or one byte over, is rewritten whole', () => {
    const host = new FakeHost(templateModule).start();
    host.requestHeaders.set('x-tenant', ['acme']);
    const room = 4096 - '/tenants/acme'.length;
    for (const length of [room - 1, room, room + 1]) {
      const path = `/${'r'.repeat(length - 1)}`;
      host.uri = path;
      host.exports.handle_request();
      assert.equal(host.uri, `/tenants/acme${path}`, `a URI of ${length} bytes`);
      assert.deepEqual(host.header('x-tenant-routed'), ['true']);
    }
  });

  test('100,000 requests leave memory at its size after the first, and keep the state made at start', () => {
    const host = new FakeHost(templateModule);
    host.config = 'x-org';
    host.start();
    // Each request allocates well over a page (a long URI read, concatenated and encoded), so a leak would
    // grow memory by gigabytes.
    const path = `/${'q'.repeat(6_000)}`;
    const serve = (tenant: string): string => {
      host.uri = path;
      host.requestHeaders.set('x-org', [tenant]);
      host.exports.handle_request();
      return host.uri;
    };
    serve('first');
    const sizeAfterFirst = host.exports.memory.buffer.byteLength;
    for (let i = 0; i < 100_000; i++) serve(`t${i}`);
    assert.equal(host.exports.memory.buffer.byteLength, sizeAfterFirst);
    // The configured header name was allocated in _start: still intact after the arena was reset 100k times.
    assert.equal(serve('last'), `/tenants/last${path}`);
  });
});

describe('middleware-wasm import check', () => {
  let build: BuildScript;
  before(async () => {
    build = await import(pathToFileURL(join(PROJECT_ROOT, 'scripts', 'build-middleware.mjs')).href) as BuildScript;
  });

  async function compile(source: string): Promise<Uint8Array> {
    const { binary, error, stderr } = await asc.compileString(source, { runtime: 'stub', optimizeLevel: 1 });
    assert.equal(error, null, String(stderr));
    return binary as Uint8Array;
  }

  test('refuses a module importing env.abort, naming it', async () => {
    const wasm = await compile('export function check(x: i32): void { assert(x > 0, "positive"); }');
    assert.throws(() => build.checkImports(wasm, 'checked.wasm'), /checked\.wasm imports env\.abort/);
  });

  test('refuses a module importing env.seed, naming it', async () => {
    const wasm = await compile('export function roll(): f64 { return Math.random(); }');
    assert.throws(() => build.checkImports(wasm, 'dice.wasm'), /dice\.wasm imports .*env\.seed/);
  });

  test('refuses an http_handler import the ABI does not define', async () => {
    const wasm = await compile(
      '@external("http_handler", "get_secret") declare function getSecret(): i32;\n' +
      'export function f(): i32 { return getSecret(); }');
    assert.throws(() => build.checkImports(wasm, 'odd.wasm'), /odd\.wasm imports http_handler\.get_secret/);
  });

  test('accepts a module importing only http_handler functions', async () => {
    const wasm = await compile(
      '@external("http_handler", "get_status_code") declare function status(): i32;\n' +
      'export function f(): i32 { return status(); }');
    build.checkImports(wasm, 'fine.wasm');
  });
});

/** Compiles `entry` (as input.ts) with the SDK and the preset's options, serving all sources from memory. */
async function compileWithSdk(entry: string): Promise<object> {
  const sources: Record<string, string> = { 'input.ts': entry };
  for (const file of readdirSync(SDK_DIR)) {
    sources[`middleware-wasm/assembly/${file}`] = readFileSync(join(SDK_DIR, file), 'utf8');
  }
  const preset = JSON.parse(readFileSync(join(PROJECT_ROOT, 'middleware-wasm', 'asconfig.json'), 'utf8')) as {
    options: Record<string, unknown>;
  };
  const { binary, error, stderr } = await asc.compileString(sources, { ...preset.options, optimizeLevel: 1 });
  assert.equal(error, null, String(stderr));
  const module = new WebAssemblyApi.Module(binary as Uint8Array);
  assert.deepEqual([...new Set(WebAssemblyApi.Module.imports(module).map((e) => e.module))], ['http_handler']);
  return module;
}

describe('middleware-wasm SDK abort', () => {
  test('logs the message through http_handler.log at error level, then traps', async () => {
    const module = await compileWithSdk(
      'import { onRequest, proceed, Request, Response } from "./middleware-wasm/assembly";\n' +
      'export { handle_request, handle_response } from "./middleware-wasm/assembly";\n' +
      'onRequest((req: Request, res: Response): i64 => { assert(req.uri.length > 5, "uri too short"); return proceed(); });');
    const host = new FakeHost(module).start();
    host.uri = '/a';
    assert.throws(() => host.exports.handle_request(), /unreachable/);
    assert.equal(host.logs.length, 1);
    assert.equal(host.logs[0]!.level, 2);
    assert.match(host.logs[0]!.message, /^abort: uri too short at input\.ts:3:\d+$/);
  });
});

describe('middleware-wasm SDK zero-allocation layer', () => {
  // Copies the method into a header when the URI starts with /admin, without a single heap allocation: the
  // handler traps if the heap top moved by more than its own zero-size probe block (16 bytes with the stub).
  const entry = `
import { HeaderKind, equalsAsciiIgnoreCase, finish, methodToScratch, namedHeaderValueToScratch, proceed, onRequest,
  Request, Response, SCRATCH, setHeaderFrom, startsWithAscii, uriToScratch, ABSENT } from "./middleware-wasm/assembly";
export { handle_request, handle_response } from "./middleware-wasm/assembly";
onRequest((req: Request, res: Response): i64 => {
  const before = heap.alloc(0);
  const uriLen = uriToScratch();
  if (!startsWithAscii(SCRATCH, uriLen, "/admin")) return proceed();
  const roleLen = namedHeaderValueToScratch(HeaderKind.Request, "X-Role");
  if (roleLen == ABSENT || !equalsAsciiIgnoreCase(SCRATCH, roleLen, "ADMIN")) return finish();
  const methodLen = methodToScratch();
  setHeaderFrom(HeaderKind.Request, "x-admin-method", SCRATCH, methodLen);
  if (heap.alloc(0) != before + 16) unreachable();
  return proceed(7);
});`;

  test('reads, compares and writes through the scratch buffer', async () => {
    const host = new FakeHost(await compileWithSdk(entry)).start();
    host.method = 'DELETE';
    host.uri = '/public';
    assert.equal(host.exports.handle_request(), 1n);
    host.uri = '/admin/users';
    assert.equal(host.exports.handle_request(), 0n, 'no role: the middleware answers itself');
    host.requestHeaders.set('x-role', ['Admin']);
    assert.equal(host.exports.handle_request(), (7n << 32n) | 1n, 'proceeds with request context 7');
    assert.deepEqual(host.header('x-admin-method'), ['DELETE']);
  });
});

describe('middleware-wasm SDK convenience layer', () => {
  // Echoes every request header into "echo-<name>" and appends the method to the URI, so each string crosses
  // guest memory both ways: decoded into a string, then staged back as UTF-8.
  const entry = `
import { onRequest, proceed, Request, Response } from "./middleware-wasm/assembly";
export { handle_request, handle_response } from "./middleware-wasm/assembly";
onRequest((req: Request, res: Response): i64 => {
  const names = req.headers.names();
  for (let i = 0; i < names.length; i++) {
    const first = req.headers.get(names[i]);
    if (first == null) unreachable();
    req.headers.set("echo-" + names[i], first! + "|" + req.headers.values(names[i]).length.toString());
  }
  req.uri = req.uri + "#" + req.method;
  return proceed();
});`;

  // ASCII around the 4- and 8-unit steps of the fast paths, non-ASCII at several offsets, surrogate pairs, and
  // text too large for the staging buffers (names over 256 bytes, values over 4096 bytes in UTF-8 only).
  const values = [
    '', 'a', 'abc', 'abcd', 'abcdefg', 'abcdefgh', 'abcdefghi', 'x'.repeat(15), 'x'.repeat(16), 'x'.repeat(17),
    'ü', 'aü', 'abcdefgü', 'abcdefghü', 'abcdefgh日本語', '日本語のヘッダー', 'emoji 😀 pair', '😀', `${'y'.repeat(40)}é`,
    '日'.repeat(1500), 'z'.repeat(5000),
  ];

  test('strings of any length and script survive the trip into the guest and back', async () => {
    const host = new FakeHost(await compileWithSdk(entry)).start();
    for (const method of ['GET', 'PROPFIND', 'ÜBER']) {
      const longName = `x-${'n'.repeat(300)}`;
      host.requestHeaders.clear();
      values.forEach((value, i) => host.requestHeaders.set(`x-h${i}`, [value, 'second']));
      host.requestHeaders.set(longName, ['long name']);
      host.method = method;
      host.uri = '/path/ü?q=1';
      assert.equal(host.exports.handle_request(), 1n);
      values.forEach((value, i) => assert.deepEqual(host.header(`echo-x-h${i}`), [`${value}|2`], `value ${i}`));
      assert.deepEqual(host.header(`echo-${longName}`), ['long name|1']);
      assert.equal(host.uri, `/path/ü?q=1#${method}`);
    }
  });
});

describe('middleware-wasm SDK staging of strings', () => {
  // Literals and strings made while the module starts are staged from a cache of their encodings; strings made
  // per request take new text at the same arena addresses on every request, and must never be served from it.
  // 40 literal names overflow the 32 slots, so some evict each other on every request.
  const literalNames = Array.from({ length: 40 }, (_, i) => `x-literal-${i}`);
  const entry = `
import { getConfig, HeaderKind, onRequest, proceed, Request, Response, SCRATCH, setHeaderFrom, uriToScratch } from "./middleware-wasm/assembly";
export { handle_request, handle_response } from "./middleware-wasm/assembly";
const fromConfig = "x-config-" + getConfig();
const long = "x-" + "l".repeat(70);
onRequest((req: Request, res: Response): i64 => {
  const uri = req.uri;
${literalNames.map((name) => `  req.headers.set("${name}", uri);`).join('\n')}
  req.headers.set(fromConfig, "wert-ü");
  req.headers.set(long, "long");
  req.headers.set("x-per-request-" + uri.substring(1), uri + "-value");
  setHeaderFrom(HeaderKind.Request, "x-scratch", SCRATCH, uriToScratch());
  return proceed();
});`;

  test('literals, start-up strings and per-request strings all reach the host as their own text', async () => {
    const host = new FakeHost(await compileWithSdk(entry));
    host.config = 'name';
    host.start();
    for (const uri of ['/a', '/bb', '/c', '/a']) {
      host.uri = uri;
      host.requestHeaders.clear();
      assert.equal(host.exports.handle_request(), 1n);
      for (const name of literalNames) assert.deepEqual(host.header(name), [uri], `${name} on ${uri}`);
      assert.deepEqual(host.header('x-config-name'), ['wert-ü']);
      assert.deepEqual(host.header(`x-${'l'.repeat(70)}`), ['long']);
      assert.deepEqual(host.header(`x-per-request-${uri.substring(1)}`), [`${uri}-value`]);
      assert.deepEqual(host.header('x-scratch'), [uri]);
      assert.equal(host.requestHeaders.size, literalNames.length + 4, 'no header under a stale name');
    }
  });

  test('the scratch layer refuses a name past its 256-byte buffer, even a literal one', async () => {
    const longName = `x-${'n'.repeat(298)}`;
    const host = new FakeHost(await compileWithSdk(`
import { HeaderKind, namedHeaderValueToScratch, onRequest, proceed, Request, Response, SCRATCH, setHeaderFrom, TOO_LARGE } from "./middleware-wasm/assembly";
export { handle_request, handle_response } from "./middleware-wasm/assembly";
onRequest((req: Request, res: Response): i64 => {
  if (namedHeaderValueToScratch(HeaderKind.Request, "${longName}") != TOO_LARGE) unreachable();
  if (req.uri == "/set") setHeaderFrom(HeaderKind.Request, "${longName}", SCRATCH, 0);
  return proceed(1);
});`)).start();
    host.requestHeaders.set(longName, ['present']);
    for (let i = 0; i < 2; i++) assert.equal(host.exports.handle_request(), (1n << 32n) | 1n, 'a lookup reports TOO_LARGE');
    host.uri = '/set';
    assert.throws(() => host.exports.handle_request(), /unreachable/, 'a set traps');
    assert.deepEqual(host.header(longName), ['present']);
  });
});

describe('middleware-wasm SDK handlers', () => {
  test('the response handler gets the request context; memory stays put with and without one', async () => {
    const withResponse = await compileWithSdk(`
import { onRequest, onResponse, proceed, Request, Response } from "./middleware-wasm/assembly";
export { handle_request, handle_response } from "./middleware-wasm/assembly";
onRequest((req: Request, res: Response): i64 => proceed(<u32>req.uri.length));
onResponse((req: Request, res: Response, reqCtx: u32, isError: bool): void => {
  req.headers.set("x-seen", req.uri + " " + reqCtx.toString() + (isError ? " error" : ""));
});`);
    const withoutResponse = await compileWithSdk(`
import { onRequest, proceed, Request, Response } from "./middleware-wasm/assembly";
export { handle_request, handle_response } from "./middleware-wasm/assembly";
onRequest((req: Request, res: Response): i64 => { req.headers.set("x-seen", req.uri + "!"); return proceed(); });`);
    for (const module of [withResponse, withoutResponse]) {
      const host = new FakeHost(module).start();
      host.uri = `/${'u'.repeat(5000)}`;
      const size = (): number => host.exports.memory.buffer.byteLength;
      host.exports.handle_request();
      host.exports.handle_response(5001, 1);
      const sizeAfterFirst = size();
      for (let i = 0; i < 2000; i++) {
        host.exports.handle_request();
        host.exports.handle_response(5001, 0);
      }
      assert.equal(size(), sizeAfterFirst);
      const expected = module === withResponse ? `${host.uri} 5001` : `${host.uri}!`;
      assert.deepEqual(host.header('x-seen'), [expected]);
    }
  });
});
