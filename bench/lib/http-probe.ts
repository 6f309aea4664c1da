import { request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

export interface ProbeResponse {
  readonly status: number;
  readonly body: Buffer;
}

export interface ProbeRequest {
  readonly method?: string;
  readonly body?: Buffer;
  readonly headers?: Record<string, string>;
  readonly timeoutMs?: number;
}

/** One HTTP exchange on a fresh connection. */
export function probe(url: string, init: ProbeRequest = {}): Promise<ProbeResponse> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { ...init.headers };
    if (init.body !== undefined) headers['content-length'] = init.body.length;
    const req = request(url, { method: init.method ?? 'GET', headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.setTimeout(init.timeoutMs ?? 2000, () => req.destroy(new Error(`no answer from ${url}`)));
    req.on('error', reject);
    req.end(init.body);
  });
}

/**
 * Repeats a probe until accept() approves the answer or the deadline passes;
 * the error then names the last answer or failure seen. An abort signal stops
 * the retries early (when whoever should answer is known to be gone).
 */
export async function probeUntil(
  url: string,
  init: ProbeRequest,
  accept: (response: ProbeResponse) => boolean,
  deadlineMs: number,
  signal?: AbortSignal,
): Promise<ProbeResponse> {
  const giveUpAt = Date.now() + deadlineMs;
  let last = 'nothing';
  for (;;) {
    signal?.throwIfAborted();
    try {
      const response = await probe(url, { ...init, timeoutMs: 1000 });
      if (accept(response)) return response;
      last = `HTTP ${response.status} ${response.body.toString('utf8', 0, 200)}`;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    if (Date.now() >= giveUpAt) {
      throw new Error(`${init.method ?? 'GET'} ${url} not ready after ${deadlineMs} ms (last: ${last})`);
    }
    await sleep(50, undefined, { signal });
  }
}
