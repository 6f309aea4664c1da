import type { HttpResponse } from 'uWebSockets.js';
import { asDaprError, type DaprError } from '../runtime/errors.js';
import { formatRemoteAddress } from './remote-address.js';
import { statusLine } from './status-lines.js';

const JSON_HEADERS: readonly string[] = ['content-type', 'application/json'];

export type AnswerInterceptor = (
  status: number,
  headers: readonly string[] | null,
  body: Uint8Array | string | null,
  closeConnection: boolean,
) => void;

/**
 * The answer side of an API request. It owns the uWebSockets.js response: every write is corked, large bodies
 * honour backpressure, and nothing is written after the client went away.
 */
export class ApiReply {
  aborted = false;
  done = false;
  /** Called once if the client disconnects before the reply is sent, e.g. to cancel an upstream call. */
  onAbort: (() => void) | null = null;
  /** Called once when the reply is over, sent or aborted; the front uses it to track in-flight requests. */
  onFinish: (() => void) | null = null;
  /** HEAD requests are answered with headers only. */
  headOnly = false;
  /**
   * Set while an API middleware chain waits for the handler's answer: the first `send` goes here instead of the
   * wire, and the chain sends the answer it ends with.
   */
  intercept: AnswerInterceptor | null = null;

  constructor(private readonly res: HttpResponse) {}

  /** `headers` is a flat [name, value, ...] list; content-length is computed here and must not be in it. */
  send(status: number, headers: readonly string[] | null, body: Uint8Array | string | null, closeConnection = false): void {
    if (this.aborted || this.done) return;
    if (this.intercept !== null) {
      const intercept = this.intercept;
      this.intercept = null;
      intercept(status, headers, body, closeConnection);
      return;
    }
    this.done = true;
    const res = this.res;
    res.cork(() => {
      res.writeStatus(statusLine(status));
      if (headers !== null) {
        for (let i = 0; i < headers.length; i += 2) {
          const name = headers[i]!;
          // uWebSockets.js always writes its own Date; a forwarded one would make two.
          if (name.length === 4 && name.toLowerCase() === 'date') continue;
          res.writeHeader(name, headers[i + 1]!);
        }
      }
      if (this.headOnly) {
        res.endWithoutBody(body === null ? 0 : typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength, closeConnection);
      } else if (body === null || status === 204 || status === 304) {
        // endWithoutBody() with no argument is the only form that sends no Content-Length, as 204 and 304 require.
        if ((status === 204 || status === 304) && !closeConnection) res.endWithoutBody();
        else res.end(undefined, closeConnection);
      } else if (closeConnection || typeof body === 'string' || body.byteLength < STREAM_THRESHOLD) {
        res.end(body, closeConnection);
      } else {
        this.streamLargeBody(body);
        return;
      }
      this.finish();
    });
  }

  /**
   * The client's address as http-wasm's `get_source_addr` gives it. Read from the connection, so only while the
   * request is being handled in the call that delivered it, before any answer: the API chain's case.
   */
  clientAddress(): string {
    return formatRemoteAddress(new Uint8Array(this.res.getRemoteAddress()));
  }

  json(status: number, value: unknown): void {
    this.send(status, JSON_HEADERS, JSON.stringify(value));
  }

  noContent(): void {
    this.send(204, null, null);
  }

  /** `closeConnection` for errors after which the rest of the request cannot be trusted, e.g. an oversize body. */
  error(err: DaprError, closeConnection = false): void {
    this.send(err.httpStatus, JSON_HEADERS, JSON.stringify(err), closeConnection);
  }

  /** Marks the reply as aborted by the client; called by the front from uWebSockets.js's onAborted. */
  abort(): void {
    if (this.done && !this.streaming) return;
    this.aborted = true;
    this.done = true;
    const onAbort = this.onAbort;
    this.onAbort = null;
    if (onAbort !== null) onAbort();
    this.finish();
  }

  private streaming = false;

  // Writes what the socket takes now and the rest from onWritable, so a slow reader never makes us buffer a copy.
  private streamLargeBody(body: Uint8Array): void {
    const res = this.res;
    const total = body.byteLength;
    const startOffset = res.getWriteOffset();
    const [, completed] = res.tryEnd(body, total);
    if (completed) {
      this.finish();
      return;
    }
    this.streaming = true;
    res.onWritable((offset) => {
      const [ok, finished] = res.tryEnd(body.subarray(offset - startOffset), total);
      if (finished) {
        this.streaming = false;
        this.finish();
      }
      return ok;
    });
  }

  private finish(): void {
    const onFinish = this.onFinish;
    this.onFinish = null;
    if (onFinish !== null) onFinish();
  }
}

// Below this size a body goes out in one end() call; uWebSockets.js buffers what the socket cannot take yet.
const STREAM_THRESHOLD = 64 * 1024;

/** Runs an API handler's async work; whatever it throws is answered in Dapr's error shape. */
export function answer(reply: ApiReply, work: () => Promise<void>): void {
  work().catch((err: unknown) => reply.error(asDaprError(err)));
}
