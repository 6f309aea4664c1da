// `kind: Resiliency` (dapr.io/v1alpha1): named timeout, retry and circuit-breaker policies and the targets
// (apps, actors, components) that use them.

import { ResourceError } from './errors.js';
import { LEAF, normalizeKeys, type FieldReader, type Shape } from './fields.js';
import { HEADER_FIELDS, type ResourceMeta } from './resource.js';

export interface RetryPolicy {
  name: string;
  policy: 'constant' | 'exponential';
  /** Constant back-off: the wait between attempts. */
  durationMs: number;
  /** Exponential back-off: first wait, growth factor, jitter (±factor) and the cap on a single wait. */
  initialIntervalMs: number;
  multiplier: number;
  randomizationFactor: number;
  maxIntervalMs: number;
  /** Exponential back-off gives up once this much time has passed; 0 means never. */
  maxElapsedTimeMs: number;
  /** -1: retry until something else stops it; 0: no retry. */
  maxRetries: number;
  /** Status-code lists (e.g. "500-599,404") that make a response retriable; '' when not given. */
  matching: { httpStatusCodes: string; gRPCStatusCodes: string };
}

/** Parsed lazily by whoever implements breakers; kept as written (canonical key spelling). */
export interface CircuitBreakerPolicy {
  name: string;
  spec: Record<string, unknown>;
}

/** Policy names a target uses; '' when it sets none of that kind. */
export interface PolicyRefs {
  timeout: string;
  retry: string;
  circuitBreaker: string;
}

export interface ActorPolicyRefs extends PolicyRefs {
  /** `type`, `id` or `both`; required with a circuit breaker. */
  circuitBreakerScope: string;
  /** 0 when not given. */
  circuitBreakerCacheSize: number;
}

export interface Resiliency extends ResourceMeta {
  timeouts: ReadonlyMap<string, number>;
  retries: ReadonlyMap<string, RetryPolicy>;
  circuitBreakers: ReadonlyMap<string, CircuitBreakerPolicy>;
  apps: ReadonlyMap<string, PolicyRefs>;
  actors: ReadonlyMap<string, ActorPolicyRefs>;
  components: ReadonlyMap<string, { inbound: PolicyRefs; outbound: PolicyRefs }>;
}

// Defaults of Dapr's retry configuration (and of the back-off library it wraps).
const RETRY_DEFAULTS = {
  durationMs: 5000,
  initialIntervalMs: 500,
  multiplier: 1.5,
  randomizationFactor: 0.5,
  maxIntervalMs: 60_000,
  maxElapsedTimeMs: 15 * 60_000,
  maxRetries: -1,
} as const;

const refFields = { timeout: LEAF, retry: LEAF, circuitBreaker: LEAF };

const resiliencyShape: Shape = {
  fields: {
    ...HEADER_FIELDS,
    spec: {
      fields: {
        policies: {
          fields: {
            timeouts: LEAF,
            retries: {
              entries: {
                fields: {
                  policy: LEAF,
                  duration: LEAF,
                  initialInterval: LEAF,
                  multiplier: LEAF,
                  randomizationFactor: LEAF,
                  maxInterval: LEAF,
                  maxElapsedTime: LEAF,
                  maxRetries: LEAF,
                  matching: { fields: { httpStatusCodes: LEAF, gRPCStatusCodes: LEAF } },
                },
              },
            },
            circuitBreakers: { entries: { fields: { maxRequests: LEAF, interval: LEAF, timeout: LEAF, trip: LEAF } } },
          },
        },
        targets: {
          fields: {
            apps: { entries: { fields: { ...refFields, circuitBreakerCacheSize: LEAF } } },
            actors: {
              entries: { fields: { ...refFields, circuitBreakerScope: LEAF, circuitBreakerCacheSize: LEAF } },
            },
            components: { entries: { fields: { inbound: { fields: refFields }, outbound: { fields: refFields } } } },
          },
        },
      },
    },
  },
};

