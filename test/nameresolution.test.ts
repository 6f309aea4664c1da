import { before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import multicastDns from 'multicast-dns';
import {
  CachedResolver,
  createNameResolver,
  LocalResolver,
  mdnsServiceName,
  parseHostPort,
  REGISTRY_DIR_ENV,
  StaticResolver,
  type AppAddress,
  type LocalRegistryEntry,
  type NameResolver,
  type SelfRegistration,
} from '../proxy/nameresolution/index.js';

// Tests pass their own registry directory; an inherited override would send them to a shared one.
delete process.env[REGISTRY_DIR_ENV];

async function tempRegistry(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pillion-nr-test-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

function localResolver(t: TestContext, registryDir: string, extra: Record<string, unknown> = {}): NameResolver {
  const resolver = createNameResolver({ component: 'local', configuration: { registryDir, ...extra } });
  t.after(() => resolver.close());
  return resolver;
}

function self(appId: string, port: number, namespace = ''): SelfRegistration {
  return { appId, namespace, host: '127.0.0.1', port };
}

async function entryFiles(registryDir: string, namespace = 'default'): Promise<string[]> {
  try {
    return (await readdir(join(registryDir, namespace))).filter((name) => name.endsWith('.json'));
  } catch {
    return [];
  }
}

async function writeEntry(registryDir: string, fileName: string, entry: LocalRegistryEntry): Promise<string> {
  await mkdir(join(registryDir, entry.namespace), { recursive: true });
  const file = join(registryDir, entry.namespace, fileName);
  await writeFile(file, JSON.stringify(entry));
  return file;
}

function entry(pid: number, port: number): LocalRegistryEntry {
  const startedAt = Date.now();
  return { appId: 'appB', namespace: 'default', host: '127.0.0.1', port, pid, hostname: hostname(), startedAt };
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}

function ports(addresses: readonly AppAddress[]): number[] {
  return addresses.map((a) => a.port).sort((a, b) => a - b);
}

async function waitForLine(child: ChildProcess, line: string, timeoutMs: number): Promise<void> {
  let seen = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`child did not print ${line} within ${timeoutMs} ms`)), timeoutMs);
    child.stdout!.on('data', (chunk: Buffer) => {
      seen += chunk.toString();
      if (seen.includes(`${line}\n`)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`child exited with ${code} before printing ${line}`));
    });
  });
}

