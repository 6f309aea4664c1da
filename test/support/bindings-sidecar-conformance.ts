// What every binding must give a Dapr app through a running sidecar. Output: the metadata listing, an operation over
// HTTP, gRPC and the official SDK, and daprd's errors for unknown bindings, unsupported operations and malformed
// requests. Input: the app probe and `direction`, `route`, delivery headers, retries under the inbound resiliency
// policy, redelivery of failed events by bindings that have it, and `--app-max-concurrency`.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import { create } from '@bufbuild/protobuf';
import { InvokeBindingRequestSchema, InvokeBindingResponseSchema } from '../../gen/proto/dapr/proto/runtime/v1/binding_pb.js';
import { BindingApp } from './binding-app.js';
import { invokeBinding } from './bindings-client.js';
import { eventually } from './eventually.js';
import { daprUnary } from './grpc.js';
import { http, json, type HttpResult } from './http.js';
import { componentYaml, quickInboundRetryYaml } from './resources.js';
import { withEachSdkClient } from './sdk.js';
import { startSidecar, tempDir, type SidecarProcess } from './sidecar.js';

export interface BindingSample {
  operation: string;
  /** Any JSON value, sent as `data`. */
  data?: unknown;
  metadata?: Record<string, string>;
}

export interface SidecarBindingTarget {
  /** The component type, e.g. `bindings.localstorage`. */
  type: string;
  /** Component metadata for this run; `run` is unique per run, for names on a shared server. */
  metadata(run: string): Record<string, string>;
  skip?(t: TestContext): Promise<boolean>;
  output?: {
    operations: readonly string[];
    /** An operation that succeeds on a fresh component. */
    sample(run: string): BindingSample;
  };
  input?: {
    /**
     * Makes the source produce an event carrying `payload`, e.g. a `create` through the binding's own output side;
     * omitted for sources that produce events on their own (cron), whose events carry no payload.
     */
    trigger?(sidecar: SidecarProcess, name: string, payload: string): Promise<void>;
    /** Whether an event the app failed comes back (a broker's redelivery); cron just fires again. */
    redelivers: boolean;
  };
}

const CASE_TIMEOUT_MS = 60_000;
const BINDING = 'binding';
const RESILIENCY = quickInboundRetryYaml(BINDING);

interface Harness {
  sidecar: SidecarProcess;
  app: BindingApp | null;
  close(): Promise<void>;
}

interface HarnessOptions {
  metadata?: Record<string, string>;
  appRoutes?: readonly string[];
  args?: string[];
  env?: NodeJS.ProcessEnv;
  resiliency?: boolean;
}

