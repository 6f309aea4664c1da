import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  CloudEventError,
  newCloudEvent,
  publishedCloudEvent,
  RawJson,
  rawPayloadEvent,
  serializeCloudEvent,
  type PublishedEventInit,
} from '../proxy/pubsub/cloudevents.js';

const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
const NOW = Date.UTC(2024, 4, 1, 12, 0, 0, 789);

function init(body: string | Uint8Array, contentType: string, extra: Partial<PublishedEventInit> = {}): PublishedEventInit {
  return {
    body: typeof body === 'string' ? Buffer.from(body) : body,
    contentType,
    topic: 'orders/new',
    pubsubName: 'pubsub',
    source: 'checkout',
    traceparent: TRACEPARENT,
    tracestate: 'vendor=1',
    metadata: {},
    brokerHandlesTtl: false,
    nowMs: NOW,
    ...extra,
  };
}

/** The published bytes, as text. */
function published(body: string | Uint8Array, contentType: string, extra: Partial<PublishedEventInit> = {}): string {
  return serializeCloudEvent(publishedCloudEvent(init(body, contentType, extra))).toString('utf8');
}

function idOf(text: string): string {
  return (JSON.parse(text) as { id: string }).id;
}

/** Dapr's attributes after `data`/`data_base64`/`datacontenttype`, in daprd's key order. */
function tail(id: string, source = 'checkout'): string {
  return (
    `"id":"${id}","pubsubname":"pubsub","source":"${source}","specversion":"1.0","topic":"orders/new",` +
    `"traceid":"${TRACEPARENT}","traceparent":"${TRACEPARENT}","tracestate":"vendor=1","type":"com.dapr.event.sent"}`
  );
}

