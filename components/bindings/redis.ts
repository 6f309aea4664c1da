// `bindings.redis`: an output binding over one Redis node with daprd's operations, each on the string at the
// request's `key` metadata: `create` (SET, overwriting), `get` (GET, or GETDEL with `delete: "true"`), `delete` (DEL)
// and `increment` (INCR); `create` and `increment` take an optional `ttlInSeconds`. Values are the caller's data
// bytes as they arrive, so daprd and Pillion read each other's keys.

import type { Redis } from 'ioredis';
import { integerProperty } from '../metadata.js';
import { registerComponent, type ComponentMetadata } from '../registry.js';
import { parseRedisAddress, RedisConnection, type RedisConnectionSettings } from '../redis/connection.js';
import { parseTtlSeconds } from '../state/store.js';
import { createLogger } from '../../proxy/runtime/logger.js';
import { bindingCapabilities, type Binding, type BindingMetadata, type InvokeRequest, type InvokeResponse, type OutputBinding } from './bindings.js';

const COMPONENT = 'bindings.redis';
const OPERATIONS: readonly string[] = Object.freeze(['create', 'get', 'delete', 'increment']);
const logger = createLogger(COMPONENT);

/**
 * INCR, then EXPIRE when a TTL is given (ARGV[1] > 0), as one step: a failed INCR (the value is not an integer)
 * aborts the script before the expiry could touch a key the operation did not change.
 */
const INCREMENT_SCRIPT = `
local value = redis.call('INCR', KEYS[1])
local ttl = tonumber(ARGV[1])
if ttl > 0 then redis.call('EXPIRE', KEYS[1], ttl) end
return value
`;

interface BindingScripts {
  bindingIncrement(key: string, ttlSeconds: number): Promise<number>;
}

/**
 * Connection settings as `state.redis` reads them, except the retries: like daprd's binding (`redisMaxRetries`,
 * default none), a command in flight when the connection drops fails rather than being sent again, so an INCR is
 * never applied twice.
 */
function parseRedisBindingSettings(meta: ComponentMetadata): RedisConnectionSettings {
  return { ...parseRedisAddress(meta), maxRetries: integerProperty(meta, 'redisMaxRetries', 0, 0) };
}

function keyOf(metadata: BindingMetadata): string {
  const key = metadata['key'];
  if (key === undefined || key === '') throw new Error('redis binding: missing key in request metadata');
  return key;
}

/** Seconds of `ttlInSeconds`; 0 for none. */
function ttlOf(metadata: BindingMetadata): number {
  return parseTtlSeconds(metadata) ?? 0;
}

export class RedisOutputBinding implements OutputBinding {
  private readonly client: Redis;
  private readonly scripts: BindingScripts;

  private constructor(private readonly connection: RedisConnection) {
    this.client = connection.client;
    this.client.defineCommand('bindingIncrement', { lua: INCREMENT_SCRIPT, numberOfKeys: 1 });
    this.scripts = this.client as unknown as BindingScripts;
  }

  /** Redis being unreachable does not fail it: calls fail fast until the background reconnection succeeds. */
  static async open(settings: RedisConnectionSettings): Promise<RedisOutputBinding> {
    return new RedisOutputBinding(await RedisConnection.open(settings, { component: COMPONENT, logger }));
  }

  operations(): readonly string[] {
    return OPERATIONS;
  }

  async invoke({ operation, data, metadata }: InvokeRequest): Promise<InvokeResponse | null> {
    const key = keyOf(metadata);
    switch (operation) {
      case 'create': {
        const ttl = ttlOf(metadata);
        const value = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
        await this.send(() => (ttl > 0 ? this.client.set(key, value, 'EX', ttl) : this.client.set(key, value)));
        return null;
      }
      case 'get': {
        const found = await this.send(() => (metadata['delete'] === 'true' ? this.client.getdelBuffer(key) : this.client.getBuffer(key)));
        // daprd answers a missing key with an empty response, not with no response: 200 and an empty body.
        return { data: found ?? new Uint8Array(0), metadata: {} };
      }
      case 'delete':
        await this.send(() => this.client.del(key));
        return null;
      case 'increment': {
        const ttl = ttlOf(metadata);
        await this.send(() => this.scripts.bindingIncrement(key, ttl));
        return null;
      }
      default:
        throw new Error(`invalid operation type: ${operation}`);
    }
  }

  close(): Promise<void> {
    return this.connection.close();
  }

  /** Runs `command` when connected; fails at once otherwise, and names a lost connection as the cause of a failure. */
  private async send<T>(command: () => Promise<T>): Promise<T> {
    if (!this.connection.ready) throw this.connection.unavailable();
    try {
      return await command();
    } catch (err) {
      if (this.connection.lostBy(err)) throw this.connection.unavailable(err);
      throw err;
    }
  }
}

registerComponent({
  type: COMPONENT,
  versions: ['v1'],
  kind: 'bindings',
  create: async (meta): Promise<Binding> => {
    const output = await RedisOutputBinding.open(parseRedisBindingSettings(meta));
    return { output, close: () => output.close() };
  },
  capabilities: bindingCapabilities,
});
