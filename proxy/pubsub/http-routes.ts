import type { ApiRequest } from '../http/request.js';
import { answer } from '../http/reply.js';
import type { Router } from '../http/router.js';
import { fieldsOf, goJson, optionalString, parseBody, stringMap } from '../http/json-body.js';
import { isBinaryContentType, isCloudEventContentType, isJsonContentType, isStringContentType } from './cloudevents.js';
import { PUBLISH_MESSAGE_ERROR_CODE, pubsubErrors } from './errors.js';
import type { BulkEntry, PubSubPublisher } from './publisher.js';

const JSON_TYPE = ['content-type', 'application/json'];

/** `/v1.0/publish/{pubsub}/{topic}` and the alpha bulk route; the topic is the rest of the path, '/' included. */
export function registerPubSubRoutes(router: Router, publisher: PubSubPublisher): void {
  router.add(['POST', 'PUT'], '/v1.0/publish/:pubsub/*topic', (req, reply) =>
    answer(reply, async () => {
      await publisher.publish({
        pubsubName: req.params[0]!,
        topic: topicOf(req),
        body: req.body,
        contentType: req.header('content-type') ?? '',
        metadata: req.queryMetadata(),
        traceparent: req.header('traceparent'),
        tracestate: req.header('tracestate'),
      });
      reply.noContent();
    }),
  );
  router.add(['POST', 'PUT'], '/v1.0-alpha1/publish/bulk/:pubsub/*topic', (req, reply) =>
    answer(reply, async () => {
      const pubsubName = req.params[0]!;
      const topic = topicOf(req);
      const metadata = req.queryMetadata();
      // daprd reports an unknown pub/sub or a bad rawPayload before looking at the body.
      publisher.checkTarget(pubsubName, topic, metadata);
      const entries = bulkEntriesOf(req.body, topic, pubsubName);
      const failedEntries = await publisher.bulkPublish({
        pubsubName,
        topic,
        entries,
        metadata,
        traceparent: req.header('traceparent'),
        tracestate: req.header('tracestate'),
      });
      if (failedEntries.length === 0) reply.noContent();
      else reply.send(500, JSON_TYPE, JSON.stringify({ failedEntries, errorCode: PUBLISH_MESSAGE_ERROR_CODE }));
    }),
  );
}

function topicOf(req: ApiRequest): string {
  const raw = req.params[1]!;
  if (!raw.includes('%')) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

/** `[{entryId, event, contentType, metadata}]`, field names matched ignoring case (the JS SDK sends `entryID`). */
function bulkEntriesOf(body: Buffer, topic: string, pubsubName: string): BulkEntry[] {
  // Every entry is decoded before any event is converted, so a malformed body is reported as such first.
  let entries: Array<Omit<BulkEntry, 'event'> & { event: unknown }>;
  try {
    const parsed = parseBody(body);
    if (parsed !== null && !Array.isArray(parsed)) throw new Error('the body must be a JSON array of entries');
    entries = (parsed ?? []).map((item: unknown, i: number) => {
      const fields = fieldsOf(item, `entries[${i}]`);
      return {
        entryId: optionalString(fields.entryid, `entries[${i}].entryId`) ?? '',
        event: fields.event,
        contentType: optionalString(fields.contenttype, `entries[${i}].contentType`) ?? '',
        metadata: stringMap(fields.metadata, `entries[${i}].metadata`),
      };
    });
  } catch (err) {
    throw pubsubErrors.unmarshalEvents(topic, pubsubName, (err as Error).message);
  }
  return entries.map((entry) => {
    try {
      return { ...entry, event: eventBytes(entry.event, entry.contentType) };
    } catch (err) {
      throw pubsubErrors.marshalEnvelope(topic, pubsubName, (err as Error).message);
    }
  });
}

const MISMATCH = 'error: mismatch between contentType and event';
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * An entry's event as bytes, as daprd converts it: base64 text for `application/octet-stream`, text for `text/*`
 * and `application/xml`, any JSON value (encoded as Go encodes it) for JSON and CloudEvents; nothing else fits.
 */
function eventBytes(event: unknown, contentType: string): Buffer {
  if (isBinaryContentType(contentType)) {
    if (typeof event !== 'string') throw new Error(MISMATCH);
    // Go's base64 decoder skips line breaks and is strict about everything else.
    const text = event.replace(/[\r\n]/g, '');
    if (!BASE64.test(text)) throw new Error('error: unable to decode base64 application/octet-stream data: illegal base64 data');
    return Buffer.from(text, 'base64');
  }
  if (isStringContentType(contentType)) {
    if (typeof event !== 'string') throw new Error(MISMATCH);
    return Buffer.from(event);
  }
  if (isJsonContentType(contentType) || isCloudEventContentType(contentType)) return Buffer.from(goJson(event ?? null));
  throw new Error(MISMATCH);
}
