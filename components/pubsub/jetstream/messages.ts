// Pub/sub messages as NATS messages: the payload travels untouched, the content type in a header.

import { headers, type MsgHdrs } from '@nats-io/transport-node';
import type { JsMsg } from '@nats-io/jetstream';
import type { Message } from '../pubsub.js';

const CONTENT_TYPE = 'Content-Type';

/** The headers a published message carries; undefined when it needs none. */
export function headersFor(contentType: string | undefined): MsgHdrs | undefined {
  if (contentType === undefined || contentType === '') return undefined;
  const carried = headers();
  carried.set(CONTENT_TYPE, contentType);
  return carried;
}

/** A received message for the handler: its headers, except the content type, become its metadata. */
export function messageOf(topic: string, msg: JsMsg): Message {
  const metadata: Record<string, string> = {};
  let contentType: string | undefined;
  const received = msg.headers;
  if (received !== undefined) {
    for (const key of received.keys()) {
      if (key.toLowerCase() === CONTENT_TYPE.toLowerCase()) contentType = received.get(key);
      else metadata[key] = received.get(key);
    }
  }
  return { topic, data: msg.data, metadata, ...(contentType === undefined ? {} : { contentType }) };
}
