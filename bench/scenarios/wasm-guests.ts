/**
 * The guests the wasm scenario runs: two written in WebAssembly text (bench/guests/*.wat, compiled with wabt at
 * run time) and the SDK's template middleware, built with the project's own build script (in a child process)
 * into a temp dir.
 */
import { execFile } from 'node:child_process';
import { readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { pathToFileURL } from 'node:url';
import createWabt from 'wabt';
import { repoRoot } from '../lib/layout.js';
import { makeTempDir, removeTempDir } from '../lib/tempdir.js';

const run = promisify(execFile);

/**
 * The source tree. The compiled bench may live in any out dir next to a symlinked package.json; the symlink's
 * target is the checkout holding the .wat sources, the SDK and the build script.
 */
const sourceRoot = dirname(realpathSync(join(repoRoot, 'package.json')));

export interface BenchGuests {
  /** handle_request returns next, handle_response does nothing. */
  readonly noop: Uint8Array;
  /** middleware-wasm/template, release preset: reads x-tenant, rewrites the URI, sets x-tenant-routed. */
  readonly template: Uint8Array;
  /** Sets x-served-by on the response. */
  readonly responseHeader: Uint8Array;
}

type Wabt = Awaited<ReturnType<typeof createWabt>>;

function compileWat(wabt: Wabt, file: string): Uint8Array {
  const path = join(sourceRoot, 'bench', 'guests', file);
  const module = wabt.parseWat(file, readFileSync(path, 'utf8'));
  try {
    return module.toBinary({}).buffer;
  } finally {
    module.destroy();
  }
}

/** Runs in a child process: imports the build script and builds one middleware (argv: script URL, folder, out dir). */
const buildOne = `const [script, dir, outDir] = process.argv.slice(1);
const { buildMiddleware } = await import(script);
await buildMiddleware(dir, { outDir, target: 'release' });`;

/**
 * Built afresh on every run, so the bench never times a stale dist/middleware-wasm/template.wasm. The compiler
 * runs in a child process: loaded into this one, it made every timed request about 35 ns slower, a cost no
 * sidecar (which loads built modules) carries.
 */
async function buildTemplate(): Promise<Uint8Array> {
  const script = pathToFileURL(join(sourceRoot, 'scripts', 'build-middleware.mjs')).href;
  const dir = join(sourceRoot, 'middleware-wasm', 'template');
  const outDir = makeTempDir('wasm');
  try {
    await run(process.execPath, ['--input-type=module', '-e', buildOne, script, dir, outDir]);
    return readFileSync(join(outDir, `${basename(dir)}.wasm`));
  } finally {
    removeTempDir(outDir);
  }
}

export async function loadBenchGuests(): Promise<BenchGuests> {
  const wabt = await createWabt();
  return {
    noop: compileWat(wabt, 'noop.wat'),
    template: await buildTemplate(),
    responseHeader: compileWat(wabt, 'response-header.wat'),
  };
}

/** Unsigned LEB128, as wasm encodes sizes. */
function leb128(value: number): number[] {
  const bytes: number[] = [];
  do {
    let byte = value & 0x7f;
    value >>>= 7;
    if (value !== 0) byte |= 0x80;
    bytes.push(byte);
  } while (value !== 0);
  return bytes;
}

/**
 * `bytes` with a custom section holding `tag` appended. V8 shares a compiled module between modules of identical
 * bytes while one is alive, so a cold start timed on the same bytes twice could skip compilation; a custom
 * section changes the bytes and nothing else.
 */
export function distinctCopy(bytes: Uint8Array, tag: string): Uint8Array {
  const name = Buffer.from('pillion.bench', 'utf8');
  const payload = Buffer.from(tag, 'utf8');
  const content = [...leb128(name.length), ...name, ...payload];
  const section = Uint8Array.from([0, ...leb128(content.length), ...content]);
  const copy = new Uint8Array(bytes.length + section.length);
  copy.set(bytes, 0);
  copy.set(section, bytes.length);
  return copy;
}

const guestFiles: Record<keyof BenchGuests, string> = {
  noop: 'noop.wasm',
  template: 'template.wasm',
  responseHeader: 'response-header.wasm',
};

/** Writes the guests into `dir`, for the processes that time them. */
export function writeGuests(guests: BenchGuests, dir: string): void {
  for (const guest of Object.keys(guestFiles) as (keyof BenchGuests)[]) writeFileSync(join(dir, guestFiles[guest]), guests[guest]);
}

export function readGuests(dir: string): BenchGuests {
  const read = (guest: keyof BenchGuests): Uint8Array => readFileSync(join(dir, guestFiles[guest]));
  return { noop: read('noop'), template: read('template'), responseHeader: read('responseHeader') };
}
