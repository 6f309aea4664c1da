// Components made the way the sidecar makes them: a Component resource through the registry, so that the
// registration, metadata parsing and init timeout all take part in the test.

import assert from 'node:assert/strict';
import '../../components/builtin.js';
import { initComponents, type ComponentInfo, type ComponentKind, type ComponentKinds } from '../../components/registry.js';
import type { Logger } from '../../proxy/runtime/logger.js';

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {}, enabled: () => false };

export interface CreatedComponent<K extends ComponentKind> {
  instance: ComponentKinds[K];
  /** What the metadata API would report for it. */
  info: ComponentInfo;
}

export async function createComponent<K extends ComponentKind>(
  kind: K,
  type: string,
  properties: Record<string, string>,
  options: { name?: string; initTimeoutMs?: number } = {},
): Promise<CreatedComponent<K>> {
  const name = options.name ?? `${kind}-under-test`;
  const component = {
    file: `${name}.yaml`,
    name,
    namespace: '',
    scopes: [],
    type,
    kind,
    version: 'v1',
    initTimeoutMs: options.initTimeoutMs ?? 20_000,
    ignoreErrors: false,
    metadata: Object.entries(properties).map(([item, value]) => ({ name: item, value })),
    secretStore: '',
  };
  const components = await initComponents({ components: [component] }, silentLogger);
  const instance = components.get(kind, name);
  assert.ok(instance !== undefined, `${type} should be registered`);
  return { instance, info: components.list()[0]! };
}