describe('CloudEvent envelope for a published body', () => {
  it('embeds a JSON body as JSON, byte for byte, with the attributes in daprd order', () => {
    const text = published('{"b":1,"a":[true,null,{"x":"y"}]}', 'application/json');
    const id = idOf(text);
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(text, `{"data":{"b":1,"a":[true,null,{"x":"y"}]},"datacontenttype":"application/json",${tail(id)}`);
  });

  it('treats JSON content types with parameters or other case as JSON, and keeps big numbers exact', () => {
    const text = published('{"n":123456789012345678901234567890,"f":1.50e+3}', 'Application/JSON; charset=utf-8');
    assert.equal(text, `{"data":{"n":123456789012345678901234567890,"f":1.50e+3},"datacontenttype":"Application/JSON; charset=utf-8",${tail(idOf(text))}`);
  });

  it('takes the first JSON value after whitespace and ignores what follows, as Go\'s decoder does', () => {
    const text = published(' \n\t[1, 2 ,3] {"more":true}', 'application/json');
    assert.equal(text, `{"data":[1, 2 ,3],"datacontenttype":"application/json",${tail(idOf(text))}`);
    assert.equal(JSON.parse(published('42abc', 'application/json')).data, 42);
    assert.equal(JSON.parse(published('01', 'application/json')).data, 0);
  });

  it('sends a JSON-typed body that is not JSON as a string', () => {
    for (const body of ['{bad', '', '   ', '{"a":1', '[1,]', '{"a" 1}', '"unterminated', '-', '1.', '1e', 'nul', '\ufeff{}']) {
      const text = published(body, 'application/json');
      assert.equal(text, `{"data":${JSON.stringify(body)},"datacontenttype":"application/json",${tail(idOf(text))}`, body);
    }
  });

  it('agrees with JSON.parse on which bodies are JSON', () => {
    const corpus = [
      '0', '-0', '-0.5e-7', '1E+2', '1.e5', '.5', '+1', 'true', 'false', 'null', 'True', '""', '"\\u00e9\\n\\/"',
      '"\\x"', '"\\u12g4"', '"tab\there"', '[]', '{}', '[[[]]]', '{"a":{"b":{"c":[1,{"d":null}]}}}', '{"a":1,}', '{,}',
      '[1 2]', '{"a":1 "b":2}', '{1:2}', '["a",]', '{"a"}', '{"a":}', '[', ' { "sp" : [ 1 , 2 ] } ',
      '"\u00e9\u4e2d\u{1F600}"', '{"__proto__":{"polluted":true}}',
    ];
    for (const body of corpus) {
      let expected: unknown;
      try {
        expected = JSON.parse(body);
      } catch {
        expected = body;
      }
      assert.deepEqual(JSON.parse(published(body, 'application/json')).data, expected, body);
    }
  });

  it('accepts nesting up to Go\'s limit of 10000 and sends deeper JSON as a string', () => {
    const deep = (n: number): string => '['.repeat(n) + ']'.repeat(n);
    assert.equal(typeof JSON.parse(published(deep(10_000), 'application/json')).data, 'object');
    assert.equal(JSON.parse(published(deep(10_001), 'application/json')).data, deep(10_001));
  });

  it('decodes JSON with invalid UTF-8 the way Go does: replaced, then encoded again', () => {
    const body = Buffer.concat([Buffer.from('{"s":"a'), Buffer.from([0xff]), Buffer.from('b","z":1}')]);
    const text = published(body, 'application/json');
    assert.equal(text, `{"data":{"s":"a\ufffdb","z":1},"datacontenttype":"application/json",${tail(idOf(text))}`);
  });

  it('puts application/octet-stream bodies in data_base64', () => {
    const bytes = Buffer.from([0, 1, 2, 250, 251, 252, 253, 254, 255]);
    for (const contentType of ['application/octet-stream', 'Application/Octet-Stream; x=y']) {
      const text = published(bytes, contentType);
      assert.equal(text, `{"data_base64":"${bytes.toString('base64')}","datacontenttype":"${contentType}",${tail(idOf(text))}`);
    }
  });

  it('sends other bodies as a string, text/plain by default, escaped as Go escapes it', () => {
    const none = published('a <b> & "c"\u2028', '');
    assert.equal(none, `{"data":"a \\u003cb\\u003e \\u0026 \\"c\\"\\u2028","datacontenttype":"text/plain",${tail(idOf(none))}`);
    const xml = published('<order id="1"/>', 'application/xml');
    assert.equal(JSON.parse(xml).data, '<order id="1"/>');
    assert.equal(JSON.parse(xml).datacontenttype, 'application/xml');
    const image = published(Buffer.from('not really a png'), 'image/png');
    assert.equal(JSON.parse(image).data, 'not really a png');
    const json = published('{"a":1}', 'application/vnd.api+json');
    assert.equal(JSON.parse(json).data, '{"a":1}', 'only application/json counts as JSON');
  });

  it('applies cloudevent.* overrides, matched ignoring case', () => {
    const text = published('x', 'text/plain', {
      metadata: {
        'cloudevent.id': 'my-id',
        'CloudEvent.Source': 'billing',
        'cloudevent.type': 'order.created',
        'cloudevent.tracestate': 'other=2',
        'cloudevent.subject': 'not overridable',
        'cloudevent.topic': 'not overridable',
      },
    });
    assert.equal(
      text,
      '{"data":"x","datacontenttype":"text/plain","id":"my-id","pubsubname":"pubsub","source":"billing","specversion":"1.0",' +
        `"topic":"orders/new","traceid":"${TRACEPARENT}","traceparent":"${TRACEPARENT}","tracestate":"other=2","type":"order.created"}`,
    );
  });

  it('takes an overriding traceparent over an overriding traceid, and either over the span', () => {
    const traceid = JSON.parse(published('x', '', { metadata: { 'cloudevent.traceid': 'tid' } }));
    assert.equal(traceid.traceid, 'tid');
    assert.equal(traceid.traceparent, 'tid');
    const both = JSON.parse(published('x', '', { metadata: { 'cloudevent.traceid': 'tid', 'cloudevent.traceparent': 'tp' } }));
    assert.equal(both.traceid, 'tp');
    assert.equal(both.traceparent, 'tp');
  });

  it('falls back to the defaults when an override is empty', () => {
    const event = JSON.parse(published('x', '', { metadata: { 'cloudevent.id': '', 'cloudevent.source': '', 'cloudevent.type': '' } }));
    assert.notEqual(event.id, '');
    assert.equal(event.source, 'Dapr');
    assert.equal(event.type, 'com.dapr.event.sent');
  });

  it('stamps an RFC 3339 expiration for ttlInSeconds unless the broker handles TTL', () => {
    const text = published('x', '', { metadata: { ttlInSeconds: '90' } });
    assert.equal(text, `{"data":"x","datacontenttype":"text/plain","expiration":"2024-05-01T12:01:30Z",${tail(idOf(text))}`);
    assert.equal(JSON.parse(published('x', '', { metadata: { ttlInSeconds: '90' }, brokerHandlesTtl: true })).expiration, undefined);
    for (const ignored of ['', '0', '-5', '1.5', 'abc', '10s', '9223372036854775808']) {
      assert.equal(JSON.parse(published('x', '', { metadata: { ttlInSeconds: ignored } })).expiration, undefined, ignored);
    }
    assert.equal(JSON.parse(published('x', '', { metadata: { ttlInSeconds: '+60' } })).expiration, '2024-05-01T12:01:00Z');
    const farthest = JSON.parse(published('x', '', { metadata: { ttlInSeconds: '9223372036854775807' } })).expiration as string;
    assert.match(farthest, /^2316-/, 'capped where a Go duration ends (about 292 years)');
  });
});

