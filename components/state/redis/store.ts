// `state.redis`: a state store over one Redis node, sharing daprd's key layout (see scripts.ts). Every write,
// single or transactional, is one atomic script run; bulk operations go out as one pipeline.

import type { ChainableCommander, Redis } from 'ioredis';
import { registerComponent } from '../../registry.js';
import { createLogger } from '../../../proxy/runtime/logger.js';
import {
  ETagInvalidError,
  ETagMismatchError,
  StateFeature,
  throwBulkFailures,
  parseTtlSeconds,
  stateCapabilities,
  type BulkGetItem,
  type DeleteRequest,
  type GetRequest,
  type GetResponse,
  type SetRequest,
  type StateMetadata,
  type TransactionalRequest,
  type TransactionalStore,
} from '../store.js';
import { RedisConnection } from '../../redis/connection.js';
import { parseRedisSettings, type RedisSettings } from './connection.js';
import { READ_SCRIPT, WRITE_SCRIPT, type WriteRefusal } from './scripts.js';

type ScriptArg = string | number | Buffer | readonly ScriptArg[];
/** data, version, PTTL in ms (-1 without expiry, -2 when the key does not exist). */
type ReadReply = [Buffer | null, Buffer | null, number];
type WriteReply = 0 | [operationIndex: number, reason: WriteRefusal];

/** The scripts as ioredis exposes them once defined; EVALSHA, falling back to EVAL when Redis lacks the script. */
interface StateScripts {
  stateWrite(numKeys: number, ...args: ScriptArg[]): Promise<WriteReply>;
  stateReadBuffer(key: string): Promise<ReadReply>;
}
interface StatePipeline extends ChainableCommander {
  stateWrite(numKeys: number, ...args: ScriptArg[]): StatePipeline;
  stateReadBuffer(key: string): StatePipeline;
}

const FEATURES: readonly StateFeature[] = Object.freeze([StateFeature.ETAG, StateFeature.TRANSACTIONAL, StateFeature.TTL]);
/** Versions are positive integers; nothing else can be an ETag this layout issued. */
const ISSUED_ETAG = /^\d+$/;
const FIRST_WRITE = '1';
const LAST_WRITE = '0';
const NO_TTL = '0';
const logger = createLogger('state.redis');

function checkedETag(key: string, etag: string | undefined): string {
  if (etag === undefined || etag === '') return '';
  if (!ISSUED_ETAG.test(etag)) throw new ETagInvalidError(key, etag);
  return etag;
}

