// One subscription of `pubsub.redis`: a consumer of the topic's stream in the consumer group named after the
// consumer id. A single loop owns its dedicated connection and does everything that hands out messages there:
// creating the group, reclaiming messages left pending too long (by any consumer of the group, dead ones
// included) and blocking reads of new ones. Because only the loop hands out messages, it can take from Redis no
// more than there are free handler slots: a slow app holds messages back in Redis, not in the sidecar.

import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../../../proxy/runtime/logger.js';
import type { RedisConnection } from '../../redis/connection.js';
import type { MessageHandler, Subscription } from '../pubsub.js';
import { decodeAutoClaimReply, decodeReadReply, SCAN_COMPLETE, type CommandArg, type StreamEntry } from './entries.js';
import { redeliveryEnabled, type RedisStreamsSettings } from './settings.js';

/**
 * Longest blocking read. Reads are re-issued at least this often so that a live consumer never looks idle to the
 * clean-up of dead consumers (see RELEASE_CONSUMERS_SCRIPT).
 */
const MAX_BLOCK_MS = 5000;
/** Pauses after unexpected failures, doubling while they repeat, so a persistent one is neither hammered nor logged in a tight loop. */
const FIRST_FAILURE_PAUSE_MS = 250;
const MAX_FAILURE_PAUSE_MS = 5000;
/** A consumer holding no message and idle this long has died; it is removed from the group. */
const DEAD_CONSUMER_IDLE_MS = 10 * 60_000;
/** Start of a new consumer group: the whole stream, so no entry added before the group (re)appears is skipped. */
const GROUP_START = '0';

/**
 * Removes consumers that hold no pending message: ARGV[2] (this subscription's own consumer, '' for none) and
 * any other idle for ARGV[3] ms or more. Check and removal are one step, so no message can become pending on a
 * consumer between them; removing a consumer holding nothing loses nothing (a read recreates it).
 */
export const RELEASE_CONSUMERS_SCRIPT = `
local ok, consumers = pcall(redis.call, 'XINFO', 'CONSUMERS', KEYS[1], ARGV[1])
if not ok then return 0 end
local removed = 0
for _, consumer in ipairs(consumers) do
  local info = {}
  for i = 1, #consumer, 2 do info[consumer[i]] = consumer[i + 1] end
  if info['pending'] == 0 and (info['name'] == ARGV[2] or info['idle'] >= tonumber(ARGV[3])) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], info['name'])
    removed = removed + 1
  end
end
return removed
`;

export interface SubscriptionTarget {
  topic: string;
  group: string;
  /** Handler calls pending at once, at most. */
  limit: number;
}

function isMissingGroup(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('NOGROUP');
}

function isExistingGroup(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('BUSYGROUP');
}

export class StreamSubscription implements Subscription {
  /** Unique in the group: replicas of one app and several subscriptions of one sidecar each get their own. */
  private readonly consumer: string;
  private inFlight = 0;
  /** Ids of the messages with the handler: reclaiming one of them again must not hand it out twice at once. */
  private readonly withHandler = new Set<string>();
  private groupMissing = true;
  private closing = false;
  private readonly stop = new AbortController();
  private slotFreed: (() => void) | undefined;
  private loop: Promise<void> = Promise.resolve();

  constructor(
    private readonly target: SubscriptionTarget,
    private readonly handler: MessageHandler,
    /** Dedicated to this subscription; its blocking reads would hold up any other command. */
    private readonly reader: RedisConnection,
    /** Shared by the component: acknowledgements go there, so they are never stuck behind a blocking read. */
    private readonly commands: RedisConnection,
    private readonly settings: RedisStreamsSettings,
    private readonly logger: Logger,
  ) {
    this.consumer = `${target.group}-${randomBytes(6).toString('hex')}`;
  }

  /**
   * Creates the group when Redis is there (failing when Redis refuses, e.g. the key holds another type), else
   * leaves that to the loop once Redis is back; then starts consuming.
   */
  async start(): Promise<void> {
    if (this.reader.ready) {
      await this.createGroup();
    } else {
      this.logger.warn(`subscribing to "${this.target.topic}" while Redis is unavailable; consuming starts once it is back`);
    }
    this.loop = this.run();
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    this.stop.abort();
    this.slotFreed?.();
    // Dropping the connection ends a blocking read at once; the loop then sees `closing` and returns.
    await this.reader.close();
    await this.loop;
    await this.releaseConsumer();
  }