describe('CloudEvent bodies published as they are', () => {
  const event = {
    specversion: '1.0',
    id: 'evt-1',
    source: 'legacy',
    type: 'order.v2',
    time: '2024-01-01T00:00:00Z',
    subject: 'order 7',
    datacontenttype: 'application/json',
    data: { big: 0, list: [1, 2] },
    traceid: 'old',
    topic: 'elsewhere',
    custom: { nested: true },
  };

  it('keeps the event\'s attributes, overwriting trace, topic and pub/sub, and ignores cloudevent.* overrides', () => {
    const body = JSON.stringify(event).replace('"big":0', '"big":98765432109876543210123');
    const text = published(body, 'application/cloudevents+json', { metadata: { 'cloudevent.id': 'ignored', 'cloudevent.source': 'ignored' } });
    assert.equal(
      text,
      '{"custom":{"nested":true},"data":{"big":98765432109876543210123,"list":[1,2]},"datacontenttype":"application/json",' +
        '"id":"evt-1","pubsubname":"pubsub","source":"legacy","specversion":"1.0","subject":"order 7","time":"2024-01-01T00:00:00Z",' +
        `"topic":"orders/new","traceid":"${TRACEPARENT}","traceparent":"${TRACEPARENT}","tracestate":"vendor=1","type":"order.v2"}`,
    );
  });

  it('defaults source, type and specversion when they are missing or null, and adds nothing else', () => {
    const text = published('{"id":"e","source":null,"data":"d"}', 'application/cloudevents+json; charset=utf-8');
    assert.deepEqual(JSON.parse(text), {
      id: 'e',
      source: 'Dapr',
      type: 'com.dapr.event.sent',
      specversion: '1.0',
      data: 'd',
      topic: 'orders/new',
      pubsubname: 'pubsub',
      traceid: TRACEPARENT,
      traceparent: TRACEPARENT,
      tracestate: 'vendor=1',
    });
  });

  it('stamps an expiration on a CloudEvent body too', () => {
    assert.equal(JSON.parse(published('{"id":"e"}', 'application/cloudevents+json', { metadata: { ttlInSeconds: '1' } })).expiration, '2024-05-01T12:00:01Z');
  });

  it('keeps an attribute named __proto__ as an attribute', () => {
    const text = published('{"__proto__":{"x":1},"id":"e"}', 'application/cloudevents+json');
    assert.match(text, /^\{"__proto__":\{"x":1\},"id":"e",/);
  });

  it('re-encodes a CloudEvent with invalid UTF-8 with replacement characters', () => {
    const body = Buffer.concat([Buffer.from('{"id":"e","data":"'), Buffer.from([0xc3]), Buffer.from('"}')]);
    assert.equal(JSON.parse(published(body, 'application/cloudevents+json')).data, '\ufffd');
  });

  it('refuses a CloudEvent body that is not a JSON object', () => {
    for (const body of ['', 'not json', '[1,2]', 'null', '"text"', '{"id":']) {
      assert.throws(() => publishedCloudEvent(init(body, 'application/cloudevents+json')), CloudEventError, body);
    }
  });

  it('wraps an application/json body even when it looks like a CloudEvent, as daprd does', () => {
    const text = published(JSON.stringify(event), 'application/json');
    assert.deepEqual(JSON.parse(text).data.id, 'evt-1');
    assert.equal(JSON.parse(text).type, 'com.dapr.event.sent');
  });
});

describe('CloudEvent helpers for the delivery side', () => {
  it('builds the raw-payload envelope: bytes in data_base64, no trace attributes', () => {
    const bytes = Buffer.from([0xde, 0xad, 0xbe, 0xef]);
    const text = serializeCloudEvent(rawPayloadEvent(bytes, 'raw/topic', 'pubsub')).toString();
    const id = idOf(text);
    assert.equal(
      text,
      `{"data_base64":"3q2+7w==","datacontenttype":"application/octet-stream","id":"${id}","pubsubname":"pubsub","source":"Dapr",` +
        '"specversion":"1.0","topic":"raw/topic","type":"com.dapr.event.sent"}',
    );
  });

  it('builds an envelope from raw bytes and a content type', () => {
    const event = newCloudEvent({ topic: 't', pubsubName: 'p', dataContentType: 'application/octet-stream', data: new Uint8Array([1, 2, 3]) });
    assert.equal(event['data_base64'], 'AQID');
    assert.equal(event['source'], 'Dapr');
    assert.equal(event['traceid'], '');
  });

  it('serialises in code point order, splicing RawJson and leaving out undefined values', () => {
    const bytes = serializeCloudEvent({
      z: 1,
      '\u{1F600}': 'astral',
      '\uffff': 'bmp',
      a: new RawJson(Buffer.from('{"kept" : "as is"}')),
      skipped: undefined,
      nested: { b: '<', a: [1] },
    });
    assert.equal(bytes.toString(), '{"a":{"kept" : "as is"},"nested":{"a":[1],"b":"\\u003c"},"z":1,"\uffff":"bmp","\u{1F600}":"astral"}');
  });
});
