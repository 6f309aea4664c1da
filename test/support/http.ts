import { Agent, request, type IncomingHttpHeaders } from 'node:http';

export interface HttpResult {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

const agent = new Agent({ keepAlive: true, maxSockets: 64 });

/** One HTTP exchange with a buffered answer; `json()` decodes the body of the result. */
export function http(
  url: string,
  init: { method?: string; headers?: Record<string, string | string[]>; body?: string | Buffer } = {},
): Promise<HttpResult> {
  // node:http sends DELETE/GET/OPTIONS bodies without any framing unless the length is given.
  const headers = init.body === undefined ? init.headers : { 'content-length': String(Buffer.byteLength(init.body)), ...init.headers };
  return new Promise((resolve, reject) => {
    const req = request(url, { method: init.method ?? 'GET', headers, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

export function json(result: HttpResult): unknown {
  return JSON.parse(result.body.toString('utf8'));
}

/** A GET answered as its status and decoded JSON body (undefined when empty), for one-line assertions. */
export async function getStatusAndJson(url: string): Promise<{ status: number; body: unknown }> {
  const res = await http(url);
  return { status: res.status, body: res.body.length === 0 ? undefined : json(res) };
}

export function closeHttpAgent(): void {
  agent.destroy();
}
