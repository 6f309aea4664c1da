// A subscriber app for pub/sub tests: answers `GET /dapr/subscribe` with the given subscriptions, records every
// event posted to it, and answers each one as the test decides (default: an empty 200, Dapr's SUCCESS).

import type { ServerResponse } from 'node:http';
import { startApp, type RecordedRequest, type TestApp } from './apps.js';

export interface Delivery {
  route: string;
  headers: RecordedRequest['headers'];
  body: Buffer;
  /** The decoded JSON body (a CloudEvent, or a bulk request). */
  event: Record<string, unknown>;
}

export interface Answer {
  status: number;
  body?: string;
}

export type Decide = (delivery: Delivery) => Answer | Promise<Answer>;

const OK: Answer = { status: 200 };

export class SubscriberApp {
  readonly deliveries: Delivery[] = [];
  private readonly decisions = new Map<string, Decide>();
  private app: TestApp | null = null;

  /** `subscriptions`: the programmatic answer; null makes `/dapr/subscribe` a 404 (declarative only). */
  constructor(private readonly subscriptions: readonly unknown[] | null) {}

  async start(port = 0): Promise<this> {
    this.app = await startApp((req, res) => void this.serve(req, res), port);
    return this;
  }

  get port(): number {
    return this.app!.port;
  }

  /** How events posted to `route` are answered from now on. */
  on(route: string, decide: Decide): void {
    this.decisions.set(route, decide);
  }

  received(route: string): Delivery[] {
    return this.deliveries.filter((d) => d.route === route);
  }

  /** The `data` of every CloudEvent received on `route`, in arrival order. */
  data(route: string): unknown[] {
    return this.received(route).map((d) => d.event['data']);
  }

  async close(): Promise<void> {
    await this.app?.close();
    this.app = null;
  }

  private async serve(req: RecordedRequest, res: ServerResponse): Promise<void> {
    const route = req.url.split('?')[0]!;
    if (req.method === 'GET' && route === '/dapr/subscribe') {
      if (this.subscriptions === null) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(this.subscriptions));
      return;
    }
    if (req.method !== 'POST') return void res.writeHead(405).end();
    let event: Record<string, unknown>;
    try {
      event = JSON.parse(req.body.toString('utf8')) as Record<string, unknown>;
    } catch {
      return void res.writeHead(400).end();
    }
    const delivery: Delivery = { route, headers: req.headers, body: req.body, event };
    this.deliveries.push(delivery);
    const answer = await (this.decisions.get(route) ?? (() => OK))(delivery);
    res.writeHead(answer.status, answer.body === undefined ? {} : { 'content-type': 'application/json' }).end(answer.body);
  }
}
