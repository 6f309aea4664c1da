// Input bindings: once the app port is open, each binding the app subscribes to (its `OPTIONS /{route}` probe
// answers 2xx or 405, or `direction` names the input side) starts reading, and each event is POSTed to
// `/{route}` with its metadata as headers. A non-2xx answer fails the event back to the binding, after the
// component's inbound resiliency retries; the binding then retries, has it delivered again or logs it.

import type { BindingEvent, BindingEventHandler, Reading } from '../../components/bindings/bindings.js';
import type { ComponentSet } from '../../components/registry.js';
import { callApp, describeFailure } from '../appchannel/call-app.js';
import type { AppChannel } from '../appchannel/http-pool.js';
import { deliverWithRetries, inboundPolicy } from '../appchannel/inbound-retry.js';
import { isWritableHeader } from '../http/header-safety.js';
import type { Resiliency } from '../resources/index.js';
import { createLogger } from '../runtime/logger.js';
import { bindingSettings } from './binding-settings.js';

const log = createLogger('bindings');

// Handler calls pending at once per binding when --app-max-concurrency leaves it unlimited.
const DEFAULT_MAX_IN_FLIGHT = 64;
const RESERVED_HEADERS = new Set(['content-type', 'content-length', 'host', 'connection', 'transfer-encoding', 'dapr-api-token']);

export interface InputBindingsOptions {
  appChannel: AppChannel;
  /** APP_API_TOKEN, sent as `dapr-api-token`; '' for none. */
  appApiToken: string;
  appMaxConcurrency: number;
  components: ComponentSet;
  resiliency: readonly Resiliency[];
}

type Attempt = { ok: true; body: Uint8Array } | { ok: false; reason: string };

export class InputBindings {
  private readonly readings: { name: string; reading: Reading }[] = [];
  private stopping = false;

  constructor(private readonly options: InputBindingsOptions) {}

  /** Probes the app and starts reading; a binding that fails to start is logged, not fatal (as in daprd). */
  async start(): Promise<void> {
    for (const { component, instance } of this.options.components.ofKind('bindings')) {
      const settings = bindingSettings(component);
      if (instance.input === undefined || !settings.input || this.stopping) continue;
      const name = component.name;
      if (!settings.explicitDirection && !(await this.appSubscribes(name, settings.route))) continue;
      const concurrency = this.options.appMaxConcurrency > 0 ? this.options.appMaxConcurrency : DEFAULT_MAX_IN_FLIGHT;
      try {
        const reading = await instance.input.read(this.handlerFor(name, settings.route), { maxInFlight: concurrency });
        // Shutdown began while reading started: close() has already stopped the others.
        if (this.stopping) {
          await reading.close();
          return;
        }
        this.readings.push({ name, reading });
        log.info(`reading input binding "${name}" into the app's /${settings.route}`);
      } catch (err) {
        log.error(`input binding "${name}" failed to start reading: ${(err as Error).message}`);
      }
    }
  }

  async close(): Promise<void> {
    this.stopping = true;
    const readings = this.readings.splice(0);
    await Promise.all(
      readings.map(({ name, reading }) => reading.close().catch((err: Error) => log.warn(`input binding "${name}": stopping failed: ${err.message}`))),
    );
  }

  private async appSubscribes(name: string, route: string): Promise<boolean> {
    try {
      const res = await callApp(this.options.appChannel, { method: 'OPTIONS', path: `/${route}`, headers: this.baseHeaders(), body: null }, 0);
      if ((res.status >= 200 && res.status <= 299) || res.status === 405) return true;
      log.info(`input binding "${name}" is not read: the app answered ${res.status} to OPTIONS /${route}`);
    } catch (err) {
      log.warn(`input binding "${name}" is not read: probing the app failed: ${describeFailure(err)}`);
    }
    return false;
  }

  private handlerFor(name: string, route: string): BindingEventHandler {
    const { appChannel } = this.options;
    const policy = inboundPolicy(this.options.resiliency, name, 'Bindings');
    const path = `/${route}`;
    return async (event) => {
      const body = event.data;
      const headers = this.eventHeaders(event);
      const result = await deliverWithRetries<Attempt>(policy, {
        attempt: () =>
          callApp(appChannel, { method: 'POST', path, headers, body }, policy?.timeoutMs ?? 0).then(
            (res): Attempt => (res.status >= 200 && res.status <= 299 ? { ok: true, body: res.body } : { ok: false, reason: `the app answered ${res.status}` }),
            (err: unknown): Attempt => ({ ok: false, reason: describeFailure(err) }),
          ),
        failed: (attempt) => !attempt.ok,
        stopped: () => this.stopping,
        onRetry: (attempt) => log.debug(`retrying event of input binding "${name}" (${attempt.ok ? '' : attempt.reason})`),
      });
      if (!result.ok) throw new Error(`event of input binding "${name}" not processed: ${result.reason}`);
      return result.body;
    };
  }

  private baseHeaders(): string[] {
    return this.options.appApiToken === '' ? [] : ['dapr-api-token', this.options.appApiToken];
  }

  private eventHeaders(event: BindingEvent): string[] {
    const headers = ['content-type', 'application/json', ...this.baseHeaders()];
    for (const [name, value] of Object.entries(event.metadata)) {
      if (isWritableHeader(name, value) && !RESERVED_HEADERS.has(name.toLowerCase())) headers.push(name, value);
    }
    return headers;
  }
}
