// A fixed table of sidecar addresses from the Configuration, for setups where every peer is known up front:
//
//   configuration:
//     apps:
//       appB: "127.0.0.1:50002"                          # app id in the default namespace
//       appC.prod: ["10.0.0.5:50002", "10.0.0.6:50002"]  # app id in namespace prod, load spread over both
import { DEFAULT_NAMESPACE, nameProblem, namespaceOf, parseHostPort, pickAny } from './names.js';
import type { AppAddress, NameResolver, SelfRegistration } from './types.js';
import type { ResolverConfiguration } from './config.js';

export class StaticResolver implements NameResolver {
  readonly kind = 'static';
  private readonly table: ReadonlyMap<string, readonly AppAddress[]>;

  constructor(cfg: ResolverConfiguration = {}) {
    this.table = parseTable(cfg);
  }

  /** Nothing to advertise: peers read this sidecar's address from their own table. */
  async register(_self: SelfRegistration): Promise<void> {}

  async resolve(appId: string, namespace: string): Promise<AppAddress | null> {
    return pickAny(await this.resolveAll(appId, namespace));
  }

  async resolveAll(appId: string, namespace: string): Promise<readonly AppAddress[]> {
    return this.table.get(`${appId}.${namespaceOf(namespace)}`) ?? [];
  }

  async close(): Promise<void> {}
}

function parseTable(cfg: ResolverConfiguration): Map<string, readonly AppAddress[]> {
  const apps = cfg.apps;
  if (typeof apps !== 'object' || apps === null || Array.isArray(apps)) {
    throw new Error('nameResolution static: configuration.apps must map app ids to "host:port" addresses');
  }
  const table = new Map<string, readonly AppAddress[]>();
  for (const [key, value] of Object.entries(apps as Record<string, unknown>)) {
    const fail = (problem: string): never => {
      throw new Error(`nameResolution static: entry ${JSON.stringify(key)}: ${problem}`);
    };
    const dot = key.indexOf('.');
    const appId = dot < 0 ? key : key.slice(0, dot);
    const namespace = dot < 0 ? DEFAULT_NAMESPACE : key.slice(dot + 1);
    const keyProblem = nameProblem('app id', appId) ?? nameProblem('namespace', namespace);
    if (keyProblem !== undefined) fail(`key must be "appId" or "appId.namespace": ${keyProblem}`);
    const texts: unknown[] = Array.isArray(value) ? value : [value];
    if (texts.length === 0) fail('needs at least one address');
    const addresses = texts.map((text) => {
      const address = typeof text === 'string' ? parseHostPort(text) : undefined;
      return address ?? fail(`invalid address ${JSON.stringify(text)} (expected "host:port")`);
    });
    const normalized = `${appId}.${namespace}`;
    if (table.has(normalized)) fail(`app id ${appId} in namespace ${namespace} is listed twice`);
    table.set(normalized, addresses);
  }
  return table;
}