export function parseResiliency(raw: Record<string, unknown>, meta: ResourceMeta, fields: FieldReader): Resiliency {
  if (meta.name === '') fields.fail('metadata.name is required');
  const document = normalizeKeys(raw, resiliencyShape) as Record<string, unknown>;
  const spec = fields.mapping(document['spec'], 'spec');
  const policies = fields.mapping(spec['policies'], 'spec.policies');
  const targets = fields.mapping(spec['targets'], 'spec.targets');
  const timeouts = new Map<string, number>();
  for (const [name, value] of Object.entries(fields.mapping(policies['timeouts'], 'spec.policies.timeouts'))) {
    const ms = fields.durationMs(value, `spec.policies.timeouts.${name}`, 0);
    if (ms < 0) fields.fail(`spec.policies.timeouts.${name} must not be negative`);
    timeouts.set(name, ms);
  }
  const retries = new Map<string, RetryPolicy>();
  for (const [name, value] of Object.entries(fields.mapping(policies['retries'], 'spec.policies.retries'))) {
    retries.set(name, parseRetry(name, value, fields));
  }
  const circuitBreakers = new Map<string, CircuitBreakerPolicy>();
  const breakers = fields.mapping(policies['circuitBreakers'], 'spec.policies.circuitBreakers');
  for (const [name, value] of Object.entries(breakers)) {
    circuitBreakers.set(name, { name, spec: fields.mapping(value, `spec.policies.circuitBreakers.${name}`) });
  }
  const apps = new Map<string, PolicyRefs>();
  for (const [id, value] of Object.entries(fields.mapping(targets['apps'], 'spec.targets.apps'))) {
    apps.set(id, readRefs(value, `spec.targets.apps.${id}`, fields));
  }
  const actors = new Map<string, ActorPolicyRefs>();
  for (const [type, value] of Object.entries(fields.mapping(targets['actors'], 'spec.targets.actors'))) {
    const path = `spec.targets.actors.${type}`;
    const target = fields.mapping(value, path);
    const refs: ActorPolicyRefs = {
      ...readRefs(target, path, fields),
      circuitBreakerScope: fields.string(target['circuitBreakerScope'], `${path}.circuitBreakerScope`),
      circuitBreakerCacheSize: fields.int(target['circuitBreakerCacheSize'], `${path}.circuitBreakerCacheSize`, 0),
    };
    if (refs.circuitBreaker !== '' && !['type', 'id', 'both'].includes(refs.circuitBreakerScope)) {
      fields.fail(`${path}.circuitBreakerScope must be type, id or both when a circuit breaker is set`);
    }
    actors.set(type, refs);
  }
  const components = new Map<string, { inbound: PolicyRefs; outbound: PolicyRefs }>();
  for (const [name, value] of Object.entries(fields.mapping(targets['components'], 'spec.targets.components'))) {
    const path = `spec.targets.components.${name}`;
    const target = fields.mapping(value, path);
    components.set(name, {
      inbound: readRefs(target['inbound'], `${path}.inbound`, fields),
      outbound: readRefs(target['outbound'], `${path}.outbound`, fields),
    });
  }
  return { ...meta, timeouts, retries, circuitBreakers, apps, actors, components };
}

function parseRetry(name: string, raw: unknown, fields: FieldReader): RetryPolicy {
  const path = `spec.policies.retries.${name}`;
  const retry = fields.mapping(raw, path);
  const policy = fields.string(retry['policy'], `${path}.policy`, 'constant').toLowerCase();
  if (policy !== 'constant' && policy !== 'exponential') {
    fields.fail(`${path}.policy must be constant or exponential, not "${policy}"`);
  }
  const matching = fields.mapping(retry['matching'], `${path}.matching`);
  const maxRetries = fields.int(retry['maxRetries'], `${path}.maxRetries`, RETRY_DEFAULTS.maxRetries);
  return {
    name,
    policy,
    durationMs: fields.durationMs(retry['duration'], `${path}.duration`, RETRY_DEFAULTS.durationMs),
    initialIntervalMs: fields.durationMs(retry['initialInterval'], `${path}.initialInterval`, RETRY_DEFAULTS.initialIntervalMs),
    multiplier: fields.number(retry['multiplier'], `${path}.multiplier`, RETRY_DEFAULTS.multiplier),
    randomizationFactor: fields.number(retry['randomizationFactor'], `${path}.randomizationFactor`, RETRY_DEFAULTS.randomizationFactor),
    maxIntervalMs: fields.durationMs(retry['maxInterval'], `${path}.maxInterval`, RETRY_DEFAULTS.maxIntervalMs),
    maxElapsedTimeMs: fields.durationMs(retry['maxElapsedTime'], `${path}.maxElapsedTime`, RETRY_DEFAULTS.maxElapsedTimeMs),
    maxRetries: maxRetries < 0 ? -1 : maxRetries,
    matching: {
      httpStatusCodes: fields.string(matching['httpStatusCodes'], `${path}.matching.httpStatusCodes`),
      gRPCStatusCodes: fields.string(matching['gRPCStatusCodes'], `${path}.matching.gRPCStatusCodes`),
    },
  };
}

function readRefs(raw: unknown, path: string, fields: FieldReader): PolicyRefs {
  const target = fields.mapping(raw, path);
  return {
    timeout: fields.string(target['timeout'], `${path}.timeout`),
    retry: fields.string(target['retry'], `${path}.retry`),
    circuitBreaker: fields.string(target['circuitBreaker'], `${path}.circuitBreaker`),
  };
}

/**
 * daprd pools the policies of every loaded Resiliency resource, so a target may name a policy defined in
 * another file; a name no resource defines is a start-up error here rather than a silently absent policy.
 */
