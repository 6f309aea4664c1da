import { cpus, release } from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root; this module is compiled to <root>/<outDir>/bench/lib/. */
export const repoRoot: string = fileURLToPath(new URL('../../../', import.meta.url));

/** The sidecar CLI as produced by `npm run build`. */
export const defaultSidecarCli: string = join(repoRoot, 'dist', 'proxy', 'cli', 'main.js');

const resultsDir = join(repoRoot, 'bench', 'results');

/** Writes bench/results/<scenario>-<timestamp>.json and returns its path. */
export function writeResults(scenario: string, startedAt: Date, results: unknown): string {
  mkdirSync(resultsDir, { recursive: true });
  // ISO 8601 basic time (no colons) keeps the name portable and still sortable.
  const stamp = startedAt.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/:/g, '');
  const path = join(resultsDir, `${scenario}-${stamp}.json`);
  writeFileSync(path, `${JSON.stringify(results, null, 2)}\n`);
  return path;
}

/** The machine a result was measured on, recorded with every result file. */
export function hostInfo(): { cpuModel: string | undefined; cpus: number; kernel: string; node: string } {
  return { cpuModel: cpus()[0]?.model, cpus: cpus().length, kernel: release(), node: process.version };
}
