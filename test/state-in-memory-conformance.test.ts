import assert from 'node:assert/strict';
import '../components/state/in-memory.js';
import { initComponents } from '../components/registry.js';
import type { Store } from '../components/state/store.js';
import type { Logger } from '../proxy/runtime/logger.js';
import { describeStateConformance } from './support/state-conformance.js';

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {}, enabled: () => false };

/** A store made the way the sidecar makes one: from a Component resource, through the registry. */
async function createFromRegistry(): Promise<Store> {
  const component = {
    file: 'conformance.yaml',
    name: 'conformance',
    namespace: '',
    scopes: [],
    type: 'state.in-memory',
    kind: 'state',
    version: 'v1',
    initTimeoutMs: 5000,
    ignoreErrors: false,
    metadata: [],
    secretStore: '',
  };
  const components = await initComponents({ components: [component] }, silent);
  const store = components.get('state', 'conformance');
  assert.ok(store !== undefined, 'state.in-memory should be registered');
  return store;
}

describeStateConformance({ name: 'state.in-memory', persistent: false, create: createFromRegistry });
