// Outgoing bytes of one connection. Frames are written into a shared slab and everything produced during one
// tick leaves in a single socket write (writev when large payloads are passed by reference).

import type { Socket } from 'node:net';

const SLAB_BYTES = 64 * 1024;

export class Outbox {
  /** The slab to write into, from `pos` on, after `reserve`. */
  buf: Buffer = Buffer.allocUnsafeSlow(SLAB_BYTES);
  pos = 0;
  private start = 0;
  private readonly chunks: Uint8Array[] = [];
  private scheduled = false;

  constructor(private readonly socket: Socket) {}

  /** Makes `bytes` contiguous bytes available at `buf[pos]`. */
  reserve(bytes: number): void {
    if (this.pos + bytes <= this.buf.length) return;
    this.seal();
    this.buf = Buffer.allocUnsafeSlow(Math.max(SLAB_BYTES, bytes));
    this.start = this.pos = 0;
  }

  /** Queues bytes that are sent as they are, without copying; they must not change until written. */
  appendReference(bytes: Uint8Array): void {
    this.seal();
    this.chunks.push(bytes);
  }

  /** Sends what was written once the current tick's work is done. */
  schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    process.nextTick(flushOutbox, this);
  }

  flush(): void {
    this.scheduled = false;
    this.seal();
    const chunks = this.chunks;
    if (chunks.length === 0) return;
    const socket = this.socket;
    if (socket.destroyed) {
      chunks.length = 0;
      return;
    }
    if (chunks.length === 1) {
      socket.write(chunks[0]);
    } else {
      socket.cork();
      for (const chunk of chunks) socket.write(chunk);
      socket.uncork();
    }
    chunks.length = 0;
  }

  private seal(): void {
    if (this.pos === this.start) return;
    this.chunks.push(this.buf.subarray(this.start, this.pos));
    this.start = this.pos;
  }
}

function flushOutbox(outbox: Outbox): void {
  outbox.flush();
}