describe('local resolver', () => {
  test('a registration is found by another resolver sharing the directory', async (t) => {
    const dir = await tempRegistry(t);
    const b = localResolver(t, dir);
    const a = localResolver(t, dir);
    await b.register(self('appB', 50002));

    assert.deepEqual(await a.resolve('appB', ''), { host: '127.0.0.1', port: 50002 });
    assert.deepEqual(await a.resolve('appB', 'default'), { host: '127.0.0.1', port: 50002 });
    const [file] = await entryFiles(dir);
    const written = JSON.parse(await readFile(join(dir, 'default', file), 'utf8')) as LocalRegistryEntry;
    assert.equal(written.appId, 'appB');
    assert.equal(written.namespace, 'default');
    assert.equal(written.pid, process.pid);
    assert.equal(written.hostname, hostname());
    assert.ok(Math.abs(written.startedAt - Date.now()) < 60_000);
    assert.deepEqual(
      (await readdir(join(dir, 'default'))).filter((name) => name.endsWith('.tmp')),
      [],
      'no temporary file is left behind',
    );
  });

  test('unknown, other-namespace and malformed app ids resolve to null', async (t) => {
    const dir = await tempRegistry(t);
    const resolver = localResolver(t, dir);
    assert.equal(await resolver.resolve('appB', ''), null, 'namespace directory does not exist yet');
    await resolver.register(self('appB', 50002, 'prod'));
    assert.equal(await resolver.resolve('appB', ''), null);
    assert.equal(await resolver.resolve('appBB', 'prod'), null);
    assert.equal(await resolver.resolve('app', 'prod'), null, 'a prefix of a registered id is another id');
    assert.deepEqual(await resolver.resolve('appB', 'prod'), { host: '127.0.0.1', port: 50002 });
    for (const hostile of ['../prod/appB', 'appB/..', '.', '', 'a\u0000b']) {
      assert.equal(await resolver.resolve(hostile, 'prod'), null, JSON.stringify(hostile));
      assert.equal(await resolver.resolve('appB', hostile === '' ? '..' : hostile), null, JSON.stringify(hostile));
    }
  });

  test('two replicas of one app id are both picked', async (t) => {
    const dir = await tempRegistry(t);
    await localResolver(t, dir).register(self('appB', 50002));
    await localResolver(t, dir).register(self('appB', 50003));
    const caller = localResolver(t, dir);

    assert.deepEqual(ports(await caller.resolveAll('appB', '')), [50002, 50003]);
    const seen = new Set<number>();
    for (let i = 0; i < 64 && seen.size < 2; i++) seen.add((await caller.resolve('appB', ''))!.port);
    assert.deepEqual([...seen].sort(), [50002, 50003]);
  });

  test('close removes the entry', async (t) => {
    const dir = await tempRegistry(t);
    const b = localResolver(t, dir);
    const caller = localResolver(t, dir);
    await b.register(self('appB', 50002));
    assert.equal((await entryFiles(dir)).length, 1);

    await b.close();
    assert.deepEqual(await entryFiles(dir), []);
    assert.equal(await caller.resolve('appB', ''), null);
    await b.close();
    await assert.rejects(b.register(self('appB', 50002)), /closed/);
  });

  test('register rejects bad input and a second registration', async (t) => {
    const dir = await tempRegistry(t);
    const resolver = localResolver(t, dir);
    await assert.rejects(resolver.register(self('app.b', 1)), /app id "app\.b"/);
    await assert.rejects(resolver.register(self('../x', 1)), /app id/);
    await assert.rejects(resolver.register(self('appB', 1, 'a/b')), /namespace "a\/b"/);
    await assert.rejects(resolver.register(self('appB', 0)), /port 0/);
    await assert.rejects(resolver.register(self('appB', 70000)), /port 70000/);
    await assert.rejects(resolver.register({ ...self('appB', 1), host: '' }), /host/);
    assert.deepEqual(await readdir(dir), [], 'nothing was written for rejected registrations');

    await resolver.register(self('appB', 50002));
    await assert.rejects(resolver.register(self('appC', 50003)), /already registered/);
  });

  test('an entry of a dead process is ignored and deleted', async (t) => {
    const dir = await tempRegistry(t);
    const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
    const [code] = await once(child, 'exit');
    assert.equal(code, 0);
    const file = await writeEntry(dir, `appB.${child.pid}.dead.json`, entry(child.pid!, 50002));

    const resolver = localResolver(t, dir);
    assert.equal(await resolver.resolve('appB', ''), null);
    assert.equal(await exists(file), false);
  });

  test('an entry of another machine is kept even when its pid is not running here', async (t) => {
    const dir = await tempRegistry(t);
    const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
    await once(child, 'exit');
    const remote = { ...entry(child.pid!, 50002), hostname: `not-${hostname()}` };
    const file = await writeEntry(dir, 'appB.1.remote.json', remote);

    assert.deepEqual(await localResolver(t, dir).resolve('appB', ''), { host: '127.0.0.1', port: 50002 });
    assert.equal(await exists(file), true);
  });

  test('a stale entry is ignored and deleted even when its pid is alive', async (t) => {
    const dir = await tempRegistry(t);
    const file = await writeEntry(dir, `appB.${process.pid}.stale.json`, entry(process.pid, 50002));
    const old = new Date(Date.now() - 60_000);
    await utimes(file, old, old);

    assert.equal(await localResolver(t, dir).resolve('appB', ''), null);
    assert.equal(await exists(file), false);
  });

  test('malformed and mismatched entry files are skipped', async (t) => {
    const dir = await tempRegistry(t);
    await localResolver(t, dir).register(self('appB', 50002));
    await writeEntry(dir, 'appB.1.broken.json', entry(process.pid, 1)).then((file) => writeFile(file, '{"appId":'));
    await writeEntry(dir, 'appB.1.noport.json', { ...entry(process.pid, 1), port: 0 });
    await writeEntry(dir, 'appB.1.other.json', { ...entry(process.pid, 50009), appId: 'appC' });

    assert.deepEqual(await localResolver(t, dir).resolveAll('appB', ''), [{ host: '127.0.0.1', port: 50002 }]);
  });

  test('the owner keeps its entry fresh and rewrites it when it disappears', async (t) => {
    const dir = await tempRegistry(t);
    const owner = localResolver(t, dir, { refreshIntervalMs: 40 });
    await owner.register(self('appB', 50002));
    const [name] = await entryFiles(dir);
    const file = join(dir, 'default', name);

    const old = new Date(Date.now() - 60_000);
    await utimes(file, old, old);
    await sleep(150);
    assert.ok(Date.now() - (await stat(file)).mtimeMs < 1_000, 'mtime was refreshed');
    assert.deepEqual(await localResolver(t, dir).resolve('appB', ''), { host: '127.0.0.1', port: 50002 });

    await unlink(file);
    await sleep(150);
    assert.equal(await exists(file), true, 'entry was rewritten');
  });

  test('a killed sidecar process becomes unresolvable', async (t) => {
    const dir = await tempRegistry(t);
    const moduleUrl = new URL('../proxy/nameresolution/index.js', import.meta.url).href;
    const script = `
      import { createNameResolver } from ${JSON.stringify(moduleUrl)};
      setTimeout(() => process.exit(3), 30_000);
      const resolver = createNameResolver({ component: 'local', configuration: { registryDir: process.argv[1] } });
      await resolver.register({ appId: 'child', namespace: '', host: '127.0.0.1', port: 50999 });
      process.stdout.write('registered\\n');
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script, dir], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, [REGISTRY_DIR_ENV]: '' },
    });
    t.after(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    await waitForLine(child, 'registered', 10_000);

    const caller = localResolver(t, dir);
    assert.deepEqual(await caller.resolve('child', ''), { host: '127.0.0.1', port: 50999 });
    assert.equal((await entryFiles(dir)).length, 1);

    child.kill('SIGKILL');
    const [, signal] = await once(child, 'exit');
    assert.equal(signal, 'SIGKILL');
    assert.equal(await caller.resolve('child', ''), null);
    assert.deepEqual(await entryFiles(dir), [], 'the dead entry was cleaned up');
  });

  test('a registry path that is not a directory fails resolution with the file system error', async (t) => {
    const dir = await tempRegistry(t);
    const notADir = join(dir, 'file');
    await writeFile(notADir, '');
    const resolver = localResolver(t, notADir);
    await assert.rejects(resolver.resolve('appB', ''), { code: 'ENOTDIR' });
    await assert.rejects(resolver.register(self('appB', 1)), /ENOTDIR|EEXIST/);
    await assert.rejects(resolver.register(self('appB', 1)), /ENOTDIR|EEXIST/, 'a failed registration can be retried');
  });
});

describe('static resolver', () => {
  const apps = {
    appB: '127.0.0.1:50002',
    'appC.prod': ['10.0.0.5:50002', '10.0.0.6:50003'],
    appD: '[::1]:50004',
    'appE.default': 'sidecar-e.internal:50005',
  };

  test('resolves entries by app id and namespace', async () => {
    const resolver = new StaticResolver({ apps });
    assert.equal(resolver.kind, 'static');
    await resolver.register(self('whoever', 1));
    assert.deepEqual(await resolver.resolve('appB', ''), { host: '127.0.0.1', port: 50002 });
    assert.deepEqual(await resolver.resolve('appB', 'default'), { host: '127.0.0.1', port: 50002 });
    assert.deepEqual(await resolver.resolve('appD', ''), { host: '::1', port: 50004 });
    assert.deepEqual(await resolver.resolve('appE', ''), { host: 'sidecar-e.internal', port: 50005 });
    assert.deepEqual(ports(await resolver.resolveAll('appC', 'prod')), [50002, 50003]);
    const seen = new Set<number>();
    for (let i = 0; i < 64 && seen.size < 2; i++) seen.add((await resolver.resolve('appC', 'prod'))!.port);
    assert.equal(seen.size, 2, 'load is spread over the listed addresses');
    await resolver.close();
  });

  test('unknown app ids and namespaces resolve to null', async () => {
    const resolver = new StaticResolver({ apps });
    assert.equal(await resolver.resolve('appX', ''), null);
    assert.equal(await resolver.resolve('appC', ''), null);
    assert.equal(await resolver.resolve('appB', 'prod'), null);
    assert.equal(await resolver.resolve('appC.prod', ''), null);
    assert.deepEqual(await resolver.resolveAll('appX', ''), []);
  });

  test('bad tables fail construction naming the entry', () => {
    const bad: [unknown, RegExp][] = [
      [undefined, /configuration\.apps must map/],
      [['appB'], /configuration\.apps must map/],
      [{ appB: 'localhost' }, /entry "appB": invalid address "localhost"/],
      [{ appB: '127.0.0.1:0' }, /entry "appB": invalid address/],
      [{ appB: '127.0.0.1:65536' }, /entry "appB": invalid address/],
      [{ appB: '127.0.0.1:12ab' }, /entry "appB": invalid address/],
      [{ appB: '::1:50002' }, /entry "appB": invalid address/],
      [{ appB: '[nope]:50002' }, /entry "appB": invalid address/],
      [{ appB: 50002 }, /entry "appB": invalid address 50002/],
      [{ appB: [] }, /entry "appB": needs at least one address/],
      [{ appB: ['127.0.0.1:1', 'x'] }, /entry "appB": invalid address "x"/],
      [{ 'appB.': '127.0.0.1:1' }, /entry "appB\.": .*namespace/],
      [{ 'a/b': '127.0.0.1:1' }, /entry "a\/b": .*app id/],
      [{ 'appB.prod.eu': '127.0.0.1:1' }, /entry "appB\.prod\.eu"/],
      [{ appB: '127.0.0.1:1', 'appB.default': '127.0.0.1:2' }, /entry "appB\.default": .*listed twice/],
    ];
    for (const [table, message] of bad) {
      assert.throws(
        () => createNameResolver({ component: 'static', configuration: { apps: table } }),
        message,
        JSON.stringify(table),
      );
    }
  });

  test('parseHostPort', () => {
    assert.deepEqual(parseHostPort('h:1'), { host: 'h', port: 1 });
    assert.deepEqual(parseHostPort('[fe80::1]:65535'), { host: 'fe80::1', port: 65535 });
    for (const text of ['', ':1', 'h:', 'h', 'h:-1', 'h:1.5', 'a b:1', '[::1:1', 'h:123456']) {
      assert.equal(parseHostPort(text), undefined, text);
    }
  });
});

/** Counts the lookups reaching a real resolver. */
class CountingResolver implements NameResolver {
  readonly kind: string;
  calls = 0;
  constructor(private readonly real: NameResolver) {
    this.kind = real.kind;
  }
  register(s: SelfRegistration): Promise<void> {
    return this.real.register(s);
  }
  resolve(appId: string, namespace: string): Promise<AppAddress | null> {
    this.calls++;
    return this.real.resolve(appId, namespace);
  }
  resolveAll(appId: string, namespace: string): Promise<readonly AppAddress[]> {
    this.calls++;
    return this.real.resolveAll(appId, namespace);
  }
  close(): Promise<void> {
    return this.real.close();
  }
}

describe('CachedResolver', () => {
  async function cachedLocal(t: TestContext, opts?: { ttlMs?: number }) {
    const dir = await tempRegistry(t);
    const inner = new CountingResolver(localResolver(t, dir));
    const cached = new CachedResolver(inner, opts);
    t.after(() => cached.close());
    return { dir, inner, cached };
  }

  test('a cache hit does not call the inner resolver, also through the synchronous path', async (t) => {
    const { dir, inner, cached } = await cachedLocal(t);
    await localResolver(t, dir).register(self('appB', 50002));

    assert.equal(cached.lookupCached('appB', ''), undefined);
    assert.deepEqual(await cached.resolve('appB', ''), { host: '127.0.0.1', port: 50002 });
    assert.equal(inner.calls, 1);
    assert.deepEqual(await cached.resolve('appB', 'default'), { host: '127.0.0.1', port: 50002 });
    assert.deepEqual(cached.lookupCached('appB', ''), { host: '127.0.0.1', port: 50002 });
    assert.deepEqual(cached.lookupCached('appB', 'default'), { host: '127.0.0.1', port: 50002 });
    assert.deepEqual(await cached.resolveAll('appB', ''), [{ host: '127.0.0.1', port: 50002 }]);
    assert.equal(inner.calls, 1);
    assert.equal(cached.lookupCached('appB', 'prod'), undefined, 'namespaces are cached apart');
  });

  test('invalidate forces a new lookup', async (t) => {
    const { dir, inner, cached } = await cachedLocal(t);
    const b = localResolver(t, dir);
    await b.register(self('appB', 50002));
    assert.deepEqual(await cached.resolve('appB', ''), { host: '127.0.0.1', port: 50002 });

    await b.close();
    assert.deepEqual(cached.lookupCached('appB', ''), { host: '127.0.0.1', port: 50002 }, 'still cached');
    cached.invalidate('appB', '');
    assert.equal(cached.lookupCached('appB', ''), undefined);
    assert.equal(await cached.resolve('appB', ''), null);
    assert.equal(inner.calls, 2);
  });

  test('concurrent lookups for one app id share one inner call', async (t) => {
    const { dir, inner, cached } = await cachedLocal(t);
    await localResolver(t, dir).register(self('appB', 50002));
    const answers = await Promise.all([
      ...Array.from({ length: 10 }, () => cached.resolve('appB', '')),
      cached.resolveAll('appB', 'default'),
    ]);
    assert.equal(inner.calls, 1);
    for (const answer of answers.slice(0, 10)) assert.deepEqual(answer, { host: '127.0.0.1', port: 50002 });
    assert.deepEqual(answers[10], [{ host: '127.0.0.1', port: 50002 }]);
  });

  test('unknown app ids are not cached', async (t) => {
    const { inner, cached } = await cachedLocal(t);
    assert.equal(await cached.resolve('appX', ''), null);
    assert.equal(await cached.resolve('appX', ''), null);
    assert.equal(inner.calls, 2);
    assert.equal(cached.lookupCached('appX', ''), undefined);
  });

  test('an answer arriving after invalidate is returned but not cached', async (t) => {
    const { dir, inner, cached } = await cachedLocal(t);
    await localResolver(t, dir).register(self('appB', 50002));
    const pending = cached.resolve('appB', '');
    cached.invalidate('appB', '');
    assert.deepEqual(await pending, { host: '127.0.0.1', port: 50002 });
    assert.equal(cached.lookupCached('appB', ''), undefined);
    await cached.resolve('appB', '');
    assert.equal(inner.calls, 2);
  });

  test('answers expire after ttlMs', async (t) => {
    const { dir, inner, cached } = await cachedLocal(t, { ttlMs: 40 });
    await localResolver(t, dir).register(self('appB', 50002));
    await cached.resolve('appB', '');
    await sleep(80);
    assert.equal(cached.lookupCached('appB', ''), undefined);
    await cached.resolve('appB', '');
    assert.equal(inner.calls, 2);
  });

  test('cached replicas are taken in turn', async () => {
    const cached = new CachedResolver(new StaticResolver({ apps: { appB: ['127.0.0.1:1', '127.0.0.1:2'] } }));
    const first = (await cached.resolve('appB', ''))!.port;
    const turns = [first, cached.lookupCached('appB', '')!.port, cached.lookupCached('appB', '')!.port];
    assert.deepEqual(turns, [first, 3 - first, first]);
    await cached.close();
  });

  test('a failing lookup rejects every waiter and is not cached', async (t) => {
    const dir = await tempRegistry(t);
    const notADir = join(dir, 'file');
    await writeFile(notADir, '');
    const inner = new CountingResolver(localResolver(t, notADir));
    const cached = new CachedResolver(inner);
    const waiters = [cached.resolve('appB', ''), cached.resolve('appB', '')];
    for (const waiter of waiters) await assert.rejects(waiter, { code: 'ENOTDIR' });
    assert.equal(inner.calls, 1);
    await assert.rejects(cached.resolve('appB', ''), { code: 'ENOTDIR' });
    assert.equal(inner.calls, 2);
    await cached.close();
  });
});

describe('createNameResolver', () => {
  test('local is the default, in the temp directory unless configured', () => {
    const resolver = createNameResolver(undefined) as LocalResolver;
    assert.equal(resolver.kind, 'local');
    assert.equal(resolver.registryDir, join(tmpdir(), 'pillion-registry'));
    assert.equal(createNameResolver({}).kind, 'local');
    assert.equal(createNameResolver(null).kind, 'local');
    assert.equal(createNameResolver({ component: '', version: '', configuration: null }).kind, 'local');
    assert.equal((createNameResolver({ configuration: { registryDir: '/x' } }) as LocalResolver).registryDir, '/x');
  });

  test('the environment overrides the configured registry directory', (t) => {
    process.env[REGISTRY_DIR_ENV] = '/from-env';
    t.after(() => delete process.env[REGISTRY_DIR_ENV]);
    const resolver = createNameResolver({ component: 'local', configuration: { registryDir: '/x' } }) as LocalResolver;
    assert.equal(resolver.registryDir, '/from-env');
  });

  test('chooses each supported component', () => {
    assert.equal(createNameResolver({ component: 'static', configuration: { apps: {} } }).kind, 'static');
    assert.equal(createNameResolver({ component: 'mdns', version: 'v1' }).kind, 'mdns');
  });

  test('rejects unknown components, versions and bad configuration with clear errors', () => {
    assert.throws(
      () => createNameResolver({ component: 'consul' }),
      /component "consul" is not supported \(supported: local, static, mdns\)/,
    );
    assert.throws(() => createNameResolver({ component: 'local', version: 'v2' }), /unsupported version "v2"/);
    assert.throws(
      () => createNameResolver({ component: 'local', configuration: { refreshIntervalMs: 'often' } }),
      /configuration\.refreshIntervalMs must be an integer/,
    );
    assert.throws(() => createNameResolver({ configuration: { registryDir: 5 } }), /registryDir must be/);
    assert.throws(() => createNameResolver({ component: 'static', configuration: 'apps' }), /must be a mapping/);
    assert.throws(
      () => createNameResolver({ component: 'mdns', configuration: { interface: 'eth0' } }),
      /interface must be an IPv4/,
    );
    assert.throws(() => createNameResolver({ component: 'mdns', configuration: { timeoutMs: 0 } }), /timeoutMs/);
    assert.equal(
      createNameResolver({ component: 'local', configuration: { refreshIntervalMs: '250' } }).kind,
      'local',
      'quoted numbers from YAML are accepted',
    );
  });
});

const MDNS_GROUP = '224.0.0.251';

/** Multicast confined to the loopback interface: returns the UDP port to use, or why it cannot work here. */
async function probeLoopbackMulticast(): Promise<{ port: number } | { reason: string }> {
  const sockets: Socket[] = [];
  try {
    const open = async (port: number): Promise<Socket> => {
      const socket = createSocket({ type: 'udp4', reuseAddr: true });
      sockets.push(socket);
      socket.bind(port, MDNS_GROUP);
      await once(socket, 'listening');
      socket.addMembership(MDNS_GROUP, '127.0.0.1');
      socket.setMulticastInterface('127.0.0.1');
      socket.setMulticastLoopback(true);
      return socket;
    };
    const receiver = await open(0);
    const port = receiver.address().port;
    const sender = await open(port);
    const received = once(receiver, 'message');
    sender.send('probe', port, MDNS_GROUP);
    const outcome = await Promise.race([received.then(() => 'ok'), sleep(1_000, 'timeout')]);
    return outcome === 'ok' ? { port } : { reason: 'a multicast datagram sent on loopback never arrived' };
  } catch (err) {
    return { reason: `multicast on loopback is unavailable: ${String(err)}` };
  } finally {
    for (const socket of sockets) socket.close();
  }
}

describe('mdns resolver', () => {
  let port = 0;
  let skipReason: string | undefined;
  before(async () => {
    const probe = await probeLoopbackMulticast();
    if ('reason' in probe) skipReason = probe.reason;
    else port = probe.port;
  });

  // Pinned to loopback so that no datagram leaves this machine.
  function mdns(t: TestContext, extra: Record<string, unknown> = {}): NameResolver | undefined {
    if (skipReason !== undefined) {
      t.skip(`SKIPPED mdns test: ${skipReason}`);
      return undefined;
    }
    const resolver = createNameResolver({
      component: 'mdns',
      configuration: { port, interface: '127.0.0.1', bind: MDNS_GROUP, timeoutMs: 300, gatherMs: 50, ...extra },
    });
    t.after(() => resolver.close());
    return resolver;
  }

  test('a registered sidecar is found by another resolver', async (t) => {
    const b = mdns(t);
    const a = mdns(t);
    if (!a || !b) return;
    await b.register(self('appB', 50002));
    assert.deepEqual(await a.resolve('appB', ''), { host: '127.0.0.1', port: 50002 });
    assert.deepEqual(await b.resolve('appB', 'default'), { host: '127.0.0.1', port: 50002 }, 'a sidecar finds itself');
    assert.equal(mdnsServiceName('appB', 'default'), 'appb.default._dapr._tcp.local');
  });

  test('unknown app ids and other namespaces resolve to null after the timeout', async (t) => {
    const b = mdns(t);
    const a = mdns(t);
    if (!a || !b) return;
    await b.register(self('appB', 50002, 'prod'));
    const started = performance.now();
    const [unknown, otherNamespace, invalid] = await Promise.all([
      a.resolve('appX', ''),
      a.resolve('appB', ''),
      a.resolve('a.b', ''),
    ]);
    const elapsed = performance.now() - started;
    assert.equal(unknown, null);
    assert.equal(otherNamespace, null);
    assert.equal(invalid, null);
    assert.ok(elapsed >= 250 && elapsed < 2_000, `waited ${elapsed} ms`);
    assert.deepEqual(await a.resolve('appB', 'prod'), { host: '127.0.0.1', port: 50002 });
  });

  test('answers of all replicas are gathered', async (t) => {
    const r1 = mdns(t);
    const r2 = mdns(t);
    const caller = mdns(t);
    if (!r1 || !r2 || !caller) return;
    await r1.register(self('appB', 50002));
    await r2.register({ appId: 'appB', namespace: '', host: 'sidecar-b.example', port: 50003 });
    const all = await caller.resolveAll('appB', '');
    assert.deepEqual(
      [...all].sort((x, y) => x.port - y.port),
      [
        { host: '127.0.0.1', port: 50002 },
        { host: 'sidecar-b.example', port: 50003 },
      ],
    );
  });

  test('a closed sidecar no longer answers, and close fails lookups under way', async (t) => {
    const b = mdns(t);
    const a = mdns(t);
    if (!a || !b) return;
    await b.register(self('appB', 50002));
    assert.notEqual(await a.resolve('appB', ''), null);
    await b.close();
    assert.equal(await a.resolve('appB', ''), null);

    const pending = a.resolve('appX', '');
    await a.close();
    await assert.rejects(pending, /closed/);
    await assert.rejects(a.resolve('appB', ''), /closed/);
  });

  test('malformed answers are ignored', async (t) => {
    const a = mdns(t);
    if (!a) return;
    const rogue = multicastDns({ port, interface: '127.0.0.1', bind: MDNS_GROUP, reuseAddr: true });
    t.after(() => new Promise<void>((resolve) => rogue.destroy(() => resolve())));
    rogue.on('query', (packet) => {
      const name = packet.questions[0]?.name;
      if (name === undefined) return;
      rogue.respond({
        answers: [
          { name, type: 'SRV', data: { port: 0, target: 'x.local' } },
          { name, type: 'TXT', data: ['junk'] },
        ],
      });
    });
    await once(rogue, 'ready');
    assert.equal(await a.resolve('appB', ''), null);
  });

  test('a port that cannot be shared fails lookups and registration with a clear error', async (t) => {
    if (skipReason !== undefined) return t.skip(`SKIPPED mdns test: ${skipReason}`);
    const holder = createSocket({ type: 'udp4', reuseAddr: false });
    holder.bind(0, MDNS_GROUP);
    await once(holder, 'listening');
    t.after(() => holder.close());
    const resolver = mdns(t, { port: holder.address().port });
    if (!resolver) return;
    await assert.rejects(resolver.resolve('appB', ''), /cannot listen on UDP port \d+: .*EADDRINUSE/);
    await assert.rejects(resolver.register(self('appB', 50002)), /EADDRINUSE/);
  });
});
