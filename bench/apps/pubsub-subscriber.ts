/**
 * The subscriber app of the pub/sub benchmark: subscribes programmatically (GET /dapr/subscribe) to one topic,
 * records the receipt time of every event posted to /receive and answers it with an empty 200 (SUCCESS), and
 * hands its receipts to the harness on GET /receipts. Runs as its own process, pinned with the sidecars, so its
 * CPU is never mixed with theirs or the publisher's.
 *
 * Usage: node pubsub-subscriber.js <port> <pubsub> <topic>
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { machineClockMicros } from '../lib/machine-clock.js';
import { ReceiptLog, readStamp } from './pubsub-messages.js';

const [portText, pubsubname, topic] = process.argv.slice(2);
const port = Number.parseInt(portText ?? '', 10);
if (!Number.isInteger(port) || port <= 0 || port > 65535 || pubsubname === undefined || topic === undefined) {
  process.stderr.write('usage: pubsub-subscriber <port> <pubsub> <topic>\n');
  process.exit(2);
}

const subscriptions = Buffer.from(JSON.stringify([{ pubsubname, topic, route: '/receive' }]));
const receipts = new ReceiptLog();

function receive(req: IncomingMessage, res: ServerResponse): void {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const receivedAtUs = machineClockMicros();
    const stamp = readStamp(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
    // An event without a stamp is still acknowledged: the harness counts it, redelivery would only repeat it.
    receipts.add(stamp?.seq ?? Number.NaN, stamp?.sentAtUs ?? Number.NaN, receivedAtUs);
    res.writeHead(200, { 'content-length': 0 });
    res.end();
  });
}

function answer(res: ServerResponse, status: number, contentType: string, body: Buffer): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': body.length });
  res.end(body);
}

const server = createServer((req, res) => {
  if (req.method === 'POST' && req.url === '/receive') return receive(req, res);
  req.resume();
  if (req.method !== 'GET') return answer(res, 405, 'text/plain', Buffer.alloc(0));
  switch (req.url) {
    case '/dapr/subscribe':
      return answer(res, 200, 'application/json', subscriptions);
    case '/receipts':
      return answer(res, 200, 'application/octet-stream', receipts.drain());
    case '/healthz':
      return answer(res, 200, 'text/plain', Buffer.alloc(0));
    default:
      return answer(res, 404, 'text/plain', Buffer.alloc(0));
  }
});
// The sidecar's pooled connections stay open across the idle gaps between measurements.
server.keepAliveTimeout = 120_000;
server.listen(port, '127.0.0.1');
