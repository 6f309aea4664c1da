// Keep-alive HTTP/1.1 client pool from the sidecar to its app: the hot path of every invocation.
// Bodies are whole buffers both ways; sockets are plain net.Socket with a hand-written parser.

import net from 'node:net';
import { AppChannelError, type AppChannelErrorKind } from './errors.js';
import { COALESCED_BODY_BYTES, encodeRequestHead } from './request-head.js';
import { PARSE_COMPLETE, PARSE_INCOMPLETE, ResponseParser } from './response-parser.js';

export { AppChannelError, type AppChannelErrorKind } from './errors.js';

export interface AppRequest {
  /** Upper-case verb, e.g. 'GET'. */
  method: string;
  /** Raw path with leading '/', including '?query' if any; sent verbatim. */
  path: string;
  /** Flat [name0, value0, name1, value1, ...]; no hop-by-hop headers, no host or content-length. */
  headers: string[];
  body: Uint8Array | null;
}

export interface AppResponse {
  status: number;
  /** Flat [name, value, ...] as received, minus hop-by-hop headers and content-length. */
  headers: string[];
  /** Whole body, empty when none. */
  body: Buffer;
}

export interface HttpPoolOptions {
  host: string;
  port: number;
  /** Most requests in flight (= most sockets); <= 0 means unlimited. Excess requests wait in FIFO order. */
  maxConcurrency: number;
  /** Time from `request()` to the complete response, queueing included; 0 = none. */
  requestTimeoutMs: number;
  /** Largest response body accepted; <= 0 means unlimited. */
  maxResponseBytes: number;
  /** Idle keep-alive sockets are closed after this long (default 30 s, shortened by a server's Keep-Alive hint). */
  idleTimeoutMs?: number;
  /** Most idle sockets kept (default 256). */
  maxIdleSockets?: number;
}

export type AppResponseCallback = (err: AppChannelError | null, res: AppResponse | null) => void;

/** Handle on a request; `abort()` frees its resources and guarantees the callback is never called. */
export interface PendingAppRequest {
  abort(): void;
}

/** How building blocks call the app: the pool itself, or the pool behind the `spec.appHttpPipeline` middleware. */
export interface AppChannel {
  /** Sends `req` to the app; `onDone` is called exactly once, after `request` returned, unless aborted first. */
  request(req: AppRequest, onDone: AppResponseCallback): PendingAppRequest;
}

const DEFAULT_IDLE_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_IDLE_SOCKETS = 256;
/** Kept below an idle lifetime the server announced, so a request is never sent into its close. */
const KEEP_ALIVE_HINT_MARGIN_MS = 1000;
/** Timers may fire this early relative to performance.now(). */
const TIMER_SLACK_MS = 1;

// Every socket reads into this one buffer: reads are delivered one at a time on this thread and the
// parser copies out whatever it keeps before the next read can happen.
const readBuffer = Buffer.allocUnsafe(64 * 1024);

const NO_HEAD = Buffer.alloc(0);

// Exchange states. REJECTING: its failure is decided and the callback is still to come (abort cancels it).
const QUEUED = 0;
const ACTIVE = 1;
const REJECTING = 2;
const FINISHED = 3;

class Exchange implements PendingAppRequest {
  state = QUEUED;
  conn: Connection | null = null;
  /** performance.now() by which the response must be complete; 0 when not tracked. */
  deadline = 0;
  queuePrev: Exchange | null = null;
  queueNext: Exchange | null = null;
  deadlinePrev: Exchange | null = null;
  deadlineNext: Exchange | null = null;

  constructor(
    readonly pool: PoolCore,
    readonly req: AppRequest,
    /** The request line and headers, followed by the body unless it is larger than COALESCED_BODY_BYTES. */
    readonly head: Buffer,
    readonly onDone: AppResponseCallback,
  ) {}

  abort(): void {
    this.pool.abort(this);
  }
}

class Connection {
  readonly socket: net.Socket;
  readonly parser = new ResponseParser();
  exchange: Exchange | null = null;
  alive = true;
  connected = false;
  /** Carried a complete response before: the server may have dropped it while it sat idle. */
  reused = false;
  idleUntil = 0;

  constructor(readonly pool: PoolCore) {
    const socket = net.connect({
      host: pool.host,
      port: pool.port,
      noDelay: true,
      onread: { buffer: readBuffer, callback: (n) => this.onRead(n) },
    });
    socket.once('connect', () => {
      this.connected = true;
    });
    socket.on('error', (err) => this.onBroken(err));
    socket.on('end', () => this.onEnd());
    socket.on('close', () => this.onBroken(null));
    this.socket = socket;
    pool.connections.add(this);
  }

