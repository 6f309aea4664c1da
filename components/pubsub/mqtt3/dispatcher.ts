// One subscription's side of a consumer connection. Received messages wait here until the handler has a free slot
// (never more than maxInFlight calls pending); a rejected message keeps its slot and goes to the handler again
// after a back-off, so with one slot the topic's order holds; a processed one is acknowledged. MQTT 3 itself only
// redelivers on the next connection, so the retries are the component's.

import type { Message, MessageHandler } from '../pubsub.js';
import type { TopicFilter } from './topic-filter.js';

const FIRST_RETRY_MS = 100;
const MAX_RETRY_MS = 5000;

export interface Received {
  message: Message;
  /** undefined for QoS 0: nothing to acknowledge, and the broker never sends it again. */
  packetId: number | undefined;
  /** Which connection of the client (1, 2, ... counting reconnections) it arrived on: its PUBACK belongs there. */
  generation: number;
}

/** What a dispatcher needs from the connection it takes messages from. */
export interface ReceivedOwner {
  acknowledge(received: Received): void;
  /** Whether the broker delivers it again by itself: it arrived before a reconnection that resumed the session. */
  redelivers(received: Received): boolean;
  /** Takes back a message no subscription is processing any more. */
  park(received: Received): void;
}

export class Dispatcher {
  private readonly waiting: Received[] = [];
  private pending = 0;
  private closed = false;
  /** Back-off waits, each with what ends it early. */
  private readonly backOffs = new Map<NodeJS.Timeout, () => void>();

  constructor(
    readonly filter: TopicFilter,
    private readonly handler: MessageHandler,
    private readonly maxInFlight: number,
    private readonly owner: ReceivedOwner,
  ) {}

  push(received: Received): void {
    this.waiting.push(received);
    this.pump();
  }

  /**
   * Stops handing out messages and returns those not handed out yet. A call still pending acknowledges its
   * message if it resolves; a message rejected from now on is parked.
   */
  close(): Received[] {
    this.closed = true;
    for (const [timer, wake] of this.backOffs) {
      clearTimeout(timer);
      wake();
    }
    this.backOffs.clear();
    return this.waiting.splice(0);
  }

  private pump(): void {
    while (!this.closed && this.pending < this.maxInFlight && this.waiting.length > 0) {
      const received = this.waiting.shift()!;
      if (this.owner.redelivers(received)) continue;
      this.pending++;
      void this.process(received).finally(() => {
        this.pending--;
        this.pump();
      });
    }
  }

  private async process(received: Received): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.handler(received.message);
        this.owner.acknowledge(received);
        return;
      } catch {
        if (!this.closed) await this.backOff(attempt);
        if (this.closed) {
          this.owner.park(received);
          return;
        }
        // The copy the broker sends again takes this one's place.
        if (this.owner.redelivers(received)) return;
      }
    }
  }

  private backOff(attempt: number): Promise<void> {
    const delay = Math.min(FIRST_RETRY_MS * 2 ** attempt, MAX_RETRY_MS);
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.backOffs.delete(timer);
        resolve();
      }, delay);
      this.backOffs.set(timer, resolve);
    });
  }
}
