// `pillion run [flags] -- <command...>`, after `dapr run`: start a sidecar on known ports, start the app once the
// sidecar's API answers, prefix both outputs, relay signals to the app, and stop the sidecar after the app.
//
// Both children get their own process group, so a terminal's Ctrl-C reaches only this supervisor: the app gets one
// SIGINT (forwarded), and the sidecar keeps serving the app until the app is gone.

import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { constants as osConstants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { SidecarOptions } from '../runtime/options.js';
import { FlagError, USAGE, parseSidecarCommandLine } from './flags.js';

export interface RunOverrides {
  /** Sidecar entry script; default: main.js next to this module. */
  sidecarEntry?: string;
  /** How long the sidecar may take to answer /v1.0/healthz/outbound; default 30 s. */
  readyTimeoutMs?: number;
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const READY_TIMEOUT_MS = 30_000;
const READY_POLL_MS = 50;
const PROBE_TIMEOUT_MS = 1000;
/** How long the app gets to stop after the sidecar died under it. */
const APP_STOP_GRACE_MS = 5000;
/** Beyond its own graceful-shutdown seconds, before the sidecar is killed. */
const SIDECAR_STOP_SLACK_MS = 5000;
/** How long to wait for a child's output after it exited (a grandchild may hold the pipe open). */
const OUTPUT_DRAIN_MS = 1000;

const say = (msg: string): void => void process.stdout.write(`pillion run: ${msg}\n`);
const complain = (msg: string): void => void process.stderr.write(`pillion run: ${msg}\n`);

function exitStatus(exit: Exit): number {
  if (exit.code !== null) return exit.code;
  return 128 + (exit.signal ? osConstants.signals[exit.signal] : 0);
}

function describeExit(exit: Exit): string {
  return exit.code !== null ? `code ${exit.code}` : `signal ${exit.signal}`;
}

function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Writes whole lines with a prefix; a trailing partial line waits for its end or for flush(). */
class LinePrefixer {
  private pending = '';

  constructor(
    private readonly prefix: string,
    private readonly out: Writable,
  ) {}

  push(chunk: string): void {
    const lastNewline = chunk.lastIndexOf('\n');
    if (lastNewline < 0) {
      this.pending += chunk;
      return;
    }
    const lines = this.pending + chunk.slice(0, lastNewline);
    this.pending = chunk.slice(lastNewline + 1);
    this.out.write(`${this.prefix}${lines.replaceAll('\n', `\n${this.prefix}`)}\n`);
  }

  flush(): void {
    if (this.pending === '') return;
    this.out.write(`${this.prefix}${this.pending}\n`);
    this.pending = '';
  }
}

/** A started child whose output is prefixed line by line. */
class Supervised {
  readonly exited: Promise<Exit>;
  private readonly closed: Promise<void>;
  private readonly prefixers: LinePrefixer[] = [];

  private constructor(
    private readonly child: ChildProcess,
    readonly label: string,
    prefix: string,
  ) {
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    this.closed = new Promise((resolve) => child.once('close', () => resolve()));
    this.relay(child.stdout, prefix, process.stdout);
    this.relay(child.stderr, prefix, process.stderr);
  }

  /** Resolves once the process runs; rejects when it cannot be started (ENOENT, EACCES, ...). */
  static async start(
    label: string,
    prefix: string,
    file: string,
    args: string[],
    options: SpawnOptions,
  ): Promise<Supervised> {
    const child = spawn(file, args, { ...options, detached: true });
    const started = new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
    const supervised = new Supervised(child, label, prefix);
    await started;
    // Later errors come from signals that could not be delivered; the exit path handles the rest.
    child.on('error', (err) => complain(`${label}: ${err.message}`));
    return supervised;
  }

  private relay(stream: Readable | null, prefix: string, out: Writable): void {
    if (!stream) return;
    const prefixer = new LinePrefixer(prefix, out);
    this.prefixers.push(prefixer);
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => prefixer.push(chunk));
    stream.on('end', () => prefixer.flush());
  }

  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  /** SIGTERM, then SIGKILL if it is still running after graceMs. */
  async stop(graceMs: number): Promise<Exit> {
    this.child.kill('SIGTERM');
    const exit = await within(this.exited, graceMs);
    if (exit) return exit;
    complain(`${this.label} did not stop within ${graceMs} ms; killing it`);
    this.child.kill('SIGKILL');
    return this.exited;
  }

  /** Waits (bounded) for the output after exit, then writes any unterminated last line. */
  async drained(): Promise<void> {
    await within(this.closed, OUTPUT_DRAIN_MS);
    this.child.stdout?.destroy();
    this.child.stderr?.destroy();
    for (const prefixer of this.prefixers) prefixer.flush();
  }
}

/** Forwards SIGINT/SIGTERM to the current target; before there is one, records them for the caller. */
class SignalRelay {
  first: NodeJS.Signals | undefined;
  private target: Supervised | undefined;
  private readonly interruption = new AbortController();
  private readonly onSignal = (signal: NodeJS.Signals): void => {
    this.first ??= signal;
    if (this.target) this.target.signal(signal);
    else this.interruption.abort();
  };

  constructor() {
    process.on('SIGINT', this.onSignal);
    process.on('SIGTERM', this.onSignal);
  }

  /** Aborted when a signal arrives while there is no target. */
  get interrupted(): AbortSignal {
    return this.interruption.signal;
  }

  forwardTo(target: Supervised): void {
    this.target = target;
  }

  close(): void {
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
  }
}

/** `count` distinct free ports, none of them in `taken` (ports the command line already gave the sidecar or app). */
async function pickFreePorts(count: number, taken: ReadonlySet<number>): Promise<number[]> {
  // All held open at once, so the ports are distinct.
  const servers: Server[] = [];
  const ports: number[] = [];
  try {
    while (ports.length < count) {
      const server = createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', resolve);
      });
      const port = (server.address() as AddressInfo).port;
      if (!taken.has(port)) ports.push(port);
    }
    return ports;
  } finally {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  }
}