  send(ex: Exchange): void {
    this.exchange = ex;
    ex.conn = this;
    const { req, head } = ex;
    this.parser.reset(req.method === 'HEAD', this.pool.maxResponseBytes);
    const socket = this.socket;
    const body = req.body;
    if (body === null || body.length <= COALESCED_BODY_BYTES) {
      socket.write(head);
    } else {
      socket.cork();
      socket.write(head);
      socket.write(body);
      socket.uncork();
    }
  }

  destroy(): void {
    this.alive = false;
    this.exchange = null;
    this.socket.destroy();
    this.pool.connections.delete(this);
  }

  private onRead(n: number): boolean {
    const ex = this.exchange;
    if (ex === null) {
      // Bytes nobody asked for: the connection's framing can no longer be trusted.
      this.pool.dropIdle(this);
      return false;
    }
    const outcome = this.parser.execute(readBuffer, 0, n);
    if (outcome === PARSE_INCOMPLETE) return true;
    if (outcome === PARSE_COMPLETE) this.pool.complete(this, ex);
    else this.pool.fail(ex, this.parser.errorKind, this.parser.errorMessage);
    return true;
  }

  private onEnd(): void {
    const ex = this.exchange;
    if (ex !== null && this.parser.finishAtEof()) this.pool.complete(this, ex);
    else this.onBroken(null);
  }

  private onBroken(err: Error | null): void {
    if (!this.alive) return;
    const ex = this.exchange;
    this.destroy();
    if (ex === null) this.pool.forgetIdle(this);
    else this.pool.connectionLost(this, ex, err);
  }
}

class PoolCore {
  readonly host: string;
  readonly port: number;
  readonly hostHeader: string;
  readonly maxConcurrency: number;
  readonly requestTimeoutMs: number;
  readonly maxResponseBytes: number;
  readonly idleTimeoutMs: number;
  readonly maxIdleSockets: number;
  /** Every open socket, idle or busy, so a closing pool can reach them all. */
  readonly connections = new Set<Connection>();

  inFlight = 0;
  queued = 0;

  /** Idle connections, most recently used last; reuse takes the warmest. */
  private idle: Connection[] = [];
  private idleTimer: NodeJS.Timeout | null = null;
  private idleTimerAt = Infinity;

  private queueHead: Exchange | null = null;
  private queueTail: Exchange | null = null;

  // Exchanges with a deadline, in deadline order (all share one timeout, so arrival order) under one timer.
  private deadlineHead: Exchange | null = null;
  private deadlineTail: Exchange | null = null;
  private deadlineTimer: NodeJS.Timeout | null = null;

  private closing = false;
  private closed: Promise<void> | null = null;
  private resolveClosed: (() => void) | null = null;
  private graceTimer: NodeJS.Timeout | null = null;

  constructor(opts: HttpPoolOptions) {
    this.host = opts.host;
    this.port = opts.port;
    this.hostHeader = (opts.host.includes(':') ? `[${opts.host}]` : opts.host) + ':' + opts.port;
    this.maxConcurrency = opts.maxConcurrency > 0 ? opts.maxConcurrency : Infinity;
    this.requestTimeoutMs = Math.max(0, opts.requestTimeoutMs);
    this.maxResponseBytes = opts.maxResponseBytes > 0 ? opts.maxResponseBytes : Infinity;
    this.idleTimeoutMs = opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    this.maxIdleSockets = opts.maxIdleSockets ?? DEFAULT_MAX_IDLE_SOCKETS;
  }

  request(req: AppRequest, onDone: AppResponseCallback): PendingAppRequest {
    const head = encodeRequestHead(req, this.hostHeader);
    const ex = new Exchange(this, req, head ?? NO_HEAD, onDone);
    if (head === null || this.closing) {
      ex.state = REJECTING;
      const err = this.closing
        ? new AppChannelError('closed', 'app channel is closed')
        : new AppChannelError('protocol', 'line feed in request method, path or headers');
      process.nextTick(deliverRejection, ex, err);
      return ex;
    }
    if (this.requestTimeoutMs > 0) this.trackDeadline(ex);
    if (this.inFlight < this.maxConcurrency) this.start(ex, this.takeIdle());
    else this.enqueue(ex);
    return ex;
  }

  complete(conn: Connection, ex: Exchange): void {
    const parser = conn.parser;
    const res: AppResponse = { status: parser.status, headers: parser.headers, body: parser.takeBody() };
    const reusable = parser.keepAlive && parser.leftover === 0;
    if (reusable) {
      conn.exchange = null;
      conn.reused = true;
    } else {
      conn.destroy();
    }
    this.settle(ex, reusable ? conn : null);
    ex.onDone(null, res);
  }

  fail(ex: Exchange, kind: AppChannelErrorKind, message: string): void {
    ex.conn?.destroy();
    this.settle(ex, null);
    ex.onDone(new AppChannelError(kind, message), null);
  }

