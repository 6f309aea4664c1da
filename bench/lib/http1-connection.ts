import { connect, type Socket } from 'node:net';

export interface Http1Answer {
  readonly status: number;
  readonly bodyBytes: number;
}

const headEndMarker = Buffer.from('\r\n\r\n');
const crlf = Buffer.from('\r\n');

interface Head {
  /** Offset of the first body byte. */
  readonly bodyStart: number;
  readonly status: number;
  readonly contentLength: number | undefined;
  readonly chunked: boolean;
  readonly closeAfter: boolean;
}

function parseHead(buffer: Buffer, headEnd: number): Head {
  const lines = buffer.toString('latin1', 0, headEnd).split('\r\n');
  const status = Number.parseInt(lines[0]!.slice(9, 12), 10);
  if (!lines[0]!.startsWith('HTTP/1.') || !Number.isInteger(status)) {
    throw new Error(`malformed status line: ${JSON.stringify(lines[0])}`);
  }
  let contentLength: number | undefined;
  let chunked = false;
  let closeAfter = lines[0]!.startsWith('HTTP/1.0');
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim().toLowerCase();
    if (name === 'content-length') contentLength = Number.parseInt(value, 10);
    else if (name === 'transfer-encoding') chunked = value.split(',').some((coding) => coding.trim() === 'chunked');
    else if (name === 'connection') closeAfter = value === 'close';
  }
  return { bodyStart: headEnd + 4, status, contentLength, chunked, closeAfter };
}

/**
 * Walks a chunked body; returns the payload size and the end offset of the
 * whole message, or undefined while it is incomplete.
 */
function chunkedExtent(buffer: Buffer, start: number): { bodyBytes: number; end: number } | undefined {
  let offset = start;
  let bodyBytes = 0;
  for (;;) {
    const lineEnd = buffer.indexOf(crlf, offset);
    if (lineEnd < 0) return undefined;
    const size = Number.parseInt(buffer.toString('latin1', offset, lineEnd).split(';')[0]!, 16);
    if (!Number.isInteger(size) || size < 0) throw new Error('malformed chunk size');
    if (size === 0) {
      // Trailers (usually none) end with an empty line.
      const trailerEnd = buffer.indexOf(crlf, lineEnd + 2);
      if (trailerEnd < 0) return undefined;
      if (trailerEnd === lineEnd + 2) return { bodyBytes, end: trailerEnd + 2 };
      const trailersEnd = buffer.indexOf(headEndMarker, lineEnd + 2);
      return trailersEnd < 0 ? undefined : { bodyBytes, end: trailersEnd + 4 };
    }
    const dataEnd = lineEnd + 2 + size;
    if (buffer.length < dataEnd + 2) return undefined;
    bodyBytes += size;
    offset = dataEnd + 2;
  }
}

interface InFlight {
  readonly resolve: (answer: Http1Answer) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/**
 * A minimal keep-alive HTTP/1.1 client connection that sends one prebuilt
 * request at a time. It writes the whole request in one call and parses only
 * what it needs to find the end of the answer, so the time it adds to a
 * latency sample is a few microseconds rather than a full client stack's.
 * It reconnects when the server closes the connection.
 */
export class Http1Connection {
  private socket: Socket | undefined;
  private pending: Buffer = Buffer.alloc(0);
  private head: Head | undefined;
  private inFlight: InFlight | undefined;

  /** request: the bytes exchange() sends unless it is given others. */
  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly request: Buffer,
    private readonly timeoutMs: number,
  ) {}

  /** Builds the bytes of a POST with a fixed body. */
  static postRequest(url: URL, contentType: string, body: Buffer): Buffer {
    const head =
      `POST ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\n` +
      `Content-Type: ${contentType}\r\nContent-Length: ${body.length}\r\n\r\n`;
    return Buffer.concat([Buffer.from(head, 'latin1'), body]);
  }

  /** Builds the bytes of a bodiless GET. */
  static getRequest(url: URL): Buffer {
    return Buffer.from(`GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\n\r\n`, 'latin1');
  }

  /** Sends one prebuilt request (the constructor's by default) and resolves with its answer. */
  exchange(request: Buffer = this.request): Promise<Http1Answer> {
    if (this.inFlight !== undefined) return Promise.reject(new Error('a request is already in flight'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.fail(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
      this.inFlight = { resolve, reject, timer };
      this.pending = Buffer.alloc(0);
      this.head = undefined;
      (this.socket ?? this.open()).write(request);
    });
  }

  close(): void {
    this.socket?.destroy();
    this.socket = undefined;
  }

  private open(): Socket {
    const socket = connect({ host: this.host, port: this.port, noDelay: true });
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', (error) => this.drop(socket, error));
    socket.on('close', () => this.drop(socket, new Error('connection closed by server')));
    this.socket = socket;
    return socket;
  }

  private drop(socket: Socket, error: Error): void {
    if (this.socket !== socket) return;
    this.socket = undefined;
    socket.destroy();
    this.fail(error);
  }

  private fail(error: Error): void {
    const flight = this.inFlight;
    if (flight === undefined) return;
    this.inFlight = undefined;
    clearTimeout(flight.timer);
    this.close();
    flight.reject(error);
  }

  private receive(chunk: Buffer): void {
    if (this.inFlight === undefined) return;
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    let answer: Http1Answer | undefined;
    try {
      answer = this.complete();
    } catch (error) {
      this.fail(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    if (answer === undefined) return;
    const flight = this.inFlight;
    this.inFlight = undefined;
    clearTimeout(flight.timer);
    if (this.head?.closeAfter === true) this.close();
    flight.resolve(answer);
  }

  /** The answer once the pending bytes hold all of it. */
  private complete(): Http1Answer | undefined {
    if (this.head === undefined) {
      const headEnd = this.pending.indexOf(headEndMarker);
      if (headEnd < 0) return undefined;
      this.head = parseHead(this.pending, headEnd);
    }
    const head = this.head;
    if (head.status === 204 || head.status === 304) return { status: head.status, bodyBytes: 0 };
    if (head.chunked) {
      const extent = chunkedExtent(this.pending, head.bodyStart);
      return extent === undefined ? undefined : { status: head.status, bodyBytes: extent.bodyBytes };
    }
    if (head.contentLength === undefined) throw new Error('answer has neither Content-Length nor chunked encoding');
    return this.pending.length - head.bodyStart >= head.contentLength
      ? { status: head.status, bodyBytes: head.contentLength }
      : undefined;
  }
}