  private async run(): Promise<void> {
    const redelivery = redeliveryEnabled(this.settings);
    // A first reclaim right away hands over what a predecessor left behind without waiting an interval.
    let nextReclaimAt = Date.now();
    let failures = 0;
    while (!this.closing) {
      try {
        await this.freeSlot();
        await this.reader.whenReady();
        if (this.closing) return;
        if (this.groupMissing) await this.createGroup();
        const now = Date.now();
        if (redelivery && now >= nextReclaimAt) {
          const scanned = await this.reclaim();
          nextReclaimAt = scanned ? Date.now() + this.settings.redeliverIntervalMs : Date.now();
          continue;
        }
        const blockMs = redelivery ? Math.max(1, Math.min(nextReclaimAt - now, MAX_BLOCK_MS)) : MAX_BLOCK_MS;
        await this.read(blockMs);
        failures = 0;
      } catch (err) {
        if (this.closing) return;
        if (isMissingGroup(err)) {
          // Redis lost the stream or the group (a restart without persistence, a deletion): make it again.
          this.logger.warn(`consumer group "${this.target.group}" of stream "${this.target.topic}" is gone; creating it again`);
          this.groupMissing = true;
          continue;
        }
        const lost = !this.reader.ready;
        const message = `reading stream "${this.target.topic}" for group "${this.target.group}" failed: ${(err as Error).message}`;
        if (lost) this.logger.debug(`${message}; resuming once Redis is back`);
        else this.logger.warn(message);
        const pauseMs = Math.min(FIRST_FAILURE_PAUSE_MS * 2 ** failures++, MAX_FAILURE_PAUSE_MS);
        await sleep(pauseMs, undefined, { signal: this.stop.signal }).catch(() => undefined);
      }
    }
  }

  private get freeSlots(): number {
    return this.target.limit - this.inFlight;
  }

  /** Resolves once a handler slot is free, or the subscription closes. */
  private async freeSlot(): Promise<void> {
    while (this.freeSlots <= 0 && !this.closing) await new Promise<void>((resolve) => (this.slotFreed = resolve));
    this.slotFreed = undefined;
  }

  private async createGroup(): Promise<void> {
    const { topic, group } = this.target;
    try {
      await this.reader.client.xgroup('CREATE', topic, group, GROUP_START, 'MKSTREAM');
    } catch (err) {
      if (!isExistingGroup(err)) throw err;
    }
    this.groupMissing = false;
    await this.reader.client
      .eval(RELEASE_CONSUMERS_SCRIPT, 1, topic, group, '', DEAD_CONSUMER_IDLE_MS)
      .catch((err: unknown) => this.logger.debug(`removing dead consumers of group "${group}" failed: ${(err as Error).message}`));
  }

  /** Takes over messages pending longer than the processing timeout. Returns whether the pending list was scanned to its end. */
  private async reclaim(): Promise<boolean> {
    const { topic, group } = this.target;
    let cursor = SCAN_COMPLETE;
    do {
      const count = Math.min(this.freeSlots, this.settings.queueDepth);
      const args: CommandArg[] = [topic, group, this.consumer, this.settings.processingTimeoutMs, cursor, 'COUNT', count];
      const claimed = decodeAutoClaimReply(topic, await this.reader.client.callBuffer('XAUTOCLAIM', args), this.logger);
      for (const entry of claimed.entries) this.handOut(entry);
      cursor = claimed.cursor;
    } while (cursor !== SCAN_COMPLETE && this.freeSlots > 0 && !this.closing);
    return cursor === SCAN_COMPLETE;
  }

  private async read(blockMs: number): Promise<void> {
    const { topic, group } = this.target;
    const count = Math.min(this.freeSlots, this.settings.queueDepth);
    const args: CommandArg[] = ['GROUP', group, this.consumer, 'COUNT', count, 'BLOCK', blockMs, 'STREAMS', topic, '>'];
    const reply = await this.reader.client.callBuffer('XREADGROUP', args);
    for (const entry of decodeReadReply(topic, reply, this.logger)) this.handOut(entry);
  }

  private handOut({ id, message }: StreamEntry): void {
    if (message === undefined) {
      // Trimmed away while pending (Redis 6.2 still lists it): nothing left to deliver.
      this.acknowledge(id);
      return;
    }
    if (this.withHandler.has(id)) return;
    this.withHandler.add(id);
    this.inFlight++;
    let outcome: Promise<void>;
    try {
      outcome = this.handler(message);
    } catch (err) {
      outcome = Promise.reject(err);
    }
    outcome.then(
      () => {
        this.settle(id);
        this.acknowledge(id);
      },
      (err: unknown) => {
        this.settle(id);
        this.logger.debug(`message ${id} of "${this.target.topic}" was not processed (${(err as Error)?.message}); it stays pending for redelivery`);
      },
    );
  }

  private settle(id: string): void {
    this.withHandler.delete(id);
    this.inFlight--;
    this.slotFreed?.();
  }

  /** Best effort: a message whose acknowledgement is lost is delivered again, as at-least-once allows. */
  private acknowledge(id: string): void {
    if (!this.commands.ready) return;
    this.commands.client.xack(this.target.topic, this.target.group, id).catch((err: unknown) => {
      this.logger.warn(`acknowledging message ${id} of "${this.target.topic}" failed: ${(err as Error).message}; it will be delivered again`);
    });
  }

  /** Leaves the group when holding nothing; a consumer still holding messages stays for them to be reclaimed. */
  private async releaseConsumer(): Promise<void> {
    if (!this.commands.ready) return;
    const { topic, group } = this.target;
    await this.commands.client.eval(RELEASE_CONSUMERS_SCRIPT, 1, topic, group, this.consumer, DEAD_CONSUMER_IDLE_MS).catch((err: unknown) => {
      this.logger.debug(`removing consumer "${this.consumer}" from group "${group}" failed: ${(err as Error).message}`);
    });
  }
}
