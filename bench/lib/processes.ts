import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { findExecutable } from './executables.js';

export interface LaunchSpec {
  /** Label used in logs and error messages. */
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  /** taskset CPU list (e.g. "0" or "0,1"); ignored when taskset is absent. */
  readonly cpus?: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Opens a Node IPC channel (the command must be a Node script run by node). */
  readonly ipc?: boolean;
  /** Exiting on its own is normal for this process (a load generator run). */
  readonly exitsOnItsOwn?: boolean;
}

export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** taskset, when installed; without it nothing is pinned. */
export const tasksetPath: string | undefined = findExecutable('taskset');
// setpriv sets a parent-death signal before exec'ing the real command, so a
// child is killed by the kernel even when this process dies by SIGKILL.
const setprivPath = findExecutable('setpriv');

const outputTailBytes = 8192;
const stopGraceMs = 3000;

const live = new Set<ManagedProcess>();

/** A child process with its recent output kept for error reports. */
export class ManagedProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  readonly exited: Promise<ExitStatus>;
  private exitStatus: ExitStatus | undefined;
  private stopping = false;
  private tail = '';

  constructor(spec: LaunchSpec, onUnexpectedExit: (process: ManagedProcess, status: ExitStatus) => void) {
    this.name = spec.name;
    const prefix: string[] = [];
    if (setprivPath !== undefined) prefix.push(setprivPath, '--pdeathsig', 'KILL', '--');
    if (spec.cpus !== undefined && tasksetPath !== undefined) prefix.push(tasksetPath, '-c', spec.cpus);
    const argv = [...prefix, spec.command, ...spec.args];
    const stdio: StdioOptions = spec.ipc === true ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'];
    this.child = spawn(argv[0]!, argv.slice(1), { cwd: spec.cwd, env: spec.env ?? process.env, stdio });
    this.child.on('error', (error) => this.keep(`${error.message}\n`));
    if (this.child.pid === undefined) {
      throw new Error(`${spec.name}: could not spawn ${argv[0]}`);
    }
    this.pid = this.child.pid;
    this.child.stdout?.on('data', (chunk: Buffer) => this.keep(chunk));
    this.child.stderr?.on('data', (chunk: Buffer) => this.keep(chunk));
    live.add(this);
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        live.delete(this);
        this.exitStatus = { code, signal };
        if (!this.stopping && spec.exitsOnItsOwn !== true) onUnexpectedExit(this, this.exitStatus);
        resolve(this.exitStatus);
      });
    });
  }

  get running(): boolean {
    return this.exitStatus === undefined;
  }

  /** The last few KiB the process wrote to stdout/stderr. */
  output(): string {
    return this.tail;
  }

  /** SIGTERM, then SIGKILL if it has not exited within the grace period. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (!this.running) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), stopGraceMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** Immediate, synchronous kill for use from an 'exit' handler. */
  killNow(): void {
    this.stopping = true;
    if (this.running) this.child.kill('SIGKILL');
  }

  private keep(chunk: Buffer | string): void {
    this.tail = (this.tail + String(chunk)).slice(-outputTailBytes);
  }
}

export class ProcessCrashError extends Error {
  constructor(
    readonly processName: string,
    status: ExitStatus,
    output: string,
  ) {
    const how = status.signal !== null ? `signal ${status.signal}` : `code ${status.code}`;
    super(`${processName} exited unexpectedly (${how})${output === '' ? '' : `; last output:\n${output.trimEnd()}`}`);
    this.name = 'ProcessCrashError';
  }
}

/**
 * The processes of one benchmark run. Any member that exits without being
 * asked to fails whatever is awaited through guard(), so a crash stops the run
 * instead of being measured as a slow path.
 */
export class ProcessGroup {
  private readonly members: ManagedProcess[] = [];
  private rejectCrashed!: (error: Error) => void;
  private readonly crashed: Promise<never>;

  constructor() {
    this.crashed = new Promise<never>((_, reject) => {
      this.rejectCrashed = reject;
    });
    // The rejection is observed through guard(); this only keeps it from being reported as unhandled.
    this.crashed.catch(() => undefined);
  }

  launch(spec: LaunchSpec): ManagedProcess {
    const member = new ManagedProcess(spec, (process, status) => {
      this.rejectCrashed(new ProcessCrashError(process.name, status, process.output()));
    });
    this.members.push(member);
    return member;
  }

  /** Settles like work, unless a member crashes first. */
  guard<T>(work: Promise<T>): Promise<T> {
    return Promise.race([work, this.crashed]);
  }

  /** Stops every member, most recently started first. */
  async close(): Promise<void> {
    const members = this.members.splice(0).reverse();
    for (const member of members) await member.stop();
  }
}

/** Kills every process still running; safe to call from an 'exit' handler. */
export function killAllNow(): void {
  for (const member of live) member.killNow();
}

process.on('exit', killAllNow);
