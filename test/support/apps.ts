import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  rawHeaders: string[];
  body: Buffer;
}

export interface TestApp {
  port: number;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

export type AppHandler = (req: RecordedRequest, res: ServerResponse) => void;

/**
 * An app on node:http that records what it received and answers with `handler`; the default echoes the request
 * back as JSON metadata in headers and the body unchanged.
 */
export async function startApp(handler: AppHandler = echo, port = 0): Promise<TestApp> {
  const requests: RecordedRequest[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const recorded = { method: req.method!, url: req.url!, headers: req.headers, rawHeaders: req.rawHeaders, body: Buffer.concat(chunks) };
      requests.push(recorded);
      handler(recorded, res);
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function echo(req: RecordedRequest, res: ServerResponse): void {
  res.setHeader('x-echo-method', req.method);
  res.setHeader('x-echo-url', req.url);
  const contentType = req.headers['content-type'];
  if (contentType !== undefined) res.setHeader('content-type', contentType);
  res.writeHead(200);
  res.end(req.method === 'HEAD' ? undefined : req.body);
}
