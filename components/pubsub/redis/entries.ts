// How a message is laid out in a stream entry, as daprd lays it out so both can share a stream: field `data` holds
// the payload bytes and `metadata` the publish metadata as a JSON object. Pillion adds `contentType`, which daprd
// ignores. Replies are read as raw bytes (the payload is binary) and checked for shape.

import type { Logger } from '../../../proxy/runtime/logger.js';
import type { Message, PubSubMetadata, PublishRequest } from '../pubsub.js';

export type CommandArg = string | number | Buffer;

export interface StreamEntry {
  id: string;
  /** Undefined when the entry was deleted (trimmed) while still pending: only its id is left to acknowledge. */
  message: Message | undefined;
}

export interface ClaimedEntries {
  /** Where the next XAUTOCLAIM call continues; `0-0` once the whole pending list was scanned. */
  cursor: string;
  entries: StreamEntry[];
}

export const SCAN_COMPLETE = '0-0';

const DATA = 'data';
const CONTENT_TYPE = 'contentType';
const METADATA = 'metadata';

function asBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/** The field/value arguments of XADD for one message. */
export function pushEntryFields(args: CommandArg[], req: PublishRequest): void {
  args.push(DATA, asBuffer(req.data));
  if (req.contentType !== undefined && req.contentType !== '') args.push(CONTENT_TYPE, req.contentType);
  if (Object.keys(req.metadata).length > 0) args.push(METADATA, JSON.stringify(req.metadata));
}

class UnexpectedReply extends Error {
  constructor(command: string, what: string) {
    super(`unexpected ${command} reply: ${what}`);
  }
}

function array(value: unknown, command: string, what: string): unknown[] {
  if (!Array.isArray(value)) throw new UnexpectedReply(command, `${what} is not an array`);
  return value;
}

function bytes(value: unknown, command: string, what: string): Buffer {
  if (!Buffer.isBuffer(value)) throw new UnexpectedReply(command, `${what} is not a bulk string`);
  return value;
}

function decodeMetadata(raw: Buffer, id: string, logger: Logger): PubSubMetadata {
  try {
    const parsed: unknown = JSON.parse(raw.toString('utf8'));
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) && Object.values(parsed).every((v) => typeof v === 'string')) {
      return parsed as PubSubMetadata;
    }
  } catch {
    // Reported below, as for a value of the wrong shape.
  }
  logger.warn(`stream entry ${id}: field "metadata" is not a JSON object of strings; delivering the message without it`);
  return {};
}

function decodeEntry(topic: string, value: unknown, command: string, logger: Logger): StreamEntry {
  const [rawId, rawFields] = array(value, command, 'an entry');
  const id = bytes(rawId, command, 'an entry id').toString('latin1');
  if (rawFields === null) return { id, message: undefined };
  const fields = array(rawFields, command, `the fields of entry ${id}`);
  let data: Buffer | undefined;
  let contentType: string | undefined;
  let metadata: PubSubMetadata = {};
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const name = bytes(fields[i], command, 'a field name').toString('utf8');
    const field = bytes(fields[i + 1], command, `field "${name}"`);
    if (name === DATA) data = field;
    else if (name === CONTENT_TYPE) contentType = field.toString('utf8');
    else if (name === METADATA) metadata = decodeMetadata(field, id, logger);
  }
  // daprd delivers an entry without `data` as an empty payload; so does Pillion.
  const message: Message = { topic, data: data ?? Buffer.alloc(0), metadata };
  if (contentType !== undefined) message.contentType = contentType;
  return { id, message };
}

/** The entries of an XREADGROUP reply over one stream; none when the read timed out. */
export function decodeReadReply(topic: string, reply: unknown, logger: Logger): StreamEntry[] {
  if (reply === null) return [];
  const streams = array(reply, 'XREADGROUP', 'the reply');
  if (streams.length === 0) return [];
  const [, entries] = array(streams[0], 'XREADGROUP', 'a stream');
  return array(entries, 'XREADGROUP', 'the entries').map((entry) => decodeEntry(topic, entry, 'XREADGROUP', logger));
}

/**
 * An XAUTOCLAIM reply. Redis 7 drops deleted entries from the pending list itself and lists their ids third;
 * Redis 6.2 returns them as entries without fields, which the caller acknowledges to drop them.
 */
export function decodeAutoClaimReply(topic: string, reply: unknown, logger: Logger): ClaimedEntries {
  const [cursor, entries] = array(reply, 'XAUTOCLAIM', 'the reply');
  return {
    cursor: bytes(cursor, 'XAUTOCLAIM', 'the cursor').toString('latin1'),
    entries: array(entries, 'XAUTOCLAIM', 'the entries').map((entry) => decodeEntry(topic, entry, 'XAUTOCLAIM', logger)),
  };
}
