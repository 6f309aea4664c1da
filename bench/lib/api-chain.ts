import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { stringify } from 'yaml';
import { writeComponentFile } from './component-file.js';

/** One middleware of the chain: a component and the compiled guest it runs. */
interface ChainStage {
  readonly name: string;
  readonly type: string;
  /** How the report names it. */
  readonly label: string;
  /** The guest's file in the build's middleware-wasm folder. */
  readonly guest: string;
  /** Component metadata; `{guest}` stands for the guest's absolute path. */
  readonly metadata: Readonly<Record<string, string>>;
}

/**
 * Three middleware a real API pipeline might hold, each configured so every bench request passes through it
 * untouched: a rate limit far above any rate the bench reaches, a route check every API path satisfies (Dapr's
 * documented example rule), and the SDK template, which rewrites the URI only for a header the bench never sends.
 * Each one still does its per-request work: a token-bucket lookup, a regex match over the decoded path, a header read.
 */
const STAGES: readonly ChainStage[] = [
  { name: 'bench-ratelimit', type: 'middleware.http.ratelimit', label: 'ratelimit', guest: 'ratelimit.wasm', metadata: { maxRequestsPerSecond: '1000000' } },
  { name: 'bench-routerchecker', type: 'middleware.http.routerchecker', label: 'routerchecker', guest: 'routerchecker.wasm', metadata: { rule: '^[A-Za-z0-9/._-]+$' } },
  { name: 'bench-template', type: 'middleware.http.wasm', label: 'wasm (SDK template)', guest: 'template.wasm', metadata: { url: 'file://{guest}', guestConfig: 'x-bench-tenant' } },
];

/** The chain as one line for the report. */
export const apiChainDescription = STAGES.map((stage) => stage.label).join(' -> ');

export interface ApiChainFiles {
  /** Folder of the chain's component files, for --resources-path. */
  readonly resourcesPath: string;
  /** Configuration file declaring the chain as spec.httpPipeline, for --config. */
  readonly configPath: string;
}

/**
 * Where the build puts compiled middleware for a sidecar CLI at <dist>/proxy/cli/main.js: <dist>/middleware-wasm,
 * the folder the sidecar itself loads its built-in guests from.
 */
export function middlewareDirOf(sidecarCli: string): string {
  return join(dirname(sidecarCli), '..', '..', 'middleware-wasm');
}

/** The compiled guests the chain needs that `middlewareDir` lacks. */
export function missingChainGuests(middlewareDir: string): string[] {
  return STAGES.map((stage) => join(middlewareDir, stage.guest)).filter((path) => !existsSync(path));
}

/** Writes the chain's components and Configuration under `dir`. */
export function writeApiChain(dir: string, middlewareDir: string): ApiChainFiles {
  const resourcesPath = join(dir, 'components');
  for (const stage of STAGES) {
    const guest = join(middlewareDir, stage.guest);
    const metadata = Object.fromEntries(Object.entries(stage.metadata).map(([key, value]) => [key, value.replace('{guest}', guest)]));
    writeComponentFile(resourcesPath, stage.name, stage.type, metadata);
  }
  mkdirSync(dir, { recursive: true });
  const configPath = join(dir, 'config.yaml');
  const configuration = {
    apiVersion: 'dapr.io/v1alpha1',
    kind: 'Configuration',
    metadata: { name: 'bench-api-chain' },
    spec: { httpPipeline: { handlers: STAGES.map((stage) => ({ name: stage.name, type: stage.type, version: 'v1' })) } },
  };
  writeFileSync(configPath, stringify(configuration));
  return { resourcesPath, configPath };
}
