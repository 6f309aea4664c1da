// One live instance of a guest: its memory, the host functions bound to it, and the request it is serving.

import type { Logger, LogLevel } from '../../proxy/runtime/logger.js';
import { HOST_MODULE } from './abi.js';
import { GuestMemory } from './guest-memory.js';
import type { CompiledGuest } from './guest-module.js';
import { httpHandlerImports, type HandlerHost } from './http-handler-imports.js';
import type { HttpExchange } from './exchange.js';
import { GuestRequest } from './request.js';
import { ProcExit, WASI_MODULE, wasiImports, type WasiHost, type WasiOutput } from './wasi.js';

export interface GuestSettings {
  readonly name: string;
  readonly guestConfig: Uint8Array;
  readonly strictSandbox: boolean;
  readonly logger: Logger;
}

export class GuestInstance implements HandlerHost, WasiHost {
  readonly memory: GuestMemory;
  current: GuestRequest | null = null;
  features = 0;
  /** Set after a trap: the guest's memory may be half-updated, so nothing more runs on this instance. */
  poisoned = false;
  /** See `CompiledGuest.handlesResponses`: when false, `handleResponse` does not call into the guest. */
  readonly handlesResponses: boolean;
  private readonly handleRequestExport: () => bigint;
  private readonly handleResponseExport: (reqCtx: number, isError: number) => void;
  private readonly output: WasiOutput;
  /** Set while `_start` runs, so that a guest refusing to start can be quoted in the load error. */
  private startupLog: StartupLog | null = null;
  /** The last request that finished, to serve the next one. */
  private spareRequest: GuestRequest | null = null;

  /** Instantiates synchronously and runs the guest's `_start` or `_initialize`; throws if either fails. */
  constructor(
    guest: CompiledGuest,
    private readonly settings: GuestSettings,
  ) {
    const module = guest.module;
    this.handlesResponses = guest.handlesResponses;
    const wasi = wasiImports(module, this);
    this.output = wasi.output;
    const instance = new WebAssembly.Instance(module, {
      [HOST_MODULE]: httpHandlerImports(this),
      [WASI_MODULE]: wasi.imports,
    });
    const exports = instance.exports;
    this.memory = new GuestMemory(exports['memory'] as WebAssembly.Memory);
    this.handleRequestExport = exports['handle_request'] as () => bigint;
    this.handleResponseExport = exports['handle_response'] as (reqCtx: number, isError: number) => void;
    this.start(exports);
  }

  get guestConfig(): Uint8Array {
    return this.settings.guestConfig;
  }

  get logger(): Logger {
    return this.startupLog ?? this.settings.logger;
  }

  get strictSandbox(): boolean {
    return this.settings.strictSandbox;
  }

  /** The host-side state for a new request on `exchange`. */
  takeRequest(exchange: HttpExchange): GuestRequest {
    const spare = this.spareRequest;
    if (spare === null) return new GuestRequest(exchange, this);
    this.spareRequest = null;
    spare.reuse(exchange);
    return spare;
  }

  /** `request`, which ran on this instance, is over: nothing refers to it any more. */
  releaseRequest(request: GuestRequest): void {
    request.finish();
    this.spareRequest = request;
  }

  /** Runs `handle_request` for `request`; returns the raw `ctx_next`. */
  handleRequest(request: GuestRequest): bigint {
    this.current = request;
    try {
      return this.handleRequestExport();
    } finally {
      this.current = null;
      this.output.flush();
    }
  }

  handleResponse(request: GuestRequest, isError: boolean): void {
    if (!this.handlesResponses) return;
    this.current = request;
    try {
      this.handleResponseExport(request.reqCtx, isError ? 1 : 0);
    } finally {
      this.current = null;
      this.output.flush();
    }
  }

  private start(exports: WebAssembly.Exports): void {
    // A command (`_start`) runs main once; a reactor (`_initialize`) sets itself up. Both register handlers.
    const entry = (exports['_start'] ?? exports['_initialize']) as (() => void) | undefined;
    if (entry === undefined) return;
    const startupLog = new StartupLog(this.settings.logger);
    this.startupLog = startupLog;
    let failure: unknown = null;
    try {
      entry();
    } catch (err) {
      // TinyGo's main ends with proc_exit(0): the guest finished starting, it did not fail.
      if (!(err instanceof ProcExit && err.code === 0)) failure = err;
    } finally {
      this.output.flush();
      this.startupLog = null;
    }
    if (failure !== null) throw startupLog.explain(failure);
  }
}

/**
 * The log while a guest starts: passes every line on and keeps the warnings and errors, among them a
 * `refuseToStart` reason, an AssemblyScript abort or a TinyGo panic on stderr. A trap alone says only
 * "unreachable"; the start-up failure quotes what the guest said before it.
 */
class StartupLog implements Logger {
  private readonly problems: string[] = [];

  constructor(private readonly target: Logger) {}

  debug(msg: string): void {
    this.target.debug(msg);
  }

  info(msg: string): void {
    this.target.info(msg);
  }

  warn(msg: string): void {
    this.problems.push(msg);
    this.target.warn(msg);
  }

  error(msg: string): void {
    this.problems.push(msg);
    this.target.error(msg);
  }

  /** Warnings and errors are always wanted here, whatever the log level lets through. */
  enabled(level: LogLevel): boolean {
    return level === 'warn' || level === 'error' || this.target.enabled(level);
  }

  /** `failure`, with what the guest reported while starting, if anything. */
  explain(failure: unknown): Error {
    const cause = failure instanceof Error ? failure : new Error(String(failure));
    if (this.problems.length === 0) return cause;
    return new Error(`${cause.message}; the guest reported: ${this.problems.join('; ')}`, { cause });
  }
}