  connectionLost(conn: Connection, ex: Exchange, err: Error | null): void {
    if (conn.reused && !conn.parser.started) {
      // The server closed the idle socket before it could have read this request: nothing was processed.
      // The retry goes to a fresh connection, so it happens at most once.
      new Connection(this).send(ex);
      return;
    }
    const cause = err === null ? 'connection closed before the response was complete' : err.message;
    if (conn.connected) this.fail(ex, 'reset', cause);
    else this.fail(ex, 'connect', `cannot connect to app: ${cause}`);
  }

  abort(ex: Exchange): void {
    if (ex.state === QUEUED) {
      this.dequeue(ex);
      this.untrackDeadline(ex);
      ex.state = FINISHED;
      this.checkDrained();
    } else if (ex.state === ACTIVE) {
      ex.conn?.destroy();
      this.settle(ex, null);
    } else if (ex.state === REJECTING) {
      ex.state = FINISHED;
    }
  }

  dropIdle(conn: Connection): void {
    conn.destroy();
    this.forgetIdle(conn);
  }

  forgetIdle(conn: Connection): void {
    const at = this.idle.indexOf(conn);
    if (at !== -1) this.idle.splice(at, 1);
  }

  close(graceMs: number): Promise<void> {
    if (this.closed !== null) return this.closed;
    this.closing = true;
    for (const conn of this.idle) conn.destroy();
    this.idle = [];
    this.clearIdleTimer();
    this.closed = new Promise((resolve) => {
      this.resolveClosed = resolve;
    });
    if (Number.isFinite(graceMs)) this.graceTimer = setTimeout(() => this.abandon(), Math.max(0, graceMs));
    this.checkDrained();
    return this.closed;
  }

  private start(ex: Exchange, conn: Connection | null): void {
    ex.state = ACTIVE;
    this.inFlight++;
    (conn ?? new Connection(this)).send(ex);
  }

  /** Releases an exchange's slot and passes its still usable connection to the next request or the idle set. */
  private settle(ex: Exchange, conn: Connection | null): void {
    ex.state = FINISHED;
    ex.conn = null;
    this.inFlight--;
    this.untrackDeadline(ex);
    const next = this.queueHead;
    if (next !== null && this.inFlight < this.maxConcurrency) {
      this.dequeue(next);
      this.start(next, conn ?? this.takeIdle());
    } else if (conn !== null) {
      this.park(conn);
    }
    this.checkDrained();
  }

  private takeIdle(): Connection | null {
    const conn = this.idle.pop();
    if (conn === undefined) return null;
    conn.socket.ref();
    return conn;
  }

  private park(conn: Connection): void {
    let lifetime = this.idleTimeoutMs;
    const hint = conn.parser.keepAliveHintMs;
    if (hint >= 0) lifetime = Math.min(lifetime, Math.max(hint - KEEP_ALIVE_HINT_MARGIN_MS, hint / 2));
    if (this.closing || lifetime <= 0 || this.idle.length >= this.maxIdleSockets) {
      conn.destroy();
      return;
    }
    conn.idleUntil = performance.now() + lifetime;
    // An idle socket must not keep the process alive.
    conn.socket.unref();
    this.idle.push(conn);
    if (conn.idleUntil < this.idleTimerAt) this.armIdleTimer(conn.idleUntil);
  }

  private armIdleTimer(at: number): void {
    this.clearIdleTimer();
    this.idleTimerAt = at;
    this.idleTimer = setTimeout(this.closeExpiredIdle, Math.max(0, at - performance.now())).unref();
  }

  private clearIdleTimer(): void {
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    this.idleTimerAt = Infinity;
  }

  private readonly closeExpiredIdle = (): void => {
    this.idleTimer = null;
    this.idleTimerAt = Infinity;
    const now = performance.now() + TIMER_SLACK_MS;
    let next = Infinity;
    const kept: Connection[] = [];
    for (const conn of this.idle) {
      if (conn.idleUntil <= now) {
        conn.destroy();
      } else {
        kept.push(conn);
        if (conn.idleUntil < next) next = conn.idleUntil;
      }
    }
    this.idle = kept;
    if (next !== Infinity) this.armIdleTimer(next);
  };

  private enqueue(ex: Exchange): void {
    ex.queuePrev = this.queueTail;
    if (this.queueTail === null) this.queueHead = ex;
    else this.queueTail.queueNext = ex;
    this.queueTail = ex;
    this.queued++;
  }

  private dequeue(ex: Exchange): void {
    const { queuePrev: prev, queueNext: next } = ex;
    if (prev === null) this.queueHead = next;
    else prev.queueNext = next;
    if (next === null) this.queueTail = prev;
    else next.queuePrev = prev;
    ex.queuePrev = ex.queueNext = null;
    this.queued--;
  }

