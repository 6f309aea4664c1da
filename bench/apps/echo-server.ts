/**
 * The benchmark's target app: answers every POST with the request body,
 * GET /healthz with an empty 200, and anything else with 404 (which is also
 * what a sidecar's start-up probes such as /dapr/subscribe take as "none").
 * Runs as its own process so its CPU is never mixed with a sidecar's or the
 * load generator's.
 *
 * Usage: node echo-server.js <port>
 */
import { createServer } from 'node:http';

const port = Number.parseInt(process.argv[2] ?? '', 10);
if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  process.stderr.write('usage: echo-server <port>\n');
  process.exit(2);
}

const server = createServer((req, res) => {
  if (req.method !== 'POST') {
    res.writeHead(req.url === '/healthz' ? 200 : 404, { 'content-length': 0 });
    res.end();
    req.resume();
    return;
  }
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    res.writeHead(200, {
      'content-type': req.headers['content-type'] ?? 'application/octet-stream',
      'content-length': body.length,
    });
    res.end(body);
  });
});
// Phases of a run are separated by idle gaps; a pooled upstream connection
// must not be closed under a proxy that is about to reuse it.
server.keepAliveTimeout = 120_000;
server.listen(port, '127.0.0.1');
