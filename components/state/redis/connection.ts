// Component metadata of `state.redis` (names as daprd's) and the Redis connection built from it. The connection
// never queues commands while Redis is unreachable: calls fail at once and the client reconnects in the background.

import { Redis, type RedisOptions } from 'ioredis';
import { metadataValue, type ComponentMetadata } from '../../registry.js';
import { parseTtlSeconds } from '../store.js';

export interface RedisSettings {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db: number;
  tls: boolean;
  /** Reconnection attempts a command already sent waits through before it fails. */
  maxRetries: number;
  /** Applied to writes whose request has no `ttlInSeconds`; undefined for none. */
  defaultTtlSeconds: number | undefined;
}

const DEFAULT_PORT = 6379;
const DEFAULT_MAX_RETRIES = 3;
/** Below the default component init timeout, so an unreachable Redis is reported as such rather than as a timeout. */
const CONNECT_TIMEOUT_MS = 3000;
const RECONNECT_STEP_MS = 100;
const RECONNECT_MAX_DELAY_MS = 2000;
const TRUTHY = new Set(['true', '1', 'y', 'yes', 'on']);

function integer(meta: ComponentMetadata, name: string, fallback: number, min: number): number {
  const raw = metadataValue(meta, name)?.trim();
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!/^[+-]?\d+$/.test(raw) || value < min) throw new Error(`metadata "${name}" must be an integer >= ${min}, got "${raw}"`);
  return value;
}

function parseHost(raw: string): { host: string; port: number } {
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(raw);
  if (bracketed !== null) return { host: bracketed[1]!, port: bracketed[2] === undefined ? DEFAULT_PORT : Number(bracketed[2]) };
  const colon = raw.lastIndexOf(':');
  if (colon === -1) return { host: raw, port: DEFAULT_PORT };
  const port = raw.slice(colon + 1);
  if (!/^\d+$/.test(port) || Number(port) > 65535) throw new Error(`metadata "redisHost" has an invalid port: "${raw}"`);
  return { host: raw.slice(0, colon), port: Number(port) };
}

export function parseRedisSettings(meta: ComponentMetadata): RedisSettings {
  const address = metadataValue(meta, 'redisHost')?.trim();
  if (address === undefined || address === '') throw new Error('metadata "redisHost" is required (host:port)');
  const redisType = metadataValue(meta, 'redisType')?.trim().toLowerCase();
  if (redisType !== undefined && redisType !== '' && redisType !== 'node') {
    throw new Error(`metadata "redisType" "${redisType}" is not supported; only "node" is`);
  }
  if (TRUTHY.has(metadataValue(meta, 'failover')?.trim().toLowerCase() ?? '')) throw new Error('metadata "failover" (Sentinel) is not supported');
  const ttl = metadataValue(meta, 'ttlInSeconds');
  const settings: RedisSettings = {
    ...parseHost(address),
    db: integer(meta, 'redisDB', 0, 0),
    tls: TRUTHY.has(metadataValue(meta, 'enableTLS')?.trim().toLowerCase() ?? ''),
    maxRetries: integer(meta, 'maxRetries', DEFAULT_MAX_RETRIES, 0),
    defaultTtlSeconds: ttl === undefined ? undefined : parseTtlSeconds({ ttlInSeconds: ttl.trim() }),
  };
  const username = metadataValue(meta, 'redisUsername');
  const password = metadataValue(meta, 'redisPassword');
  if (username !== undefined && username !== '') settings.username = username;
  if (password !== undefined && password !== '') settings.password = password;
  return settings;
}

export function describeAddress(settings: RedisSettings): string {
  return settings.host.includes(':') ? `[${settings.host}]:${settings.port}` : `${settings.host}:${settings.port}`;
}

/**
 * A client that is connected and ready, or an error naming the address and the cause. `onError` receives the
 * connection errors that happen once it is ready (each failed reconnection attempt too).
 */
export async function connectRedis(settings: RedisSettings, onError: (err: Error) => void): Promise<Redis> {
  const options: RedisOptions = {
    host: settings.host,
    port: settings.port,
    db: settings.db,
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: settings.maxRetries,
    connectTimeout: CONNECT_TIMEOUT_MS,
    retryStrategy: (attempt) => Math.min(attempt * RECONNECT_STEP_MS, RECONNECT_MAX_DELAY_MS),
  };
  if (settings.username !== undefined) options.username = settings.username;
  if (settings.password !== undefined) options.password = settings.password;
  if (settings.tls) options.tls = {};
  const client = new Redis(options);
  // connect() itself often rejects with only "Connection is closed."; the error event before it names the cause.
  let cause: Error | undefined;
  const remember = (err: Error): void => {
    cause ??= err;
  };
  client.on('error', remember);
  try {
    await client.connect();
    client.on('error', onError);
    return client;
  } catch (err) {
    client.disconnect();
    cause ??= err as Error;
    throw new Error(`cannot connect to Redis at ${describeAddress(settings)}: ${cause.message}`, { cause });
  } finally {
    client.off('error', remember);
  }
}
