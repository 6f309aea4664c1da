// Real sidecars running Configuration middleware pipelines of http-wasm guests: guests are compiled from the
// .wat fixtures, written as .wasm files, and named by file:// URLs in `middleware.http.wasm` components.

import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { componentYaml, pipelineConfigYaml, type ComponentSpec, type MetadataValue, type PipelineHandler } from './resources.js';
import { runSidecarCli, startSidecar, tempDir, type SidecarProcess } from './sidecar.js';
import { watCompiler } from './wat.js';

/** A fixture under test/fixtures/wasm compiled to wasm (see `WatCompiler.fixture`). */
export async function compileFixture(name: string, replace: Readonly<Record<string, string>> = {}): Promise<Uint8Array> {
  return (await watCompiler()).fixture(name, replace);
}

/** Where the guests and resources of a group of sidecars live; `remove` deletes everything. */
export class PipelineWorkspace {
  private readonly dir = tempDir('pipeline');
  private readonly registry = tempDir('pipeline-registry');
  private readonly sidecars: SidecarProcess[] = [];
  private files = 0;

  /** Writes `bytes` as `<name>.wasm` and returns its file:// URL. */
  guest(name: string, bytes: Uint8Array): string {
    const path = join(this.dir.path, `${name}.wasm`);
    writeFileSync(path, bytes);
    return pathToFileURL(path).href;
  }

  /** Replaces the guest behind `url` as a build would: the new bytes appear under the name in one rename. */
  replaceGuest(url: string, bytes: Uint8Array): void {
    const path = fileURLToPath(url);
    const temporary = `${path}.${++this.files}.tmp`;
    writeFileSync(temporary, bytes);
    renameSync(temporary, path);
  }

  /** A fresh folder holding the components and the Configuration; returns the sidecar arguments naming them. */
  resources(components: readonly ComponentSpec[], pipelines: Pipelines): string[] {
    const folder = join(this.dir.path, `resources-${++this.files}`);
    const config = `${folder}.config.yaml`;
    mkdirSync(folder);
    if (components.length > 0) writeFileSync(join(folder, 'components.yaml'), componentYaml(...components));
    writeFileSync(config, pipelineConfigYaml(pipelines));
    return ['--resources-path', folder, '--config', config];
  }

  async start(options: PipelineSidecarOptions): Promise<SidecarProcess> {
    const sidecar = await startSidecar({
      appId: options.appId,
      ...(options.appPort === undefined ? {} : { appPort: options.appPort }),
      registryDir: this.registry.path,
      args: [...this.resources(options.components, options), ...(options.args ?? [])],
    });
    this.sidecars.push(sidecar);
    return sidecar;
  }

  /** Runs a sidecar that is expected to refuse to start; its exit code and output. */
  failedStart(appId: string, components: readonly ComponentSpec[], pipelines: Pipelines): Promise<{ code: number | string; output: string }> {
    return runSidecarCli(['--app-id', appId, '--dapr-http-port', '0', '--dapr-grpc-port', '0', '--metrics-port', '0',
      '--dapr-internal-grpc-port', '0', ...this.resources(components, pipelines)], { PILLION_REGISTRY_DIR: this.registry.path });
  }

  async remove(): Promise<void> {
    await Promise.all(this.sidecars.map((sidecar) => sidecar.stop()));
    this.dir.remove();
    this.registry.remove();
  }
}

export interface Pipelines {
  /** `spec.httpPipeline` handlers, in order. */
  api?: PipelineHandler[];
  /** `spec.appHttpPipeline` handlers, in order. */
  app?: PipelineHandler[];
}

export interface PipelineSidecarOptions extends Pipelines {
  appId: string;
  appPort?: number;
  components: readonly ComponentSpec[];
  args?: string[];
}

/** A pipeline stage: the component and the handler entry naming it. */
export interface Stage {
  component: ComponentSpec;
  handler: PipelineHandler;
}

/** A `middleware.http.wasm` stage running the guest at `url`. */
export function wasmStage(name: string, url: string, metadata: Record<string, MetadataValue> = {}): Stage {
  return {
    component: { name, type: 'middleware.http.wasm', metadata: { url, ...metadata } },
    handler: { name, type: 'middleware.http.wasm' },
  };
}

const LOG_MESSAGE = /level=(\w+) msg=("(?:[^"\\]|\\.)*")/g;

/** The sidecar's log lines as `<level> <message>`, messages unquoted, for matching guest and host messages. */
export function logLines(output: string): string[] {
  return [...output.matchAll(LOG_MESSAGE)].map((m) => `${m[1]} ${JSON.parse(m[2]!) as string}`);
}
