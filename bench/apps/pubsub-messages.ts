/**
 * What a pub/sub benchmark message carries and what the subscriber app keeps of it. The publisher stamps each
 * message with its sequence number and the machine-clock time its publish started; the app records both with the
 * time the event reached it, and hands the records over in bulk between measurements.
 */

/** The message's JSON: exactly `bytes` long, sequence and send time first. */
export function messageBody(seq: number, sentAtUs: number, bytes: number): Buffer {
  const head = `{"seq":${seq},"sentAt":${sentAtUs},"pad":"`;
  const padBytes = bytes - head.length - 2;
  if (padBytes < 0) throw new Error(`a benchmark message needs more than ${bytes} bytes`);
  return Buffer.from(`${head}${'x'.repeat(padBytes)}"}`, 'latin1');
}

export interface MessageStamp {
  readonly seq: number;
  readonly sentAtUs: number;
}

/** The stamp in the data of a delivered CloudEvent; undefined when the event does not carry one. */
export function readStamp(cloudEvent: Buffer): MessageStamp | undefined {
  let data: unknown;
  try {
    data = (JSON.parse(cloudEvent.toString('utf8')) as { data?: unknown }).data;
  } catch {
    return undefined;
  }
  if (typeof data !== 'object' || data === null) return undefined;
  const { seq, sentAt } = data as { seq?: unknown; sentAt?: unknown };
  return typeof seq === 'number' && typeof sentAt === 'number' ? { seq, sentAtUs: sentAt } : undefined;
}

/** Values per receipt: sequence number (NaN for an event without a stamp), send time, receipt time (µs). */
export const receiptFields = 3;

/** The app's receipts since the last drain, in a growing flat array so that recording allocates nothing. */
export class ReceiptLog {
  private values = new Float64Array(receiptFields * 8192);
  private length = 0;

  add(seq: number, sentAtUs: number, receivedAtUs: number): void {
    if (this.length + receiptFields > this.values.length) {
      const grown = new Float64Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.length++] = seq;
    this.values[this.length++] = sentAtUs;
    this.values[this.length++] = receivedAtUs;
  }

  /** Every receipt since the last drain, as the bytes of a Float64Array; the log starts empty again. */
  drain(): Buffer {
    const drained = Buffer.from(this.values.buffer.slice(0, this.length * Float64Array.BYTES_PER_ELEMENT));
    this.length = 0;
    return drained;
  }
}

/** Receipts drained from the app (same machine, same byte order), receiptFields values each. */
export function decodeReceipts(bytes: Buffer): Float64Array {
  // A copy: the answer's bytes need not sit at an offset a Float64Array may start at.
  return new Float64Array(Uint8Array.from(bytes).buffer);
}
