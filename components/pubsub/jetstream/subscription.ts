// One subscription: a loop of pull requests on a durable consumer, each asking for exactly as many messages as the
// subscription has free handler slots, so that never more than `maxInFlight` messages are held at once. The
// replicas of a consumer id pull from the same durable and so share its messages. A handler's outcome settles its
// message: acknowledged when it resolved, negatively acknowledged with a delay when it rejected. While a handler
// runs, its message is reported in progress, so that `ackWait` redelivers only what a dead subscriber held.

import { AckPolicy, type Consumer, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import { createLogger } from '../../../proxy/runtime/logger.js';
import type { MessageHandler, Subscription } from '../pubsub.js';
import { messageOf } from './messages.js';

/** A durable consumer ready to pull from, with the ack wait the server applies to it. */
export interface BoundConsumer {
  consumer: Consumer;
  ackWaitMs: number;
}

export interface PullSettings {
  topic: string;
  maxInFlight: number;
  ackPolicy: AckPolicy;
  expiresMs: number;
  heartbeatMs: number | undefined;
  /** Delays before a rejected message's next delivery, by its deliveries so far, the last one repeating. */
  backOffMs: readonly number[];
}

const RETRY_FIRST_MS = 250;
const RETRY_MAX_MS = 5_000;
/** Without `backOff`, a rejected message comes back soon, then less and less often. */
const REDELIVERY_FIRST_MS = 100;
const REDELIVERY_MAX_MS = 5_000;
const logger = createLogger('pubsub.jetstream');

/** What the loop waits for when it is not pulling: a free handler slot, or the time to retry after a failure. */
interface Wait {
  reason: 'slot' | 'retry';
  end(): void;
}

export class PullSubscription implements Subscription {
  private readonly pending = new Set<JsMsg>();
  private readonly keepAlive: NodeJS.Timeout | undefined;
  private readonly loop: Promise<void>;
  private bound: BoundConsumer | undefined;
  private batch: ConsumerMessages | undefined;
  private waiting: Wait | undefined;
  private closing = false;

  /**
   * @param bind (re)creates the stream and the durable consumer; called again after a pull failed.
   * @param onClose forgets the subscription in its component.
   */
  constructor(
    bound: BoundConsumer,
    private readonly bind: () => Promise<BoundConsumer>,
    private readonly handler: MessageHandler,
    private readonly settings: PullSettings,
    private readonly onClose: () => void,
  ) {
    this.bound = bound;
    if (settings.ackPolicy !== AckPolicy.None) {
      this.keepAlive = setInterval(() => {
        for (const msg of this.pending) this.reply(() => msg.working());
      }, Math.max(1, bound.ackWaitMs / 2));
    }
    this.loop = this.pull();
  }

  /** Stops pulling at once; resolves when the loop is over (a set-up under way first ends or fails). */
  async close(): Promise<void> {
    if (!this.closing) {
      this.closing = true;
      clearInterval(this.keepAlive);
      this.waiting?.end();
      void this.batch?.close();
      this.onClose();
    }
    await this.loop;
  }

  /** Retries at once after a failure: the connection it came from is back. */
  retryNow(): void {
    if (this.waiting?.reason === 'retry') this.waiting.end();
  }

  private async pull(): Promise<void> {
    let failures = 0;
    while (!this.closing) {
      const free = this.settings.maxInFlight - this.pending.size;
      if (free <= 0) {
        await this.wait('slot');
        continue;
      }
      try {
        this.bound ??= await this.bind();
        const batch = await this.bound.consumer.fetch({
          max_messages: free,
          expires: this.settings.expiresMs,
          ...(this.settings.heartbeatMs === undefined ? {} : { idle_heartbeat: this.settings.heartbeatMs }),
        });
        this.batch = batch;
        if (this.closing) void batch.close();
        for await (const msg of batch) this.dispatch(msg);
        failures = 0;
      } catch (err) {
        if (this.closing) break;
        failures++;
        const delay = Math.min(RETRY_FIRST_MS * 2 ** (failures - 1), RETRY_MAX_MS);
        // One warning per run of failures: an outage would otherwise log every retry of every subscription.
        const report = failures === 1 ? logger.warn : logger.debug;
        report(`subscription to "${this.settings.topic}": ${(err as Error).message}; pulling again in ${delay} ms`);
        // The stream or the consumer may be gone (deleted, or lost with a server in memory): set them up again.
        this.bound = undefined;
        await this.wait('retry', delay);
      } finally {
        this.batch = undefined;
      }
    }
  }

  private dispatch(msg: JsMsg): void {
    // A pull request the client renews after a reconnection asks for its whole size again, so it can bring more
    // than the free slots: those go straight back to the server.
    if (this.closing || this.pending.size >= this.settings.maxInFlight) {
      this.settle(msg, () => msg.nak());
      return;
    }
    this.pending.add(msg);
    this.handler(messageOf(this.settings.topic, msg)).then(
      () => this.settle(msg, () => msg.ack()),
      () => this.settle(msg, () => msg.nak(this.redeliveryDelayMs(msg.info.deliveryCount))),
    );
  }

  private redeliveryDelayMs(deliveries: number): number {
    const backOff = this.settings.backOffMs;
    if (backOff.length > 0) return backOff[Math.min(deliveries, backOff.length) - 1]!;
    return Math.min(REDELIVERY_FIRST_MS * 2 ** (deliveries - 1), REDELIVERY_MAX_MS);
  }

  private settle(msg: JsMsg, answer: () => void): void {
    this.pending.delete(msg);
    if (this.settings.ackPolicy !== AckPolicy.None) this.reply(answer);
    if (this.waiting?.reason === 'slot') this.waiting.end();
  }

  private reply(answer: () => void): void {
    try {
      answer();
    } catch {
      // The connection is closed: the server delivers the message again once its ack wait is over.
    }
  }

  /** Closing ends any wait; a retry also ends after `ms`. */
  private wait(reason: Wait['reason'], ms?: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = ms === undefined ? undefined : setTimeout(() => this.waiting?.end(), ms);
      this.waiting = {
        reason,
        end: () => {
          clearTimeout(timer);
          this.waiting = undefined;
          resolve();
        },
      };
    });
  }
}