export function describeSidecarBindingConformance(target: SidecarBindingTarget): void {
  const run = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  let counter = 0;

  async function harness(options: HarnessOptions = {}): Promise<Harness> {
    const dir = tempDir('binding-conf');
    const resources = join(dir.path, 'resources');
    mkdirSync(resources);
    const metadata = { ...target.metadata(`${run}${++counter}`), ...options.metadata };
    writeFileSync(join(resources, 'binding.yaml'), componentYaml({ name: BINDING, type: target.type, metadata }));
    if (options.resiliency === true) writeFileSync(join(resources, 'resiliency.yaml'), RESILIENCY);
    const app = options.appRoutes === undefined ? null : await new BindingApp(options.appRoutes).start();
    let sidecar: SidecarProcess;
    try {
      sidecar = await startSidecar({
        appId: `binding-${counter}`,
        appPort: app?.port,
        registryDir: dir.path,
        args: ['--resources-path', resources, ...(options.args ?? [])],
        env: options.env,
      });
    } catch (err) {
      await app?.close();
      dir.remove();
      throw err;
    }
    return {
      sidecar,
      app,
      close: async () => {
        await sidecar.stop();
        await app?.close();
        dir.remove();
      },
    };
  }

  async function using(options: HarnessOptions, body: (h: Harness) => Promise<void>): Promise<void> {
    const h = await harness(options);
    try {
      await body(h);
    } finally {
      await h.close();
    }
  }

  const skipped = async (t: TestContext): Promise<boolean> => (target.skip === undefined ? false : target.skip(t));
  const output = target.output;
  const input = target.input;

  describe(`${target.type} through a running sidecar`, { timeout: CASE_TIMEOUT_MS * 8 }, () => {
    it('is listed by the metadata API with its capabilities', async (t) => {
      if (await skipped(t)) return;
      await using({}, async ({ sidecar }) => {
        const metadata = json(await http(sidecar.url('/v1.0/metadata'))) as { components: { name: string; type: string; capabilities?: string[] }[] };
        const listed = metadata.components.find((c) => c.name === BINDING);
        assert.equal(listed?.type, target.type);
        const expected = [...(input === undefined ? [] : ['INPUT_BINDING']), ...(output === undefined ? [] : ['OUTPUT_BINDING'])];
        assert.deepEqual(listed?.capabilities, expected);
      });
    });

    if (output !== undefined) {
      it('runs an operation over HTTP, gRPC and the official SDK', { timeout: CASE_TIMEOUT_MS }, async (t) => {
        if (await skipped(t)) return;
        await using({}, async ({ sidecar }) => {
          const call = output.sample(run);
          const viaHttp = await invokeBinding(sidecar, BINDING, call);
          assert.ok(viaHttp.status === 200 || viaHttp.status === 204, `HTTP answered ${viaHttp.status}: ${viaHttp.body.toString()}`);
          const client = new grpc.Client(`127.0.0.1:${sidecar.ports.grpc}`, grpc.credentials.createInsecure());
          try {
            const viaGrpc = await daprUnary(client, 'InvokeBinding', InvokeBindingRequestSchema, InvokeBindingResponseSchema, create(InvokeBindingRequestSchema, {
              name: BINDING,
              operation: call.operation,
              data: Buffer.from(JSON.stringify(call.data ?? null)),
              metadata: call.metadata ?? {},
            }));
            assert.equal(viaGrpc.code, grpc.status.OK, viaGrpc.details);
          } finally {
            client.close();
          }
          await withEachSdkClient(sidecar, async (sdk) => {
            await sdk.binding.send(BINDING, call.operation, call.data ?? null, call.metadata ?? {});
          });
        });
      });

      it('answers daprd errors for unknown bindings, unsupported operations and malformed requests', async (t) => {
        if (await skipped(t)) return;
        await using({}, async ({ sidecar }) => {
          const unsupported = await invokeBinding(sidecar, BINDING, { operation: 'no-such-operation' });
          assert.equal(unsupported.status, 500);
          assert.deepEqual(json(unsupported), {
            errorCode: 'ERR_INVOKE_OUTPUT_BINDING',
            message: `error when invoke output binding ${BINDING}: binding ${BINDING} does not support operation no-such-operation. supported operations:${output.operations.join(' ')}`,
          });
          const unknown = await invokeBinding(sidecar, 'nobinding', { operation: output.operations[0]! });
          assert.equal(unknown.status, 500);
          assert.deepEqual(json(unknown), {
            errorCode: 'ERR_INVOKE_OUTPUT_BINDING',
            message: 'error when invoke output binding nobinding: couldn\'t find output binding nobinding',
          });
          for (const body of ['{"operation":', '[1,2]', '{"operation":"create","metadata":{"a":{"b":1}}}']) {
            const malformed = await http(sidecar.url(`/v1.0/bindings/${BINDING}`), { method: 'POST', headers: { 'content-type': 'application/json' }, body });
            assert.equal(malformed.status, 400, body);
            assert.equal((json(malformed) as { errorCode: string }).errorCode, 'ERR_MALFORMED_REQUEST', body);
          }
        });
      });

      it('has no output side when direction names input only', async (t) => {
        if (await skipped(t)) return;
        await using({ metadata: { direction: 'input' } }, async ({ sidecar }) => {
          const res = await invokeBinding(sidecar, BINDING, output.sample(run));
          assert.equal(res.status, 500);
          assert.match((json(res) as { message: string }).message, /couldn't find output binding/);
        });
      });
    }

    if (input !== undefined) {
      const produce = async (sidecar: SidecarProcess, payload: string): Promise<void> => {
        await input.trigger?.(sidecar, BINDING, payload);
      };
      const expectedBody = (payload: string): string => (input.trigger === undefined ? '' : payload);
      it('probes the app and posts events to the binding name with JSON content type and the app token', { timeout: CASE_TIMEOUT_MS }, async (t) => {
        if (await skipped(t)) return;
        await using({ appRoutes: [BINDING], env: { APP_API_TOKEN: 'app-token-1' } }, async ({ sidecar, app }) => {
          await eventually(10_000, async () => assert.ok(app!.probes.includes(BINDING)));
          await waitReady(sidecar);
          await produce(sidecar, '{"n":1}');
          const event = await eventually(15_000, async () => {
            const received = app!.eventsFor(BINDING).find((e) => e.body.toString() === expectedBody('{"n":1}'));
            assert.ok(received);
            return received;
          });
          assert.equal(event.headers['content-type'], 'application/json');
          assert.equal(event.headers['dapr-api-token'], 'app-token-1');
        });
      });

      it('does not read a binding the app does not answer the probe for', { timeout: CASE_TIMEOUT_MS }, async (t) => {
        if (await skipped(t)) return;
        await using({ appRoutes: [] }, async ({ sidecar, app }) => {
          await eventually(10_000, async () => assert.ok(app!.probes.includes(BINDING)));
          await waitReady(sidecar);
          // A source with an output side could be asked for an event; it must still not reach the app.
          if (input.trigger !== undefined) {
            const res = await invokeBinding(sidecar, BINDING, { operation: 'create', data: 'ignored' });
            assert.ok(res.status === 200 || res.status === 204);
          }
          await sleep(2500);
          assert.equal(app!.events.length, 0);
        });
      });

      it('skips the probe when direction names the input side, and posts to the route metadata', { timeout: CASE_TIMEOUT_MS }, async (t) => {
        if (await skipped(t)) return;
        // A source triggered through its own output side keeps that side.
        const metadata = { direction: input.trigger === undefined ? 'input' : 'input, output', route: 'custom/route' };
        await using({ metadata, appRoutes: ['custom/route'] }, async ({ sidecar, app }) => {
          await waitReady(sidecar);
          await produce(sidecar, '"routed"');
          await eventually(15_000, async () => assert.ok(app!.eventsFor('custom/route').some((e) => e.body.toString() === expectedBody('"routed"'))));
          assert.deepEqual(app!.probes, []);
        });
      });

      it('retries a failed event under the inbound resiliency policy', { timeout: CASE_TIMEOUT_MS }, async (t) => {
        if (await skipped(t)) return;
        await using({ appRoutes: [BINDING], resiliency: true }, async ({ sidecar, app }) => {
          let failures = 0;
          app!.answer(BINDING, () => (++failures <= 2 ? { status: 500 } : { status: 200 }));
          await waitReady(sidecar);
          await produce(sidecar, '"retried"');
          await eventually(15_000, async () => assert.ok(app!.eventsFor(BINDING).length >= 3));
          const [first, second, third] = app!.eventsFor(BINDING);
          // The two retries carry the same event as the first attempt.
          assert.equal(second!.body.toString(), first!.body.toString());
          assert.equal(third!.body.toString(), first!.body.toString());
          if (input.trigger === undefined) assert.equal(third!.headers['readtimeutc'], first!.headers['readtimeutc']);
        });
      });

      if (input.redelivers) {
        it('has an event the app failed delivered again until the app takes it', { timeout: CASE_TIMEOUT_MS }, async (t) => {
          if (await skipped(t)) return;
          await using({ appRoutes: [BINDING] }, async ({ sidecar, app }) => {
            let failures = 0;
            app!.answer(BINDING, () => (++failures <= 3 ? { status: 500 } : { status: 200 }));
            await waitReady(sidecar);
            await produce(sidecar, '"again"');
            await eventually(30_000, async () => assert.ok(app!.eventsFor(BINDING).filter((e) => e.body.toString() === '"again"').length >= 4));
          });
        });
      }

      it('keeps no more events in flight than --app-max-concurrency', { timeout: CASE_TIMEOUT_MS }, async (t) => {
        if (await skipped(t)) return;
        await using({ appRoutes: [BINDING], args: ['--app-max-concurrency', '1'] }, async ({ sidecar, app }) => {
          let inFlight = 0;
          let peak = 0;
          app!.answer(BINDING, async () => {
            peak = Math.max(peak, ++inFlight);
            await sleep(1500);
            inFlight--;
            return { status: 200 };
          });
          await waitReady(sidecar);
          for (let i = 0; i < 5; i++) await produce(sidecar, `"slow-${i}"`);
          await eventually(20_000, async () => assert.ok(app!.eventsFor(BINDING).length >= (input.trigger === undefined ? 3 : 5)));
          assert.equal(peak, 1);
        });
      });
    }
  });
}

async function waitReady(sidecar: SidecarProcess): Promise<void> {
  await eventually(15_000, async () => {
    const res: HttpResult = await http(sidecar.url('/v1.0/healthz'));
    assert.equal(res.status, 204);
  });
}
