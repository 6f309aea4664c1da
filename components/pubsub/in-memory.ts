// `pubsub.in-memory`: topics inside the sidecar process. Each consumer id is a group with its own queue (replicas
// of one consumer share it); a rejected message goes back to its group after a back-off, so it is never lost while
// the process lives. A full queue makes publishers wait: memory stays bounded when subscribers are slow.

import { metadataValue, registerComponent, type ComponentMetadata } from '../registry.js';
import type { Message, MessageHandler, PubSub, PubSubFeature, PublishRequest, SubscribeRequest, Subscription } from './pubsub.js';

const DEFAULT_MAX_QUEUED = 10_000;
const FIRST_REDELIVERY_MS = 50;
const MAX_REDELIVERY_MS = 1_000;

interface Queued {
  message: Message;
  attempts: number;
}

interface Subscriber {
  handler: MessageHandler;
  maxInFlight: number;
  inFlight: number;
}

class ConsumerGroup {
  private readonly queue: Queued[] = [];
  private readonly subscribers: Subscriber[] = [];
  private readonly spaceWaiters: Array<() => void> = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private nextSubscriber = 0;

  constructor(private readonly maxQueued: number) {}

  async enqueue(message: Message): Promise<void> {
    while (this.queue.length >= this.maxQueued) await new Promise<void>((resolve) => this.spaceWaiters.push(resolve));
    this.queue.push({ message, attempts: 0 });
    this.pump();
  }

  add(subscriber: Subscriber): void {
    this.subscribers.push(subscriber);
    this.pump();
  }

  remove(subscriber: Subscriber): void {
    const index = this.subscribers.indexOf(subscriber);
    if (index >= 0) this.subscribers.splice(index, 1);
  }

  close(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.subscribers.length = 0;
  }

  /** Hands queued messages to subscribers with free slots, round robin. */
  private pump(): void {
    while (this.queue.length > 0) {
      const subscriber = this.freeSubscriber();
      if (subscriber === undefined) return;
      const item = this.queue.shift()!;
      this.spaceWaiters.shift()?.();
      subscriber.inFlight++;
      subscriber.handler(item.message).then(
        () => this.settle(subscriber),
        () => {
          this.settle(subscriber);
          this.redeliverLater(item);
        },
      );
    }
  }

  private settle(subscriber: Subscriber): void {
    subscriber.inFlight--;
    this.pump();
  }

  private freeSubscriber(): Subscriber | undefined {
    for (let i = 0; i < this.subscribers.length; i++) {
      const subscriber = this.subscribers[(this.nextSubscriber + i) % this.subscribers.length]!;
      if (subscriber.inFlight < subscriber.maxInFlight) {
        this.nextSubscriber = (this.nextSubscriber + i + 1) % this.subscribers.length;
        return subscriber;
      }
    }
    return undefined;
  }

  private redeliverLater(item: Queued): void {
    item.attempts++;
    const delay = Math.min(FIRST_REDELIVERY_MS * 2 ** (item.attempts - 1), MAX_REDELIVERY_MS);
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      // Ahead of newer messages: a redelivery keeps its place in the topic's order as far as possible.
      this.queue.unshift(item);
      this.pump();
    }, delay);
    this.timers.add(timer);
  }
}

export class InMemoryPubSub implements PubSub {
  /** topic -> consumer id -> group */
  private readonly topics = new Map<string, Map<string, ConsumerGroup>>();

  constructor(private readonly maxQueued = DEFAULT_MAX_QUEUED) {}

  features(): readonly PubSubFeature[] {
    return [];
  }

  async publish(req: PublishRequest): Promise<void> {
    const groups = this.topics.get(req.topic);
    if (groups === undefined || groups.size === 0) return;
    const message: Message = {
      topic: req.topic,
      data: Uint8Array.prototype.slice.call(req.data),
      metadata: req.metadata,
      ...(req.contentType === undefined ? {} : { contentType: req.contentType }),
    };
    await Promise.all([...groups.values()].map((group) => group.enqueue(message)));
  }

  async subscribe(req: SubscribeRequest, handler: MessageHandler): Promise<Subscription> {
    let groups = this.topics.get(req.topic);
    if (groups === undefined) {
      groups = new Map();
      this.topics.set(req.topic, groups);
    }
    let group = groups.get(req.consumerId);
    if (group === undefined) {
      group = new ConsumerGroup(this.maxQueued);
      groups.set(req.consumerId, group);
    }
    const subscriber: Subscriber = { handler, maxInFlight: Math.max(1, req.maxInFlight), inFlight: 0 };
    group.add(subscriber);
    const owner = group;
    return {
      async close() {
        owner.remove(subscriber);
      },
    };
  }

  async close(): Promise<void> {
    for (const groups of this.topics.values()) for (const group of groups.values()) group.close();
    this.topics.clear();
  }
}

function maxQueuedOf(meta: ComponentMetadata): number {
  const raw = metadataValue(meta, 'maxQueuedMessages');
  if (raw === undefined || raw === '') return DEFAULT_MAX_QUEUED;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) throw new Error(`metadata "maxQueuedMessages" must be a positive integer, got "${raw}"`);
  return value;
}

registerComponent({
  type: 'pubsub.in-memory',
  versions: ['v1'],
  kind: 'pubsub',
  create: (meta) => new InMemoryPubSub(maxQueuedOf(meta)),
});
