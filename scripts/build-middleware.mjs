// Builds every http-wasm middleware (middleware-wasm/template, your own middleware-wasm/<name>/ and
// middleware-wasm/builtin/*) with the AssemblyScript compiler into dist/middleware-wasm/<name>.wasm, then refuses
// any module that imports
// something other than the http_handler host functions and the one WASI clock: hosts such as Dapr's provide
// nothing else, so such a module would build fine and only fail when a sidecar loads it.
//
//   node scripts/build-middleware.mjs [--debug] [folder ...]   (default: every middleware folder)
import asc from 'assemblyscript/asc';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const PROJECT_ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
export const DEFAULT_OUT_DIR = join(PROJECT_ROOT, 'dist', 'middleware-wasm');

/** The host functions of the http-wasm http_handler ABI: the only imports a middleware may have. */
export const HTTP_HANDLER_FUNCTIONS = new Set([
  'enable_features', 'get_config', 'log', 'log_enabled',
  'get_header_names', 'get_header_values', 'set_header_value', 'add_header_value', 'remove_header',
  'read_body', 'write_body',
  'get_method', 'set_method', 'get_uri', 'set_uri', 'get_protocol_version', 'get_source_addr',
  'get_status_code', 'set_status_code',
]);

/**
 * Folders holding a middleware, each with an asconfig.json extending the preset: the template, your own next to it
 * (`middleware-wasm/<name>/`, a copy of the template) and the built-ins (`middleware-wasm/builtin/<name>/`).
 */
export function middlewareDirs(root = PROJECT_ROOT) {
  const base = join(root, 'middleware-wasm');
  const subdirs = (dir) =>
    existsSync(dir) ? readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => join(dir, e.name)) : [];
  return [...subdirs(base), ...subdirs(join(base, 'builtin'))].filter((dir) => existsSync(join(dir, 'asconfig.json')));
}

/**
 * The one WASI function a middleware may import: the ABI has no clock, and http-wasm hosts (Dapr's wazero
 * included) give guests WASI preview1 for TinyGo's sake.
 */
const ALLOWED_WASI_FUNCTIONS = new Set(['clock_time_get']);

function allowed(entry) {
  if (entry.kind !== 'function') return false;
  if (entry.module === 'http_handler') return HTTP_HANDLER_FUNCTIONS.has(entry.name);
  return entry.module === 'wasi_snapshot_preview1' && ALLOWED_WASI_FUNCTIONS.has(entry.name);
}

/** Imports of a compiled module outside the http_handler ABI and the allowed WASI clock, as "module.name" strings. */
export function disallowedImports(wasm) {
  return WebAssembly.Module.imports(new WebAssembly.Module(wasm))
    .filter((entry) => !allowed(entry))
    .map((entry) => `${entry.module}.${entry.name}`);
}

/** Throws naming every import outside the http_handler ABI. */
export function checkImports(wasm, label) {
  const refused = disallowedImports(wasm);
  if (refused.length > 0) {
    throw new Error(`${label} imports ${refused.join(', ')}: a middleware may only import http_handler functions and wasi_snapshot_preview1.clock_time_get ` +
      '(env.abort means the preset\'s custom abort is missing; env.seed comes from Math.random, env.trace from trace, ' +
      'Date.now from Date)');
  }
}

/**
 * Compiles the middleware in `dir` to `<outDir>/<folder name>.wasm` and checks its imports.
 * Resolves with the output path; rejects with the compiler's diagnostics or the refused imports.
 */
export async function buildMiddleware(dir, { outDir = DEFAULT_OUT_DIR, target = 'release' } = {}) {
  const outFile = join(outDir, `${basename(dir)}.wasm`);
  const stdout = asc.createMemoryStream();
  const stderr = asc.createMemoryStream();
  // The preset names the custom abort by its path from the project root, so compile from there.
  const { error } = await asc.main([
    '--baseDir', PROJECT_ROOT,
    '--config', relative(PROJECT_ROOT, join(dir, 'asconfig.json')),
    '--target', target,
    '--outFile', outFile,
  ], { stdout, stderr });
  if (error) throw new Error(`building ${relative(PROJECT_ROOT, dir)} failed: ${error.message}\n${stderr.toString()}`);
  checkImports(readFileSync(outFile), relative(PROJECT_ROOT, outFile));
  return outFile;
}

/** Builds every middleware (or those in `dirs`); resolves with the output paths. */
export async function buildAllMiddleware(options, dirs = middlewareDirs()) {
  const outputs = [];
  for (const dir of dirs) outputs.push(await buildMiddleware(dir, options));
  return outputs;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const target = args.includes('--debug') ? 'debug' : 'release';
  const folders = args.filter((arg) => !arg.startsWith('--')).map((folder) => resolve(folder));
  try {
    const outputs = await buildAllMiddleware({ target }, folders.length > 0 ? folders : middlewareDirs());
    for (const output of outputs) console.log(`built ${relative(process.cwd(), output)}`);
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  }
}
