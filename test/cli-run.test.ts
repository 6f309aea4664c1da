import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { FlagError } from '../proxy/cli/flags.js';
import { runApp, type RunOverrides } from '../proxy/cli/run.js';
import { freePort } from './support/ports.js';

const fakeSidecar = fileURLToPath(new URL('./fixtures/fake-sidecar.js', import.meta.url));

// `pillion run` as a real process, so signals and exit codes are real. Like the CLI entry, it prints FlagError text.
function runnerSource(overrides: RunOverrides): string {
  return `
    const { runApp } = await import(${JSON.stringify(new URL('../proxy/cli/run.js', import.meta.url).href)});
    const { FlagError } = await import(${JSON.stringify(new URL('../proxy/cli/flags.js', import.meta.url).href)});
    try {
      process.exitCode = await runApp(process.argv.slice(1), process.env, ${JSON.stringify(overrides)});
    } catch (err) {
      if (!(err instanceof FlagError)) throw err;
      (err.exitCode === 0 ? process.stdout : process.stderr).write(err.message + '\\n');
      process.exitCode = err.exitCode;
    }`;
}

interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

interface Run {
  pid: number;
  finished: Promise<Finished>;
  /** Resolves once stdout matches. */
  waitFor(pattern: RegExp): Promise<void>;
  stdout(): string;
}

