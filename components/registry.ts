// Factories for component types, keyed by type and version (`state.in-memory` / `v1`), and the start-up step
// that turns loaded Component resources into live instances.

import type { Component } from '../proxy/resources/component.js';
import { ResourceError } from '../proxy/resources/errors.js';
import type { Logger } from '../proxy/runtime/logger.js';

/**
 * The instance interface of each building block. A kind's own module adds its entry, e.g.
 * `declare module '../registry.js' { interface ComponentKinds { pubsub: PubSub } }`.
 */
export interface ComponentKinds {}

export type ComponentKind = keyof ComponentKinds & string;

/** What the registry needs from any instance: a way to release its resources. */
export interface ComponentInstance {
  close?(): Promise<void> | void;
}

export interface ComponentMetadata {
  name: string;
  type: string;
  version: string;
  /** spec.metadata as name -> value; Dapr matches these names case-insensitively (see metadataValue). */
  properties: Readonly<Record<string, string>>;
}

export interface ComponentRegistration<K extends ComponentKind> {
  type: string;
  versions: readonly string[];
  kind: K;
  create(meta: ComponentMetadata): Promise<ComponentKinds[K]> | ComponentKinds[K];
  /** Reported by the metadata API; none when omitted. */
  capabilities?(instance: ComponentKinds[K], meta: ComponentMetadata): readonly string[];
}

/** A metadata property looked up the way components-contrib does: ignoring case. */
export function metadataValue(meta: ComponentMetadata, name: string): string | undefined {
  if (Object.hasOwn(meta.properties, name)) return meta.properties[name];
  const folded = name.toLowerCase();
  for (const [key, value] of Object.entries(meta.properties)) if (key.toLowerCase() === folded) return value;
  return undefined;
}

interface Factory {
  kind: string;
  create(meta: ComponentMetadata): Promise<unknown> | unknown;
  capabilities(instance: unknown, meta: ComponentMetadata): readonly string[];
  /** A placeholder until the type's module is imported; its registration then takes the place. */
  lazy?: true;
}

const factories = new Map<string, Factory>();
const versionsByType = new Map<string, string[]>();

const factoryKey = (type: string, version: string): string => `${type.toLowerCase()}/${version.toLowerCase()}`;

export function registerComponent<K extends ComponentKind>(registration: ComponentRegistration<K>): void {
  const { type, kind, versions } = registration;
  if (!type.toLowerCase().startsWith(`${kind}.`)) throw new Error(`component type "${type}" does not belong to kind "${kind}"`);
  const factory: Factory = {
    kind,
    create: (meta) => registration.create(meta),
    capabilities: (instance, meta) => registration.capabilities?.(instance as ComponentKinds[K], meta) ?? [],
  };
  for (const version of versions) {
    const key = factoryKey(type, version);
    if (factories.get(key)?.lazy === undefined && factories.has(key)) throw new Error(`component type "${type}" version "${version}" is already registered`);
    factories.set(key, factory);
    addVersion(type, version);
  }
}

/**
 * Registers a type whose module is imported only when a component of that type is initialised: each client library
 * costs megabytes to tens of megabytes of memory, and a sidecar uses few of them. Importing the module runs its own
 * registerComponent, which takes the placeholder's place. A type already registered keeps its registration.
 */
export function registerLazyComponent(type: string, versions: readonly string[], load: () => Promise<unknown>): void {
  for (const version of versions) {
    const key = factoryKey(type, version);
    if (factories.has(key)) continue;
    const loaded = async (): Promise<Factory> => {
      await load();
      const factory = factories.get(key);
      if (factory === undefined || factory.lazy) throw new Error(`the module of component type "${type}" did not register version "${version}"`);
      return factory;
    };
    factories.set(key, {
      kind: type.slice(0, type.indexOf('.')),
      lazy: true,
      create: async (meta) => (await loaded()).create(meta),
      // Asked only after create, by which time the module's registration has replaced this one.
      capabilities: (instance, meta) => factories.get(key)!.capabilities(instance, meta),
    });
    addVersion(type, version);
  }
}

function addVersion(type: string, version: string): void {
  const known = versionsByType.get(type.toLowerCase()) ?? [];
  if (!known.includes(version)) versionsByType.set(type.toLowerCase(), [...known, version]);
}

export interface ComponentInfo {
  name: string;
  type: string;
  version: string;
  capabilities: string[];
}

/** The live components of one sidecar. */
export interface ComponentSet {
  get<K extends ComponentKind>(kind: K, name: string): ComponentKinds[K] | undefined;
  /** Every component of a kind, in initialisation order. */
  ofKind<K extends ComponentKind>(kind: K): { component: Component; instance: ComponentKinds[K] }[];
  /** For the metadata API. */
  list(): ComponentInfo[];
  /** Closes every component, last initialised first; rejects with an AggregateError if any close failed. */
  close(): Promise<void>;
}

export interface InitOptions {
  /** Configuration `spec.components.deny`: types (`bindings.smtp`) or type/version pairs (`bindings.smtp/v1`). */
  deniedTypes?: readonly string[];
  /**
   * Values for a component's secretKeyRef items, keyed by item name. Secret stores are initialised before any
   * other component, so `initialised` already holds them. Without it such items keep the value ''.
   */
  resolveSecrets?(component: Component, initialised: ComponentSet): Promise<Readonly<Record<string, string>>>;
}

interface Live {
  component: Component;
  instance: unknown;
  capabilities: readonly string[];
}

class LiveComponents implements ComponentSet {
  private readonly byName = new Map<string, Live>();

  add(live: Live): void {
    this.byName.set(live.component.name, live);
  }

  get<K extends ComponentKind>(kind: K, name: string): ComponentKinds[K] | undefined {
    const live = this.byName.get(name);
    return live !== undefined && live.component.kind === kind ? (live.instance as ComponentKinds[K]) : undefined;
  }