const CHOSEN_PORTS = [
  ['dapr-http-port', 'daprHttpPort'],
  ['dapr-grpc-port', 'daprGrpcPort'],
  ['dapr-internal-grpc-port', 'daprInternalGrpcPort'],
  ['metrics-port', 'metricsPort'],
] as const;

/** Like `dapr run`: an app id and free ports where none were given, passed on as flags so their values are known. */
async function settleIdentity(
  options: SidecarOptions,
  explicit: ReadonlySet<string>,
  sidecarArgs: string[],
): Promise<void> {
  if (options.appId === '') {
    options.appId = `app-${randomBytes(4).toString('hex')}`;
    sidecarArgs.push(`--app-id=${options.appId}`);
  }
  const missing = CHOSEN_PORTS.filter(([flag, key]) => !explicit.has(flag) || options[key] === 0);
  const taken = new Set([options.appPort, ...CHOSEN_PORTS.map(([, key]) => options[key])].filter((port) => port > 0));
  const ports = await pickFreePorts(missing.length, taken);
  missing.forEach(([flag, key], i) => {
    options[key] = ports[i]!;
    sidecarArgs.push(`--${flag}=${ports[i]}`);
  });
}

function probeOutbound(host: string, port: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(
      { host, port, path: '/v1.0/healthz/outbound', agent: false, timeout: PROBE_TIMEOUT_MS, signal },
      (res) => {
        res.resume();
        resolve(res.statusCode === 204);
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

type Readiness = 'ready' | 'timeout' | 'interrupted' | Exit;

async function waitUntilReady(
  options: SidecarOptions,
  sidecar: Supervised,
  timeoutMs: number,
  interrupted: AbortSignal,
): Promise<Readiness> {
  let exit: Exit | undefined;
  void sidecar.exited.then((e) => (exit = e));
  const wildcard = options.listenAddress === '0.0.0.0' || options.listenAddress === '::';
  const host = wildcard ? '127.0.0.1' : options.listenAddress;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probeOutbound(host, options.daprHttpPort, interrupted)) return 'ready';
    if (exit) return exit;
    if (interrupted.aborted) return 'interrupted';
    if (Date.now() >= deadline) return 'timeout';
    await sleep(READY_POLL_MS);
  }
}

/** One line per command, so it can be prefixed and read like a shell command. */
function quoteForDisplay(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : JSON.stringify(arg);
}

function appEnvironment(options: SidecarOptions, env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return {
    ...env,
    APP_ID: options.appId,
    ...(options.appPort > 0 ? { APP_PORT: String(options.appPort) } : {}),
    APP_PROTOCOL: options.appProtocol,
    APP_CHANNEL_ADDRESS: options.appChannelAddress,
    DAPR_HTTP_PORT: String(options.daprHttpPort),
    DAPR_GRPC_PORT: String(options.daprGrpcPort),
    DAPR_METRICS_PORT: String(options.metricsPort),
  };
}

/**
 * `pillion run [sidecar flags] -- <command> [args...]`; resolves to the exit code (the app's, 128+n when the app
 * died from signal n). Rejects with FlagError for a bad command line, help or version.
 */
export async function runApp(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  overrides: RunOverrides = {},
): Promise<number> {
  const { options, explicit, command } = parseSidecarCommandLine(argv, env, { allowCommand: true });
  if (command === undefined) throw new FlagError(`missing -- before the app command\n\n${USAGE}`);
  if (command.length === 0 || command[0] === '') throw new FlagError(`missing the app command after --\n\n${USAGE}`);
  const sidecarArgs = argv.slice(0, argv.length - command.length - 1);
  await settleIdentity(options, explicit, sidecarArgs);

  const relay = new SignalRelay();
  try {
    return await supervise(options, sidecarArgs, command, env, relay, overrides);
  } finally {
    relay.close();
  }
}

async function supervise(
  options: SidecarOptions,
  sidecarArgs: string[],
  command: string[],
  env: NodeJS.ProcessEnv,
  relay: SignalRelay,
  overrides: RunOverrides,
): Promise<number> {
  const sidecarGraceMs = options.gracefulShutdownSeconds * 1000 + SIDECAR_STOP_SLACK_MS;
  const entry = overrides.sidecarEntry ?? fileURLToPath(new URL('./main.js', import.meta.url));
  say(
    `starting the sidecar: app id "${options.appId}", HTTP port ${options.daprHttpPort}, gRPC port ` +
      `${options.daprGrpcPort}, internal gRPC port ${options.daprInternalGrpcPort}, metrics port ${options.metricsPort}`,
  );
  const sidecar = await Supervised.start('the sidecar', '== DAPR == ', process.execPath, [entry, ...sidecarArgs], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });

  const readiness = await waitUntilReady(
    options,
    sidecar,
    overrides.readyTimeoutMs ?? READY_TIMEOUT_MS,
    relay.interrupted,
  );
  if (readiness !== 'ready') {
    if (typeof readiness === 'object') {
      await sidecar.drained();
      complain(`the sidecar exited with ${describeExit(readiness)} before it was ready`);
      return exitStatus(readiness) || 1;
    }
    if (readiness === 'timeout') complain(`the sidecar's HTTP API did not become ready in time; stopping it`);
    await sidecar.stop(sidecarGraceMs);
    await sidecar.drained();
    return readiness === 'interrupted' ? 128 + osConstants.signals[relay.first ?? 'SIGTERM'] : 1;
  }

  say(`the sidecar is ready; starting the app: ${command.map(quoteForDisplay).join(' ')}`);
  let app: Supervised;
  try {
    app = await Supervised.start('the app', '== APP == ', command[0]!, command.slice(1), {
      env: appEnvironment(options, env),
      stdio: ['inherit', 'pipe', 'pipe'],
    });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'command not found' : (err as Error).message;
    complain(`cannot start the app ${JSON.stringify(command[0])}: ${reason}; stopping the sidecar`);
    await sidecar.stop(sidecarGraceMs);
    await sidecar.drained();
    return 1;
  }
  relay.forwardTo(app);
  // A signal that came while the app was being started.
  if (relay.first) app.signal(relay.first);

  const first = await Promise.race([
    app.exited.then((exit) => ({ who: app, exit })),
    sidecar.exited.then((exit) => ({ who: sidecar, exit })),
  ]);
  if (first.who === sidecar) {
    await sidecar.drained();
    complain(`the sidecar exited with ${describeExit(first.exit)} while the app was running; stopping the app`);
    await app.stop(APP_STOP_GRACE_MS);
    await app.drained();
    return exitStatus(first.exit) || 1;
  }

  await app.drained();
  // Further signals go to the sidecar now, while it drains.
  relay.forwardTo(sidecar);
  const sidecarExit = await sidecar.stop(sidecarGraceMs);
  await sidecar.drained();
  if (sidecarExit.code !== 0 && sidecarExit.signal !== 'SIGTERM') {
    complain(`the sidecar exited with ${describeExit(sidecarExit)}`);
  }
  return exitStatus(first.exit);
}