/** The fake sidecar's start-up line: its pid and the flags it was given. */
function sidecarInfo(stdout: string): { pid: number; argv: string[] } {
  const line = /^== DAPR == (\{"pid".*)$/m.exec(stdout);
  assert.ok(line, `sidecar start-up line in:\n${stdout}`);
  return JSON.parse(line[1]!) as { pid: number; argv: string[] };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const pidsToReap = new Set<number>();

function startRun(
  t: TestContext,
  argv: string[],
  { env = {}, overrides = {} }: { env?: NodeJS.ProcessEnv; overrides?: RunOverrides } = {},
): Run {
  const child = spawn(
    process.execPath,
    ['--input-type=module', '-e', runnerSource({ sidecarEntry: fakeSidecar, ...overrides }), '--', ...argv],
    { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  const watchers: Array<{ pattern: RegExp; resolve: () => void }> = [];
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    for (const [pid] of stdout.matchAll(/(?<="pid":)\d+|(?<=^== APP == pid )\d+/gm)) pidsToReap.add(Number(pid));
    for (const w of watchers.filter((w) => w.pattern.test(stdout))) {
      watchers.splice(watchers.indexOf(w), 1);
      w.resolve();
    }
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const finished = new Promise<Finished>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  t.after(() => {
    child.kill('SIGKILL');
    for (const pid of pidsToReap) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    pidsToReap.clear();
  });
  return {
    pid: child.pid!,
    finished,
    stdout: () => stdout,
    waitFor: (pattern) =>
      pattern.test(stdout)
        ? Promise.resolve()
        : Promise.race([
            new Promise<void>((resolve) => watchers.push({ pattern, resolve })),
            finished.then((f) => assert.fail(`exited (${f.code}) before ${pattern}:\n${f.stdout}\n${f.stderr}`)),
          ]),
  };
}

/** An app as an ES module given inline; arguments appended to the result reach it. */
const nodeApp = (source: string): string[] => [process.execPath, '--input-type=module', '-e', source, '--'];

/**
 * An app that announces its pid once `setup` ran (e.g. its signal handlers are in place) and then waits; it gives
 * up on its own, so nothing outlives a failed test.
 */
const waitingApp = (setup = ''): string[] =>
  nodeApp(`${setup}\nconsole.log('pid', process.pid); setTimeout(() => process.exit(99), 15000);`);

describe('pillion run', { timeout: 60_000 }, () => {
  test('starts the sidecar first, gives the app its env, prefixes output, returns the app exit code', async (t) => {
    const grpcPort = await freePort();
    const app = nodeApp(`
      const pick = ['APP_ID', 'APP_PORT', 'APP_PROTOCOL', 'APP_CHANNEL_ADDRESS', 'DAPR_HTTP_PORT', 'DAPR_GRPC_PORT',
        'DAPR_METRICS_PORT', 'USER_SETTING'];
      console.log('env ' + JSON.stringify(Object.fromEntries(pick.map((k) => [k, process.env[k]]))));
      const res = await fetch('http://127.0.0.1:' + process.env.DAPR_HTTP_PORT + '/v1.0/healthz/outbound');
      console.log('sidecar answered ' + res.status + '\\nsecond line');
      console.error('to stderr');
      process.stdout.write('a line written ');
      await new Promise((resolve) => setTimeout(resolve, 50));
      console.log('in two parts');
      process.stdout.write('unterminated');
      process.exitCode = 7;`);
    const run = startRun(t, ['--app-port', '3000', `--dapr-grpc-port=${grpcPort}`, '--', ...app], {
      env: { USER_SETTING: 'kept' },
    });
    const { code, stdout, stderr } = await run.finished;
    assert.equal(code, 7, stderr);

    const sidecar = sidecarInfo(stdout);
    const given = (flag: string) => sidecar.argv.find((a) => a.startsWith(`--${flag}=`))?.split('=')[1];
    const envLine = /^== APP == env (.*)$/m.exec(stdout);
    assert.ok(envLine, stdout);
    const appEnv = JSON.parse(envLine[1]!) as Record<string, string>;
    assert.match(appEnv.APP_ID!, /^app-[0-9a-f]{8}$/);
    assert.deepEqual(appEnv, {
      APP_ID: given('app-id'),
      APP_PORT: '3000',
      APP_PROTOCOL: 'http',
      APP_CHANNEL_ADDRESS: '127.0.0.1',
      DAPR_HTTP_PORT: given('dapr-http-port'),
      DAPR_GRPC_PORT: String(grpcPort),
      DAPR_METRICS_PORT: given('metrics-port'),
      USER_SETTING: 'kept',
    });
    // Free ports were picked for what was not given, and the user's flags reach the sidecar untouched.
    assert.deepEqual(sidecar.argv.slice(0, 3), ['--app-port', '3000', `--dapr-grpc-port=${grpcPort}`]);
    assert.equal(sidecar.argv.filter((a) => a.includes('grpc-port=')).length, 2, 'explicit gRPC + internal gRPC');
    const ports = ['dapr-http-port', 'dapr-internal-grpc-port', 'metrics-port'].map((f) => Number(given(f)));
    assert.ok(ports.every((p) => p > 0 && p < 65536), String(ports));
    assert.equal(new Set([...ports, grpcPort]).size, 4, 'distinct ports');

    assert.match(stdout, /^== APP == sidecar answered 204\n== APP == second line$/m);
    assert.match(stderr, /^== APP == to stderr$/m);
    assert.match(stdout, /^== APP == a line written in two parts$/m);
    assert.match(stdout, /^== APP == unterminated$/m, 'a partial last line is flushed with its prefix');
    // The sidecar was asked to stop after the app, drained, and its unterminated last line was flushed.
    assert.match(stdout, /== APP == unterminated\n(.*\n)*== DAPR == draining\n== DAPR == stopped\n$/);
    assert.ok(!isAlive(sidecar.pid));
    for (const line of stdout.trimEnd().split('\n')) assert.match(line, /^(== APP == |== DAPR == |pillion run: )/);
  });

  test('SIGTERM goes to the app; the sidecar is stopped gracefully after it', async (t) => {
    const run = startRun(t, [
      '--dapr-listen-addresses=127.0.0.1',
      '--',
      ...waitingApp("process.on('SIGTERM', () => { console.log('got SIGTERM'); setTimeout(() => process.exit(0), 100); });"),
    ]);
    await run.waitFor(/^== APP == pid \d+$/m);
    const sidecar = sidecarInfo(run.stdout());
    process.kill(run.pid, 'SIGTERM');
    const { code, stdout, stderr } = await run.finished;
    assert.equal(code, 0, stderr);
    assert.match(stdout, /== APP == got SIGTERM\n(.*\n)*== DAPR == draining\n== DAPR == stopped\n$/);
    assert.ok(!isAlive(sidecar.pid), 'sidecar stopped');
    assert.doesNotMatch(stderr, /killing/);
  });

  test('an app killed by a signal gives 128 + the signal number', async (t) => {
    const run = startRun(t, ['--', ...waitingApp()]);
    await run.waitFor(/^== APP == pid \d+$/m);
    process.kill(run.pid, 'SIGINT');
    const { code, stdout } = await run.finished;
    assert.equal(code, 130);
    assert.match(stdout, /== DAPR == stopped\n$/);
  });

  test('an app command that does not exist: clear error, sidecar stopped, exit 1', async (t) => {
    const run = startRun(t, ['--', 'pillion-test-no-such-command', '--flag']);
    const { code, stdout, stderr } = await run.finished;
    assert.equal(code, 1);
    assert.match(
      stderr,
      /cannot start the app "pillion-test-no-such-command": command not found; stopping the sidecar/,
    );
    assert.match(stdout, /== DAPR == stopped\n$/);
    assert.ok(!isAlive(sidecarInfo(stdout).pid));
  });

  test('a sidecar that exits during start-up: its code, and the app never starts', async (t) => {
    const run = startRun(t, ['--', ...nodeApp("console.log('app ran')")], { env: { FAKE_SIDECAR_MODE: 'exit-early' } });
    const { code, stdout, stderr } = await run.finished;
    assert.equal(code, 3);
    assert.match(stderr, /^== DAPR == fake sidecar: failing at start-up$/m);
    assert.match(stderr, /the sidecar exited with code 3 before it was ready/);
    assert.doesNotMatch(stdout, /== APP ==/);
  });

  test('a missing sidecar entry script fails like an early exit', async (t) => {
    const run = startRun(t, ['--', ...nodeApp("console.log('app ran')")], {
      overrides: { sidecarEntry: fileURLToPath(new URL('./fixtures/no-such-sidecar.js', import.meta.url)) },
    });
    const { code, stdout, stderr } = await run.finished;
    assert.equal(code, 1);
    assert.match(stderr, /== DAPR == .*Cannot find module/);
    assert.doesNotMatch(stdout, /== APP ==/);
  });

  test('a sidecar that never becomes ready is stopped after the ready timeout', async (t) => {
    const started = Date.now();
    const run = startRun(t, ['--', ...nodeApp("console.log('app ran')")], {
      env: { FAKE_SIDECAR_MODE: 'never-ready' },
      overrides: { readyTimeoutMs: 400 },
    });
    const { code, stdout, stderr } = await run.finished;
    assert.equal(code, 1);
    assert.match(stderr, /did not become ready in time; stopping it/);
    assert.match(stdout, /== DAPR == stopped\n$/);
    assert.doesNotMatch(stdout, /== APP ==/);
    assert.ok(Date.now() - started < 5000);
  });

  test('a signal while waiting for the sidecar stops it before any app starts', async (t) => {
    const run = startRun(t, ['--', ...nodeApp("console.log('app ran')")], { env: { FAKE_SIDECAR_MODE: 'never-ready' } });
    await run.waitFor(/^== DAPR == \{"pid"/m);
    process.kill(run.pid, 'SIGINT');
    const { code, stdout } = await run.finished;
    assert.equal(code, 130);
    assert.match(stdout, /== DAPR == stopped\n$/);
    assert.doesNotMatch(stdout, /== APP ==/);
  });

  test('a sidecar dying under the app stops the app and exits non-zero', async (t) => {
    const run = startRun(t, [
      '--',
      ...waitingApp(`
        process.on('SIGTERM', () => { console.log('app stopping'); process.exit(0); });
        await fetch('http://127.0.0.1:' + process.env.DAPR_HTTP_PORT + '/fake/exit?code=4').catch(() => {});`),
    ]);
    const { code, stdout, stderr } = await run.finished;
    assert.equal(code, 4);
    assert.match(stderr, /the sidecar exited with code 4 while the app was running; stopping the app/);
    assert.match(stdout, /^== APP == app stopping$/m);
  });

  test('a sidecar ignoring SIGTERM is killed after its grace period + 5 s', { timeout: 20_000 }, async (t) => {
    const started = Date.now();
    const run = startRun(t, ['--dapr-graceful-shutdown-seconds', '0', '--', ...nodeApp('process.exitCode = 5')], {
      env: { FAKE_SIDECAR_MODE: 'stubborn' },
    });
    const { code, stdout, stderr } = await run.finished;
    const elapsed = Date.now() - started;
    assert.equal(code, 5);
    assert.match(stdout, /== DAPR == ignoring SIGTERM/);
    assert.match(stderr, /the sidecar did not stop within 5000 ms; killing it/);
    assert.ok(elapsed >= 5000 && elapsed < 12_000, `${elapsed} ms`);
    assert.ok(!isAlive(sidecarInfo(stdout).pid));
  });

  test('bad command lines reject before anything starts', async () => {
    const usage = /missing -- before the app command\n\nUsage:/;
    await assert.rejects(runApp(['--app-id', 'a'], {}), usage);
    await assert.rejects(runApp([], {}), usage);
    await assert.rejects(runApp(['--app-id', 'a', '--'], {}), /missing the app command after --\n\nUsage:/);
    await assert.rejects(runApp(['--', ''], {}), /missing the app command after --/);
    await assert.rejects(runApp(['node', 'app.js'], {}), /unexpected argument "node" \(put -- before the app command\)/);
    await assert.rejects(runApp(['--app-port', 'x', '--', 'node'], {}), /--app-port: "x" is not a valid port/);
    await assert.rejects(runApp(['--help'], {}), (err: unknown) => err instanceof FlagError && err.exitCode === 0);
  });

  test('flags after -- belong to the app; port 0 gets a free port; usage errors exit 2', async (t) => {
    const app = nodeApp("console.log('args ' + JSON.stringify(process.argv.slice(1)))");
    const ok = startRun(t, ['--app-id', 'orders', '--dapr-http-port=0', '--', ...app, '--app-id', 'x', '--', '--bogus']);
    const done = await ok.finished;
    assert.equal(done.code, 0, done.stderr);
    assert.match(done.stdout, /^== APP == args \["--app-id","x","--","--bogus"\]$/m);
    const { argv } = sidecarInfo(done.stdout);
    assert.deepEqual(argv.slice(0, 3), ['--app-id', 'orders', '--dapr-http-port=0']);
    assert.ok(!argv.some((a) => a.startsWith('--app-id=')), 'no generated app id');
    assert.match(argv.filter((a) => a.startsWith('--dapr-http-port=')).at(-1)!, /=[1-9]\d*$/, 'port 0 is replaced');

    const bad = await startRun(t, ['--bogus', '--', ...app]).finished;
    assert.equal(bad.code, 2);
    assert.equal(bad.stderr, 'unknown flag: --bogus\n');
    assert.equal(bad.stdout, '');
  });
});