  ofKind<K extends ComponentKind>(kind: K): { component: Component; instance: ComponentKinds[K] }[] {
    return [...this.byName.values()]
      .filter((live) => live.component.kind === kind)
      .map((live) => ({ component: live.component, instance: live.instance as ComponentKinds[K] }));
  }

  list(): ComponentInfo[] {
    return [...this.byName.values()].map(({ component, capabilities }) => ({
      name: component.name,
      type: component.type,
      version: component.version,
      capabilities: [...capabilities],
    }));
  }

  async close(): Promise<void> {
    const failures: unknown[] = [];
    for (const { component, instance } of [...this.byName.values()].reverse()) {
      try {
        await (instance as ComponentInstance).close?.();
      } catch (err) {
        failures.push(new ResourceError(component.file, `component "${component.name}"`, `close failed: ${(err as Error).message}`, { cause: err }));
      }
    }
    this.byName.clear();
    if (failures.length > 0) throw new AggregateError(failures, `${failures.length} component(s) failed to close`);
  }
}

/**
 * Creates every loaded component, secret stores first. A failure (unknown type or version, init error, init
 * timeout) stops start-up and closes what was already created, unless the component sets `ignoreErrors`.
 */
export async function initComponents(
  loaded: { components: readonly Component[] },
  logger: Logger,
  options: InitOptions = {},
): Promise<ComponentSet> {
  const set = new LiveComponents();
  const denied = new Set((options.deniedTypes ?? []).map((t) => t.toLowerCase()));
  const ordered = [
    ...loaded.components.filter((c) => c.kind === 'secretstores'),
    ...loaded.components.filter((c) => c.kind !== 'secretstores'),
  ];
  for (const component of ordered) {
    const label = `component "${component.name}"`;
    if (denied.has(component.type.toLowerCase()) || denied.has(factoryKey(component.type, component.version))) {
      logger.warn(`${component.file}: ${label}: type ${component.type}/${component.version} is denied by the configuration; not loaded`);
      continue;
    }
    try {
      set.add(await initOne(component, set, options, logger));
      logger.info(`component loaded: ${component.name} (${component.type}/${component.version})`);
    } catch (err) {
      const error = err instanceof ResourceError ? err : new ResourceError(component.file, label, (err as Error).message, { cause: err });
      if (component.ignoreErrors) {
        logger.warn(`${error.message} (ignored: spec.ignoreErrors is true)`);
        continue;
      }
      await set.close().catch((closeErr: unknown) => logger.warn(`closing components after a failed start: ${(closeErr as Error).message}`));
      throw error;
    }
  }
  return set;
}

async function initOne(component: Component, set: ComponentSet, options: InitOptions, logger: Logger): Promise<Live> {
  const fail = (reason: string, cause?: unknown): ResourceError =>
    new ResourceError(component.file, `component "${component.name}"`, reason, cause === undefined ? undefined : { cause });
  const factory = factories.get(factoryKey(component.type, component.version));
  if (factory === undefined) {
    const versions = versionsByType.get(component.type.toLowerCase());
    throw fail(
      versions === undefined
        ? `unknown component type "${component.type}" (version "${component.version}")`
        : `component type "${component.type}" has no version "${component.version}" (registered: ${versions.join(', ')})`,
    );
  }
  let secrets: Readonly<Record<string, string>> = {};
  if (component.metadata.some((item) => item.secretKeyRef !== undefined)) {
    if (options.resolveSecrets === undefined) {
      logger.warn(`${component.file}: component "${component.name}": secretKeyRef values are left empty: no secret resolution is set up`);
    } else {
      secrets = await options.resolveSecrets(component, set);
    }
  }
  const properties = Object.fromEntries(
    component.metadata.map((item) => [item.name, Object.hasOwn(secrets, item.name) ? secrets[item.name]! : item.value]),
  );
  const meta: ComponentMetadata = { name: component.name, type: component.type, version: component.version, properties };
  const instance = await createWithin(component.initTimeoutMs, factory, meta, withSecretsRedacted(fail, Object.values(secrets)));
  return { component, instance, capabilities: factory.capabilities(instance, meta) };
}

/**
 * A factory's error may quote a metadata value ("must be an integer, got ..."), and resolved secrets must never
 * reach a log or an error: their values are masked, and the cause, which could repeat them, is dropped.
 */
function withSecretsRedacted(
  fail: (reason: string, cause?: unknown) => ResourceError,
  secretValues: readonly string[],
): (reason: string, cause?: unknown) => ResourceError {
  const values = secretValues.filter((value) => value !== '');
  if (values.length === 0) return fail;
  return (reason) => fail(values.reduce((text, value) => text.replaceAll(value, '***'), reason));
}

async function createWithin(
  timeoutMs: number,
  factory: Factory,
  meta: ComponentMetadata,
  fail: (reason: string, cause?: unknown) => ResourceError,
): Promise<unknown> {
  const creation = Promise.resolve().then(() => factory.create(meta));
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<'expired'>((resolve) => {
    timer = setTimeout(resolve, timeoutMs, 'expired');
  });
  try {
    const outcome = await Promise.race([creation.then((instance) => ({ instance })), expired]);
    if (outcome !== 'expired') return outcome.instance;
  } catch (err) {
    throw fail(`init failed: ${(err as Error).message}`, err);
  } finally {
    clearTimeout(timer);
  }
  // A factory that finishes after start-up gave up on it must not leak what it opened.
  creation.then(
    (late) => (late as ComponentInstance | undefined)?.close?.(),
    () => undefined,
  ).catch(() => undefined);
  throw fail(`init timed out after ${timeoutMs / 1000}s`);
}
