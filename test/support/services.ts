import { connect } from 'node:net';
import type { TestContext } from 'node:test';

/**
 * Whether a backing server (Redis, PostgreSQL, ...) answers on its port. Its tests run against the real server;
 * when it is unreachable they fail under CI=true, and elsewhere skip with a loud message.
 */
export async function serviceAvailable(t: TestContext, name: string, port: number, host = '127.0.0.1'): Promise<boolean> {
  const reachable = await new Promise<boolean>((resolve) => {
    const socket = connect({ host, port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(2000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
  if (reachable) return true;
  const message = `${name} is not reachable on ${host}:${port}`;
  if (process.env.CI === 'true') throw new Error(`${message}; CI requires it (start it with .ci/ensure-services)`);
  process.stderr.write(`\n!!! SKIPPING ${name} tests: ${message} !!!\n\n`);
  t.skip(`SKIPPED: ${message}`);
  return false;
}
