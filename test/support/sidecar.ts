import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const SIDECAR_MAIN = fileURLToPath(new URL('../../proxy/cli/main.js', import.meta.url));

export interface SidecarPorts {
  http: number;
  grpc: number;
  internalGrpc: number;
  metrics: number;
}

export interface SidecarProcess {
  readonly ports: SidecarPorts;
  readonly child: ChildProcess;
  /** Everything the sidecar printed so far. */
  output(): string;
  url(path: string): string;
  /** Sends the signal and resolves with the exit code (or signal name) once the process is gone. */
  stop(signal?: NodeJS.Signals): Promise<number | string>;
  exited: Promise<number | string>;
}

export interface SidecarStartOptions {
  appId: string;
  appPort?: number;
  args?: string[];
  env?: NodeJS.ProcessEnv;
  /** Name-resolution registry shared by the sidecars of one test. */
  registryDir: string;
  timeoutMs?: number;
}

const PORTS_LINE = /API ports: http=(\d+) grpc=(\d+) internal-grpc=(\d+) metrics=(\d+)/;

/** Starts a real sidecar process on free ports and waits until it prints them. */
export function startSidecar(options: SidecarStartOptions): Promise<SidecarProcess> {
  const args = [
    SIDECAR_MAIN,
    '--app-id', options.appId,
    '--dapr-http-port', '0',
    '--dapr-grpc-port', '0',
    '--dapr-internal-grpc-port', '0',
    '--metrics-port', '0',
    '--dapr-listen-addresses', '127.0.0.1',
    ...(options.appPort === undefined ? [] : ['--app-port', String(options.appPort)]),
    ...(options.args ?? []),
  ];
  const child = spawn(process.execPath, args, {
    env: { ...process.env, PILLION_REGISTRY_DIR: options.registryDir, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal ?? -1));
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`sidecar ${options.appId} did not start in time:\n${output}`));
    }, options.timeoutMs ?? 15_000);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const match = PORTS_LINE.exec(output);
      if (match === null) return;
      clearTimeout(timer);
      const ports = { http: Number(match[1]), grpc: Number(match[2]), internalGrpc: Number(match[3]), metrics: Number(match[4]) };
      resolve({
        ports,
        child,
        exited,
        output: () => output,
        url: (path) => `http://127.0.0.1:${ports.http}${path}`,
        stop: (signal = 'SIGTERM') => {
          if (child.exitCode === null && child.signalCode === null) child.kill(signal);
          return exited;
        },
      });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`sidecar ${options.appId} exited with ${code} before it started:\n${output}`));
    });
  });
}

/** Runs the sidecar CLI to completion (for start-up failures): exit code and output. */
export function runSidecarCli(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 15_000): Promise<{ code: number | string; output: string }> {
  const child = spawn(process.execPath, [SIDECAR_MAIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`sidecar CLI did not exit in time:\n${output}`));
    }, timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? signal ?? -1, output });
    });
  });
}

/** A fresh temp directory removed when the returned cleanup runs. */
export function tempDir(prefix: string): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), `pillion-${prefix}-`));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}