  private trackDeadline(ex: Exchange): void {
    ex.deadline = performance.now() + this.requestTimeoutMs;
    ex.deadlinePrev = this.deadlineTail;
    if (this.deadlineTail === null) this.deadlineHead = ex;
    else this.deadlineTail.deadlineNext = ex;
    this.deadlineTail = ex;
    // An armed timer fires no later than the head's deadline, and this one is the latest.
    if (this.deadlineTimer === null) this.deadlineTimer = setTimeout(this.expireDeadlines, this.requestTimeoutMs).unref();
  }

  private untrackDeadline(ex: Exchange): void {
    if (ex.deadline === 0) return;
    const { deadlinePrev: prev, deadlineNext: next } = ex;
    if (prev === null) this.deadlineHead = next;
    else prev.deadlineNext = next;
    if (next === null) this.deadlineTail = prev;
    else next.deadlinePrev = prev;
    ex.deadlinePrev = ex.deadlineNext = null;
    ex.deadline = 0;
  }

  private readonly expireDeadlines = (): void => {
    // deadlineTimer keeps pointing at the fired timer meanwhile, so requests made from callbacks don't arm another.
    const now = performance.now() + TIMER_SLACK_MS;
    // Detach the expired prefix before failing anything, so a slot freed below never goes to a queued
    // request that is already out of time.
    const first = this.deadlineHead;
    let stop = first;
    for (; stop !== null && stop.deadline <= now; stop = stop.deadlineNext) {
      stop.deadline = 0;
      if (stop.state === QUEUED) {
        this.dequeue(stop);
        stop.state = REJECTING;
      }
    }
    this.deadlineHead = stop;
    if (stop === null) this.deadlineTail = null;
    else stop.deadlinePrev = null;
    const message = `app did not respond within ${this.requestTimeoutMs} ms`;
    for (let ex = first; ex !== stop && ex !== null; ) {
      const following: Exchange | null = ex.deadlineNext;
      ex.deadlinePrev = ex.deadlineNext = null;
      if (ex.state === ACTIVE) {
        this.fail(ex, 'timeout', message);
      } else if (ex.state === REJECTING) {
        ex.state = FINISHED;
        ex.onDone(new AppChannelError('timeout', message), null);
      }
      ex = following;
    }
    this.deadlineTimer = null;
    const head = this.deadlineHead;
    if (head !== null) {
      this.deadlineTimer = setTimeout(this.expireDeadlines, Math.max(0, head.deadline - performance.now())).unref();
    }
    this.checkDrained();
  };

  /** Grace time is over: whatever has not finished fails. */
  private abandon(): void {
    this.graceTimer = null;
    let ex: Exchange | null;
    while ((ex = this.queueHead) !== null) {
      this.dequeue(ex);
      this.untrackDeadline(ex);
      ex.state = FINISHED;
      ex.onDone(new AppChannelError('closed', 'app channel closed before the request was sent'), null);
    }
    for (const conn of [...this.connections]) {
      const active = conn.exchange;
      if (active !== null) this.fail(active, 'aborted', 'app channel closed while the request was in flight');
    }
    this.checkDrained();
  }

  private checkDrained(): void {
    if (!this.closing || this.inFlight !== 0 || this.queued !== 0 || this.resolveClosed === null) return;
    if (this.graceTimer !== null) clearTimeout(this.graceTimer);
    if (this.deadlineTimer !== null) clearTimeout(this.deadlineTimer);
    this.graceTimer = this.deadlineTimer = null;
    const resolve = this.resolveClosed;
    this.resolveClosed = null;
    resolve();
  }
}

function deliverRejection(ex: Exchange, err: AppChannelError): void {
  if (ex.state !== REJECTING) return;
  ex.state = FINISHED;
  ex.onDone(err, null);
}

export class HttpPool implements AppChannel {
  readonly #core: PoolCore;

  constructor(opts: HttpPoolOptions) {
    this.#core = new PoolCore(opts);
  }

  /** Sends `req` to the app; `onDone` is called exactly once unless the request is aborted first. */
  request(req: AppRequest, onDone: AppResponseCallback): PendingAppRequest {
    return this.#core.request(req, onDone);
  }

  /** Requests holding a connection (sent, or being sent). */
  get inFlight(): number {
    return this.#core.inFlight;
  }

  /** Requests waiting for a free slot under maxConcurrency. */
  get queued(): number {
    return this.#core.queued;
  }

  /**
   * Stops accepting requests and closes idle sockets, then waits for queued and in-flight requests.
   * After `graceMs` (default: no limit) queued requests fail with 'closed' and in-flight ones with 'aborted'.
   */
  close(graceMs = Infinity): Promise<void> {
    return this.#core.close(graceMs);
  }
}
