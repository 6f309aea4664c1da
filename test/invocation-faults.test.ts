import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { startApp, type TestApp } from './support/apps.js';
import { closeHttpAgent, http, json } from './support/http.js';
import { startSidecar, tempDir, type SidecarProcess } from './support/sidecar.js';

function errorCodeOf(res: { body: Buffer }): string {
  return (JSON.parse(res.body.toString()) as { errorCode: string }).errorCode;
}

describe('invocation faults', () => {
  const cleanups: Array<() => Promise<unknown> | void> = [];
  after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
    closeHttpAgent();
  });

  async function sidecar(appId: string, registryDir: string, appPort?: number, args: string[] = []): Promise<SidecarProcess> {
    const process = await startSidecar({ appId, appPort, registryDir, args });
    cleanups.push(() => process.stop('SIGKILL'));
    return process;
  }

  async function app(handler?: Parameters<typeof startApp>[0]): Promise<TestApp> {
    const started = await startApp(handler);
    cleanups.push(() => started.close());
    return started;
  }

  it('answers 500 ERR_DIRECT_INVOKE when the app is down, locally and through a peer, and keeps serving', async () => {
    const registry = tempDir('appdown');
    cleanups.push(() => registry.remove());
    const gone = await app();
    const port = gone.port;
    await gone.close();
    const callee = await sidecar('lonely', registry.path, port);
    const caller = await sidecar('asker', registry.path);
    const local = await http(callee.url('/v1.0/invoke/lonely/method/x'));
    assert.equal(local.status, 500);
    assert.equal(errorCodeOf(local), 'ERR_DIRECT_INVOKE');
    const remote = await http(caller.url('/v1.0/invoke/lonely/method/x'));
    assert.equal(remote.status, 500);
    assert.equal(errorCodeOf(remote), 'ERR_DIRECT_INVOKE');
    assert.equal((await http(callee.url('/v1.0/healthz'))).status, 500, 'not ready while the app is away');
    assert.equal((await http(callee.url('/v1.0/healthz/outbound'))).status, 204);
  });

  it('survives a peer sidecar killed mid-run and finds its replacement', async () => {
    const registry = tempDir('peerkill');
    cleanups.push(() => registry.remove());
    const target = await app();
    const caller = await sidecar('front', registry.path);
    const first = await sidecar('back', registry.path, target.port);
    assert.equal((await http(caller.url('/v1.0/invoke/back/method/one'))).status, 200);
    await first.stop('SIGKILL');
    const whileDown = await http(caller.url('/v1.0/invoke/back/method/two'));
    assert.ok([404, 500].includes(whileDown.status), `got ${whileDown.status}`);
    assert.equal(errorCodeOf(whileDown), 'ERR_DIRECT_INVOKE');
    assert.equal((await http(caller.url('/v1.0/healthz'))).status, 204, 'the caller keeps serving');
    await sidecar('back', registry.path, target.port);
    const again = await http(caller.url('/v1.0/invoke/back/method/three'));
    assert.equal(again.status, 200);
  });

  it('frees a request whose client disconnects mid-way and keeps serving', async () => {
    const registry = tempDir('abort');
    cleanups.push(() => registry.remove());
    let release: (() => void) | null = null;
    const slow = await app((req, res) => {
      if (req.url === '/slow') {
        release = () => res.end('late');
        return;
      }
      res.end('fast');
    });
    const callee = await sidecar('slowpoke', registry.path, slow.port);
    const caller = await sidecar('impatient', registry.path);
    for (const sidecarUnderTest of [callee, caller]) {
      await new Promise<void>((resolve) => {
        const req = request(sidecarUnderTest.url('/v1.0/invoke/slowpoke/method/slow'), { method: 'POST' });
        req.on('error', () => resolve());
        req.write('partial');
        setTimeout(() => {
          req.destroy();
          resolve();
        }, 300);
      });
      const halfBody = await new Promise<void>((resolve) => {
        const req = request(sidecarUnderTest.url('/v1.0/invoke/slowpoke/method/x'), { method: 'POST', headers: { 'content-length': '100' } });
        req.on('error', () => resolve());
        req.write('only ten b');
        setTimeout(() => {
          req.destroy();
          resolve();
        }, 100);
      });
      void halfBody;
      const res = await http(sidecarUnderTest.url('/v1.0/invoke/slowpoke/method/fast'));
      assert.equal(res.status, 200);
      assert.equal(res.body.toString(), 'fast');
    }
    (release as (() => void) | null)?.();
  });

  it('times out a slow app as its resiliency policy says', async () => {
    const registry = tempDir('timeout');
    const resources = tempDir('timeout-res');
    cleanups.push(() => registry.remove(), () => resources.remove());
    writeFileSync(
      join(resources.path, 'resiliency.yaml'),
      `apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata:
  name: limits
spec:
  policies:
    timeouts:
      quick: 300ms
  targets:
    apps:
      sleepy:
        timeout: quick
`,
    );
    const sleepy = await app((req, res) => {
      if (req.url === '/hang') setTimeout(() => res.end('too late'), 3000).unref();
      else res.end('ok');
    });
    const callee = await sidecar('sleepy', registry.path, sleepy.port, ['--resources-path', resources.path]);
    const caller = await sidecar('waiter', registry.path, undefined, ['--resources-path', resources.path]);
    for (const s of [callee, caller]) {
      const started = Date.now();
      const res = await http(s.url('/v1.0/invoke/sleepy/method/hang'));
      assert.equal(res.status, 500);
      assert.equal(errorCodeOf(res), 'ERR_DIRECT_INVOKE');
      assert.match(String((json(res) as { message: string }).message), /timeout/);
      assert.ok(Date.now() - started < 2500);
      assert.equal((await http(s.url('/v1.0/invoke/sleepy/method/fine'))).status, 200);
    }
  });

  it('finds peers through a static name-resolution table', async () => {
    const registry = tempDir('static-a');
    const otherRegistry = tempDir('static-b');
    const config = tempDir('static-config');
    cleanups.push(() => registry.remove(), () => otherRegistry.remove(), () => config.remove());
    const target = await app();
    const callee = await sidecar('listed', registry.path, target.port);
    writeFileSync(
      join(config.path, 'config.yaml'),
      `apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata:
  name: fixed
spec:
  nameResolution:
    component: static
    configuration:
      apps:
        listed: "127.0.0.1:${callee.ports.internalGrpc}"
`,
    );
    // A different registry folder: only the static table can lead the caller to the callee.
    const caller = await sidecar('lookup', otherRegistry.path, undefined, ['--config', join(config.path, 'config.yaml')]);
    const res = await http(caller.url('/v1.0/invoke/listed/method/hello'), { method: 'POST', body: 'static' });
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), 'static');
    const unknown = await http(caller.url('/v1.0/invoke/unlisted/method/hello'));
    assert.equal(unknown.status, 404);
  });

  it('never sends the app more than --app-max-concurrency requests at once', async () => {
    const registry = tempDir('concurrency');
    cleanups.push(() => registry.remove());
    let active = 0;
    let peak = 0;
    const busy = await app((_req, res) => {
      active++;
      peak = Math.max(peak, active);
      setTimeout(() => {
        active--;
        res.end('done');
      }, 50);
    });
    const callee = await sidecar('busy', registry.path, busy.port, ['--app-max-concurrency', '2']);
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => http(callee.url(`/v1.0/invoke/busy/method/${i}`))));
    assert.ok(results.every((r) => r.status === 200));
    assert.equal(peak, 2);
  });

  it('lets in-flight requests finish on SIGTERM within the grace period', async () => {
    const registry = tempDir('graceful');
    cleanups.push(() => registry.remove());
    const slow = await app((_req, res) => {
      setTimeout(() => res.end('finished'), 500);
    });
    const callee = await sidecar('draining', registry.path, slow.port, ['--dapr-graceful-shutdown-seconds', '5']);
    const inFlight = http(callee.url('/v1.0/invoke/draining/method/work'));
    await new Promise((resolve) => setTimeout(resolve, 100));
    const exited = callee.stop('SIGTERM');
    const res = await inFlight;
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), 'finished');
    assert.equal(await exited, 0);
  });
});