function asBuffer(value: Uint8Array): Buffer {
  return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

function expiryTime(ttlMs: number): string {
  return new Date(Date.now() + ttlMs).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function refusal(key: string, etag: string | undefined, reason: WriteRefusal): ETagMismatchError {
  switch (reason) {
    case 'missing':
      return new ETagMismatchError(key, `key "${key}" does not exist`);
    case 'mismatch':
      return new ETagMismatchError(key, `etag "${etag ?? ''}" does not match for key "${key}"`);
    case 'exists':
      return new ETagMismatchError(key, `key "${key}" already exists and first-write was requested without an etag`);
  }
}

/** The stored entry of a read, or null when the key does not exist. */
function entryOf(key: string, [data, version, ttlMs]: ReadReply): GetResponse | null {
  if (data === null && version === null) return null;
  if (data === null || version === null) throw new Error(`key "${key}" is a hash without the "data" and "version" fields of a state entry`);
  const response: GetResponse = { data, etag: version.toString('latin1') };
  if (ttlMs > 0) response.metadata = { ttlExpireTime: expiryTime(ttlMs) };
  return response;
}

export class RedisStateStore implements TransactionalStore {
  private readonly client: Redis;
  private readonly scripts: StateScripts;
  /** Seconds; 0 for none. */
  private readonly defaultTtlSeconds: number;

  private constructor(
    private readonly connection: RedisConnection,
    settings: RedisSettings,
  ) {
    this.client = connection.client;
    this.defaultTtlSeconds = settings.defaultTtlSeconds ?? 0;
    this.client.defineCommand('stateWrite', { lua: WRITE_SCRIPT });
    this.client.defineCommand('stateRead', { lua: READ_SCRIPT, numberOfKeys: 1, readOnly: true });
    this.scripts = this.client as unknown as StateScripts;
  }

  /**
   * A store over `settings`. Redis being unreachable does not fail it: calls fail fast until the background
   * reconnection succeeds. Only Redis refusing the settings (credentials, database) does.
   */
  static async open(settings: RedisSettings): Promise<RedisStateStore> {
    return new RedisStateStore(await RedisConnection.open(settings, { component: 'state.redis', logger }), settings);
  }

  features(): readonly StateFeature[] {
    return FEATURES;
  }

  async get(req: GetRequest): Promise<GetResponse | null> {
    this.assertReady();
    let reply: ReadReply;
    try {
      reply = await this.scripts.stateReadBuffer(req.key);
    } catch (err) {
      throw this.failure(err);
    }
    return entryOf(req.key, reply);
  }

  async set(req: SetRequest): Promise<void> {
    this.assertReady();
    const args: ScriptArg[] = [req.key];
    this.pushUpsert(args, req);
    await this.write(1, args, (reason) => refusal(req.key, req.etag, reason));
  }

  async delete(req: DeleteRequest): Promise<void> {
    this.assertReady();
    const args: ScriptArg[] = [req.key];
    pushDelete(args, req);
    await this.write(1, args, (reason) => refusal(req.key, req.etag, reason));
  }

  async bulkGet(reqs: readonly GetRequest[]): Promise<BulkGetItem[]> {
    if (reqs.length === 0) return [];
    this.assertReady();
    const pipeline = this.client.pipeline() as StatePipeline;
    for (const { key } of reqs) pipeline.stateReadBuffer(key);
    const results = await this.exec(pipeline);
    return reqs.map(({ key }, i): BulkGetItem => {
      const [err, reply] = results[i]!;
      try {
        if (err !== null) throw this.failure(err);
        const entry = entryOf(key, reply as ReadReply);
        return entry === null ? { key } : { key, ...entry };
      } catch (failure) {
        return { key, error: (failure as Error).message };
      }
    });
  }

  async bulkSet(reqs: readonly SetRequest[]): Promise<void> {
    await this.writeEach(reqs, (args, req) => this.pushUpsert(args, req));
  }

  async bulkDelete(reqs: readonly DeleteRequest[]): Promise<void> {
    await this.writeEach(reqs, pushDelete);
  }

  /** One script run: every condition is checked before anything is written, so a refusal changes nothing. */
  async multi(req: TransactionalRequest): Promise<void> {
    const { operations } = req;
    if (operations.length === 0) return;
    this.assertReady();
    const keys: string[] = [];
    const slots: ScriptArg[] = [];
    for (const op of operations) {
      keys.push(op.request.key);
      if (op.operation === 'upsert') this.pushUpsert(slots, op.request);
      else pushDelete(slots, op.request);
    }
    await this.write(operations.length, [keys, slots], (reason, index) => {
      const { key, etag } = operations[index - 1]!.request;
      return refusal(key, etag, reason);
    });
  }

  close(): Promise<void> {
    return this.connection.close();
  }

  private assertReady(): void {
    if (!this.connection.ready) throw this.connection.unavailable();
  }

  /** Errors from a command that was sent: those caused by a lost connection say so. */
  private failure(err: unknown): Error {
    if (this.connection.lostBy(err)) return this.connection.unavailable(err);
    return err instanceof Error ? err : new Error(String(err));
  }

  private ttlFor(metadata: StateMetadata | undefined): string {
    const requested = metadata?.['ttlInSeconds'];
    if (requested === undefined || requested === '') return this.defaultTtlSeconds > 0 ? String(this.defaultTtlSeconds) : NO_TTL;
    const seconds = parseTtlSeconds(metadata);
    return seconds === undefined ? NO_TTL : String(seconds);
  }

  private pushUpsert(args: ScriptArg[], req: SetRequest): void {
    const etag = checkedETag(req.key, req.etag);
    const concurrency = etag === '' && req.options?.concurrency === 'first-write' ? FIRST_WRITE : LAST_WRITE;
    args.push('u', etag, concurrency, this.ttlFor(req.metadata), asBuffer(req.value));
  }

  private async write(numKeys: number, args: ScriptArg[], refused: (reason: WriteRefusal, index: number) => Error): Promise<void> {
    let reply: WriteReply;
    try {
      reply = await this.scripts.stateWrite(numKeys, ...args);
    } catch (err) {
      throw this.failure(err);
    }
    if (reply !== 0) throw refused(reply[1], reply[0]);
  }

  /** Every request is attempted; those that fail are reported together. */
  private async writeEach<R extends { key: string; etag?: string }>(
    reqs: readonly R[],
    push: (args: ScriptArg[], req: R) => void,
  ): Promise<void> {
    if (reqs.length === 0) return;
    this.assertReady();
    const failures: unknown[] = [];
    const sent: R[] = [];
    const pipeline = this.client.pipeline() as StatePipeline;
    for (const req of reqs) {
      const args: ScriptArg[] = [req.key];
      try {
        push(args, req);
      } catch (err) {
        failures.push(err);
        continue;
      }
      pipeline.stateWrite(1, ...args);
      sent.push(req);
    }
    if (sent.length > 0) {
      const results = await this.exec(pipeline);
      results.forEach(([err, reply], i) => {
        const req = sent[i]!;
        if (err !== null) failures.push(this.failure(err));
        else if (reply !== 0) failures.push(refusal(req.key, req.etag, (reply as Exclude<WriteReply, 0>)[1]));
      });
    }
    throwBulkFailures(failures, reqs.length);
  }

  private async exec(pipeline: StatePipeline): Promise<[Error | null, unknown][]> {
    let results: [Error | null, unknown][] | null;
    try {
      results = await pipeline.exec();
    } catch (err) {
      throw this.failure(err);
    }
    if (results === null) throw new Error('the Redis pipeline was discarded');
    return results;
  }
}

function pushDelete(args: ScriptArg[], req: DeleteRequest): void {
  args.push('d', checkedETag(req.key, req.etag), LAST_WRITE, NO_TTL, '');
}

registerComponent({
  type: 'state.redis',
  versions: ['v1'],
  kind: 'state',
  create: (meta) => RedisStateStore.open(parseRedisSettings(meta)),
  capabilities: stateCapabilities,
});
