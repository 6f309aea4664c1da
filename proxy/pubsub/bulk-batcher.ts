// Bulk subscriptions: events headed for one route are gathered until `maxMessagesCount` are waiting or the oldest has
// waited `maxAwaitDurationMs`, then posted to the app in one request (contract §6.3, bulk delivery). Each event's
// promise settles with its own entry's outcome.

import { randomUUID } from 'node:crypto';
import type { AppChannel } from '../appchannel/http-pool.js';
import { callApp, describeFailure } from '../appchannel/call-app.js';
import { bulkResults, type DeliveryResult } from './app-delivery.js';
import type { BulkSubscribeOptions } from './subscriptions.js';

export interface BulkEntry {
  entryId: string;
  /** The CloudEvent as an object, or for raw payloads the message's bytes in base64. */
  event: unknown;
  contentType: string;
  metadata: Readonly<Record<string, string>>;
}

interface Waiting {
  entry: BulkEntry;
  settle(result: DeliveryResult): void;
}

interface Batch {
  waiting: Waiting[];
  timer: NodeJS.Timeout;
}

export interface BulkTarget {
  appChannel: AppChannel;
  headers: string[];
  pubsubName: string;
  topic: string;
  timeoutMs: number;
}

export class BulkBatcher {
  private readonly batches = new Map<string, Batch>();

  constructor(
    private readonly options: BulkSubscribeOptions,
    private readonly target: BulkTarget,
  ) {}

  add(path: string, entry: BulkEntry): Promise<DeliveryResult> {
    return new Promise((settle) => {
      let batch = this.batches.get(path);
      if (batch === undefined) {
        batch = { waiting: [], timer: setTimeout(() => this.flush(path), this.options.maxAwaitDurationMs) };
        this.batches.set(path, batch);
      }
      batch.waiting.push({ entry, settle });
      if (batch.waiting.length >= this.options.maxMessagesCount) this.flush(path);
    });
  }

  /** Sends what is waiting now; used at shutdown so no event waits for a timer that will not fire. */
  flushAll(): void {
    for (const path of [...this.batches.keys()]) this.flush(path);
  }

  private flush(path: string): void {
    const batch = this.batches.get(path);
    if (batch === undefined) return;
    this.batches.delete(path);
    clearTimeout(batch.timer);
    const { appChannel, headers, pubsubName, topic, timeoutMs } = this.target;
    const entries = batch.waiting.map((w) => w.entry);
    const body = Buffer.from(
      JSON.stringify({ id: randomUUID(), type: 'com.dapr.event.sent.bulk', topic, pubsubname: pubsubName, metadata: {}, entries }),
    );
    callApp(appChannel, { method: 'POST', path, headers, body }, timeoutMs).then(
      (res) => {
        const results = bulkResults(res, entries.map((e) => e.entryId));
        for (const w of batch.waiting) w.settle(results.get(w.entry.entryId)!);
      },
      (err: unknown) => {
        const result: DeliveryResult = { outcome: 'retry', reason: describeFailure(err) };
        for (const w of batch.waiting) w.settle(result);
      },
    );
  }
}
