import { setTimeout as sleep } from 'node:timers/promises';

const RETRY_INTERVAL_MS = 50;

/** Retries `attempt` until it stops throwing; after `limitMs` fails with its last error. */
export async function eventually<T>(limitMs: number, attempt: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    try {
      return await attempt();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(RETRY_INTERVAL_MS);
    }
  }
}
