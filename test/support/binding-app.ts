// An app for input-binding tests: answers the sidecar's `OPTIONS /{route}` probe for the routes it subscribes to
// (404 otherwise, Dapr's "not subscribed"), records every event posted to it, and answers each one as the test
// decides (default: an empty 200).

import type { ServerResponse } from 'node:http';
import { startApp, type RecordedRequest, type TestApp } from './apps.js';

export interface BindingEventReceived {
  route: string;
  headers: RecordedRequest['headers'];
  body: Buffer;
}

export interface BindingAnswer {
  status: number;
  body?: string;
  /** Milliseconds to wait before answering. */
  delayMs?: number;
}

export type DecideBindingAnswer = (event: BindingEventReceived) => BindingAnswer | Promise<BindingAnswer>;

export class BindingApp {
  readonly events: BindingEventReceived[] = [];
  readonly probes: string[] = [];
  private readonly decisions = new Map<string, DecideBindingAnswer>();
  private app: TestApp | null = null;

  /** `routes`: the routes whose probe is answered 200 and whose events are accepted. */
  constructor(private readonly routes: readonly string[]) {}

  async start(port = 0): Promise<this> {
    this.app = await startApp((req, res) => void this.serve(req, res), port);
    return this;
  }

  get port(): number {
    return this.app!.port;
  }

  /** How the app answers events on `route` from now on. */
  answer(route: string, decide: DecideBindingAnswer): void {
    this.decisions.set(route, decide);
  }

  eventsFor(route: string): BindingEventReceived[] {
    return this.events.filter((event) => event.route === route);
  }

  async close(): Promise<void> {
    await this.app?.close();
    this.app = null;
  }

  private async serve(req: RecordedRequest, res: ServerResponse): Promise<void> {
    const route = decodeURIComponent(new URL(req.url, 'http://app').pathname.slice(1));
    if (req.method === 'OPTIONS') {
      this.probes.push(route);
      res.writeHead(this.routes.includes(route) ? 200 : 404).end();
      return;
    }
    if (req.method !== 'POST' || !this.routes.includes(route)) {
      res.writeHead(404).end();
      return;
    }
    const event = { route, headers: req.headers, body: req.body };
    this.events.push(event);
    const decide = this.decisions.get(route);
    const answer = decide === undefined ? { status: 200 } : await decide(event);
    if (answer.delayMs !== undefined) await new Promise((resolve) => setTimeout(resolve, answer.delayMs));
    res.writeHead(answer.status, answer.body === undefined ? {} : { 'content-type': 'application/json' }).end(answer.body);
  }
}
