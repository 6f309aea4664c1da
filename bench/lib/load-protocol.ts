import type { LatencySummary } from './latency-summary.js';
import type { PacedLane } from './paced-load.js';

/** Requests sent at a fixed overall rate, evenly spaced, over a fixed set of connections. */
export interface PacedJob {
  readonly kind: 'paced';
  readonly url: string;
  readonly rate: number;
  readonly connections: number;
  readonly bodyBytes: number;
  readonly warmupMs: number;
  readonly durationMs: number;
}

/** As many requests as the target answers (autocannon, no rate limit). */
export interface SaturateJob {
  readonly kind: 'saturate';
  readonly url: string;
  readonly connections: number;
  readonly bodyBytes: number;
  readonly warmupMs: number;
  readonly durationMs: number;
}

/**
 * Paced operations defined by a module the load generator imports: the module
 * exports `openOperations(config)` (see OperationModule), which opens whatever
 * clients the operations need. Lets a scenario pace work other than one POST,
 * such as a save followed by a read, or calls straight to a database.
 */
export interface PacedOperationsJob {
  readonly kind: 'paced-operations';
  /** URL of the module, as given to import(). */
  readonly moduleUrl: string;
  /** Passed to openOperations as it is; must survive the IPC channel's JSON. */
  readonly config: unknown;
  readonly rate: number;
  /** Lanes, each running one operation at a time. */
  readonly connections: number;
  readonly warmupMs: number;
  readonly durationMs: number;
}

export type LoadJob = PacedJob | SaturateJob | PacedOperationsJob;

/** The clients of one PacedOperationsJob. */
export interface OperationSource {
  openLane(index: number): PacedLane;
  /** Releases every lane's and the source's own connections. */
  close(): Promise<void>;
}

/** What the module named by a PacedOperationsJob exports. */
export interface OperationModule {
  openOperations(config: unknown): Promise<OperationSource>;
}

/** What every generator reports for its measured window (warm-up excluded). */
export interface LoadOutcome {
  readonly requests: number;
  /** Connection errors and timeouts. */
  readonly errors: number;
  /** Answers whose status was not 2xx. */
  readonly non2xx: number;
  readonly wallSeconds: number;
  /** CPU the generator itself used in the window. */
  readonly generatorCpuMicros: number;
}

export interface PacedOutcome extends LoadOutcome {
  readonly latency: LatencySummary;
  /** Sends that left more than one slot (1 / rate) after their own slot because an earlier answer on that connection was late. */
  readonly lateSends: number;
  /** 2xx answers other than the operation expects (for the echo POST: a body length differing from the request body's). */
  readonly wrongBodies: number;
}

export interface JobRequest {
  readonly id: number;
  readonly job: LoadJob;
}

export type JobEvent =
  | { readonly id: number; readonly event: 'measuring' }
  | { readonly id: number; readonly event: 'done'; readonly outcome: LoadOutcome | PacedOutcome }
  | { readonly id: number; readonly event: 'failed'; readonly message: string };

/** The request body every generator sends: printable, so any content type handling leaves it intact. */
export function makeBody(bytes: number): Buffer {
  const body = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) body[i] = 0x61 + (i % 26);
  return body;
}
