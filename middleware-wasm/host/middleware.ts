// One http-wasm middleware: a compiled guest, the instance serving new requests, and the rules for replacing it
// (after a fault, when its memory grew too large, or when a new module is swapped in).

import { createLogger, type Logger } from '../../proxy/runtime/logger.js';
import { WasmGuestError } from './errors.js';
import type { HttpExchange } from './exchange.js';
import { compileGuest, WasmLoadError, type CompiledGuest } from './guest-module.js';
import { GuestInstance, type GuestSettings } from './guest-instance.js';
import type { GuestRequest } from './request.js';
import { Feature } from './abi.js';

export interface WasmMiddlewareOptions {
  /** Names the middleware in errors and logs. */
  name?: string;
  /** Bytes handed to the guest by `get_config` (Dapr's `guestConfig`). */
  guestConfig?: Uint8Array;
  /** Fixed clocks and seeded randomness, so a guest behaves the same on every run (Dapr's `strictSandbox`). */
  strictSandbox?: boolean;
  /** An instance whose memory grew past this many bytes is replaced after the request that grew it. */
  maxMemoryBytes?: number;
  logger?: Logger;
}

const EMPTY_CONFIG = new Uint8Array(0);

export class WasmMiddleware {
  private guest: CompiledGuest;
  /** Serves new requests; null only while re-instantiation after a fault keeps failing. */
  private active: GuestInstance | null;
  private readonly settings: GuestSettings;
  private readonly maxMemoryBytes: number;
  private swaps = 0;

  private constructor(guest: CompiledGuest, instance: GuestInstance, settings: GuestSettings, maxMemoryBytes: number) {
    this.guest = guest;
    this.active = instance;
    this.settings = settings;
    this.maxMemoryBytes = maxMemoryBytes;
  }

  /** Compiles `bytes` once and starts the instance that will serve requests. Throws `WasmLoadError`. */
  static async load(bytes: Uint8Array, options: WasmMiddlewareOptions = {}): Promise<WasmMiddleware> {
    const name = options.name ?? 'wasm';
    const settings: GuestSettings = {
      name,
      guestConfig: options.guestConfig ?? EMPTY_CONFIG,
      strictSandbox: options.strictSandbox ?? false,
      logger: options.logger ?? createLogger(`middleware.wasm.${name}`),
    };
    const guest = await compileGuest(bytes, name);
    return new WasmMiddleware(guest, startGuest(guest, settings), settings, options.maxMemoryBytes ?? Number.POSITIVE_INFINITY);
  }

  get name(): string {
    return this.settings.name;
  }

  /** How many times a module was swapped in; lets callers and tests tell generations apart. */
  get generation(): number {
    return this.swaps;
  }

  /**
   * Runs the guest's `handle_request` on `exchange`. When the result's `next` is true the caller runs the rest of
   * the chain (buffering the response if `features` has `buffer_response`), then calls `handleResponse`.
   * Throws `WasmGuestError` when the guest faults; the instance is replaced before the next request.
   */
  handleRequest(exchange: HttpExchange): GuestRequest {
    const instance = this.active ?? this.recoverInstance();
    const request = instance.takeRequest(exchange);
    let ctxNext: bigint;
    try {
      ctxNext = instance.handleRequest(request);
    } catch (err) {
      throw this.fault(instance, 'handle_request', err);
    }
    // The common results compare without BigInt arithmetic, which allocates.
    if (ctxNext === 1n) {
      request.next = true;
    } else if (ctxNext !== 0n) {
      request.next = (ctxNext & 1n) === 1n;
      request.reqCtx = Number((ctxNext >> 32n) & 0xffff_ffffn);
    }
    if (request.next) this.handToNext(request);
    else this.checkMemory(instance);
    return request;
  }

  /**
   * Runs `handle_response` on the instance that saw the request, even if a newer module took over since. The
   * request is over then: its object serves a later request, so the caller must not use it again.
   */
  handleResponse(request: GuestRequest, isError = false): void {
    if (!request.next || request.finished) return;
    const instance = request.instance;
    if (instance.poisoned) {
      throw new WasmGuestError(this.name, 'handle_response', new Error('the guest instance was replaced after a fault in another request'));
    }
    request.responseBodyWrite = null;
    try {
      instance.handleResponse(request, isError);
    } catch (err) {
      throw this.fault(instance, 'handle_response', err);
    }
    instance.releaseRequest(request);
    this.checkMemory(instance);
  }

  /**
   * Swaps in a new module between requests: requests already past `handle_request` finish on the old instance.
   * Throws `WasmLoadError` (or the start-up failure) and keeps the old module when the new one is unusable.
   */
  async reload(bytes: Uint8Array): Promise<void> {
    const guest = await compileGuest(bytes, this.name);
    const instance = startGuest(guest, this.settings);
    this.guest = guest;
    this.active = instance;
    this.swaps++;
    this.settings.logger.info(`wasm middleware "${this.name}": new module loaded`);
  }

  private handToNext(request: GuestRequest): void {
    request.afterNext = true;
    // Without buffer_request, what the guest read is gone for the next handler, as on a streamed body.
    if (request.requestBodyOffset > 0 && request.requestBodyWrite === null && (request.features & Feature.bufferRequest) === 0) {
      request.exchange.requestBody = request.exchange.requestBody.subarray(request.requestBodyOffset);
    }
  }

  private checkMemory(instance: GuestInstance): void {
    if (instance !== this.active || instance.memory.byteLength <= this.maxMemoryBytes) return;
    this.settings.logger.warn(
      `wasm middleware "${this.name}": guest memory grew to ${instance.memory.byteLength} bytes (limit ${this.maxMemoryBytes}); starting a fresh instance`,
    );
    this.replaceActive();
  }

  private fault(instance: GuestInstance, phase: 'handle_request' | 'handle_response', cause: unknown): WasmGuestError {
    const error = new WasmGuestError(this.name, phase, cause);
    this.settings.logger.error(`${error.message}; the request fails and the guest is re-instantiated`);
    instance.poisoned = true;
    if (instance === this.active) this.replaceActive();
    return error;
  }

  /** Replaces the active instance now, so the next request does not pay for it; a failure is retried then. */
  private replaceActive(): void {
    try {
      this.active = this.instantiate();
    } catch (err) {
      this.active = null;
      this.settings.logger.error(`wasm middleware "${this.name}": re-instantiation failed: ${(err as Error).message}`);
    }
  }

  private recoverInstance(): GuestInstance {
    try {
      return (this.active = this.instantiate());
    } catch (err) {
      throw new WasmGuestError(this.name, 'instantiate', err);
    }
  }

  private instantiate(): GuestInstance {
    return new GuestInstance(this.guest, this.settings);
  }
}

/** The first instance of a module: if it cannot start, the module is unusable and loading fails. */
function startGuest(guest: CompiledGuest, settings: GuestSettings): GuestInstance {
  try {
    return new GuestInstance(guest, settings);
  } catch (err) {
    throw new WasmLoadError(`wasm middleware "${settings.name}": the guest failed to start: ${(err as Error).message}`, { cause: err });
  }
}