export function checkPolicyReferences(resiliencies: readonly Resiliency[]): void {
  const defined = {
    timeout: new Set(resiliencies.flatMap((r) => [...r.timeouts.keys()])),
    retry: new Set(resiliencies.flatMap((r) => [...r.retries.keys()])),
    circuitBreaker: new Set(resiliencies.flatMap((r) => [...r.circuitBreakers.keys()])),
  };
  for (const r of resiliencies) {
    const check = (refs: PolicyRefs, path: string): void => {
      for (const kind of ['timeout', 'retry', 'circuitBreaker'] as const) {
        const name = refs[kind];
        if (name !== '' && !defined[kind].has(name)) {
          throw new ResourceError(r.file, `resiliency "${r.name}"`, `${path}.${kind} references unknown ${kind} policy "${name}"`);
        }
      }
    };
    for (const [id, refs] of r.apps) check(refs, `spec.targets.apps.${id}`);
    for (const [type, refs] of r.actors) check(refs, `spec.targets.actors.${type}`);
    for (const [name, { inbound, outbound }] of r.components) {
      check(inbound, `spec.targets.components.${name}.inbound`);
      check(outbound, `spec.targets.components.${name}.outbound`);
    }
  }
}

export interface AppPolicy {
  /** 0: no timeout. */
  timeoutMs: number;
  retry: RetryPolicy | null;
  circuitBreaker: CircuitBreakerPolicy | null;
}

/** Wait before retry number `attempt` (1-based) under `policy`: constant, or exponential with jitter and a cap. */
export function retryDelay(policy: RetryPolicy): (attempt: number) => number {
  if (policy.policy === 'constant') return () => policy.durationMs;
  return (attempt) => {
    const base = Math.min(policy.initialIntervalMs * policy.multiplier ** (attempt - 1), policy.maxIntervalMs);
    return base * (1 + policy.randomizationFactor * (2 * Math.random() - 1));
  };
}

/**
 * The policy for calls to `appId`, resolved as daprd does: the app's own target if any resource has one (the
 * last such resource wins), otherwise the `DefaultAppXxxPolicy` / `DefaultXxxPolicy` policies when defined.
 * `retry: null` leaves the caller's built-in behaviour (daprd: 3 retries, 1 s apart, on transport errors).
 * Resolve once per target app and cache: this walks every resource.
 */
export function appPolicy(resiliencies: readonly Resiliency[], appId: string): AppPolicy {
  return resolvePolicy(resiliencies, (r) => r.apps.get(appId), ['App']);
}

/**
 * The policy for what a component delivers to the app (pub/sub messages, input binding events): the component's
 * `inbound` target, otherwise `Default{Pubsub|Bindings}ComponentInboundXxxPolicy`, `DefaultComponentInboundXxxPolicy`
 * or `DefaultXxxPolicy` when defined. `retry: null` means the sidecar itself does not retry.
 */
export function componentInboundPolicy(
  resiliencies: readonly Resiliency[],
  componentName: string,
  kind: 'Pubsub' | 'Bindings',
): AppPolicy {
  return resolvePolicy(resiliencies, (r) => r.components.get(componentName)?.inbound, [`${kind}ComponentInbound`, 'ComponentInbound']);
}

function resolvePolicy(
  resiliencies: readonly Resiliency[],
  target: (r: Resiliency) => PolicyRefs | undefined,
  defaultScopes: readonly string[],
): AppPolicy {
  const latest = <T>(pick: (r: Resiliency) => T | undefined): T | undefined => {
    for (let i = resiliencies.length - 1; i >= 0; i--) {
      const found = pick(resiliencies[i]!);
      if (found !== undefined) return found;
    }
    return undefined;
  };
  const refs = latest(target) ?? {
    timeout: defaultName(resiliencies, 'timeouts', 'Timeout', defaultScopes),
    retry: defaultName(resiliencies, 'retries', 'Retry', defaultScopes),
    circuitBreaker: defaultName(resiliencies, 'circuitBreakers', 'CircuitBreaker', defaultScopes),
  };
  return {
    timeoutMs: refs.timeout === '' ? 0 : (latest((r) => r.timeouts.get(refs.timeout)) ?? 0),
    retry: refs.retry === '' ? null : (latest((r) => r.retries.get(refs.retry)) ?? null),
    circuitBreaker: refs.circuitBreaker === '' ? null : (latest((r) => r.circuitBreakers.get(refs.circuitBreaker)) ?? null),
  };
}

function defaultName(
  resiliencies: readonly Resiliency[],
  table: 'timeouts' | 'retries' | 'circuitBreakers',
  policy: 'Timeout' | 'Retry' | 'CircuitBreaker',
  scopes: readonly string[],
): string {
  for (const name of [...scopes.map((scope) => `Default${scope}${policy}Policy`), `Default${policy}Policy`]) {
    if (resiliencies.some((r) => r[table].has(name))) return name;
  }
  return '';
}
