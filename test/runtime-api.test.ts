import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { CommunicationProtocolEnum, DaprClient, HttpMethod } from '@dapr/dapr';
import { startApp, type TestApp } from './support/apps.js';
import { closeHttpAgent, http, json } from './support/http.js';
import { componentYaml } from './support/resources.js';
import { runSidecarCli, startSidecar, tempDir, type SidecarProcess } from './support/sidecar.js';

describe('runtime API: health, metadata, shutdown', () => {
  const registry = tempDir('runtime');
  const resources = tempDir('runtime-res');
  let app: TestApp | null = null;
  let sidecar: SidecarProcess;
  let appPort = 0;

  before(async () => {
    writeFileSync(
      join(resources.path, 'components.yaml'),
      componentYaml({ name: 'statestore', type: 'state.in-memory' }, { name: 'elsewhere', type: 'state.in-memory', scopes: ['someone-else'] }),
    );
    // Reserve a port for the app but do not listen yet: the sidecar must answer before the app is up.
    const probe = await startApp();
    appPort = probe.port;
    await probe.close();
    sidecar = await startSidecar({ appId: 'rt', appPort, registryDir: registry.path, args: ['--resources-path', resources.path] });
  });

  after(async () => {
    await sidecar?.stop('SIGKILL');
    await app?.close();
    closeHttpAgent();
    registry.remove();
    resources.remove();
  });

  it('answers metadata and outbound health before the app is reachable, and healthz once it is', async () => {
    assert.equal((await http(sidecar.url('/v1.0/healthz/outbound'))).status, 204);
    const notReady = await http(sidecar.url('/v1.0/healthz'));
    assert.equal(notReady.status, 500);
    assert.equal((json(notReady) as { errorCode: string }).errorCode, 'ERR_HEALTH_NOT_READY');
    assert.equal((await http(sidecar.url('/v1.0/metadata'))).status, 200);
    app = await startApp(undefined, appPort);
    const deadline = Date.now() + 5000;
    let status = 0;
    while (Date.now() < deadline && (status = (await http(sidecar.url('/v1.0/healthz'))).status) !== 204) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(status, 204);
    const mismatch = await http(sidecar.url('/v1.0/healthz?appid=other'));
    assert.equal((json(mismatch) as { errorCode: string }).errorCode, 'ERR_HEALTH_APPID_NOT_MATCH');
  });

  it('reports id, version, components in scope, ports and app connection in /v1.0/metadata', async () => {
    const res = await http(sidecar.url('/v1.0/metadata'));
    assert.equal(res.headers['content-type'], 'application/json');
    const body = json(res) as Record<string, any>;
    assert.equal(body.id, 'rt');
    assert.match(body.runtimeVersion, /^1\.\d+\.\d+/);
    assert.equal(body.extended.daprRuntimeVersion, body.runtimeVersion);
    assert.equal(body.extended.httpPort, String(sidecar.ports.http));
    assert.equal(body.extended.grpcPort, String(sidecar.ports.grpc));
    assert.equal(body.extended.internalGrpcPort, String(sidecar.ports.internalGrpc));
    assert.deepEqual(body.components.map((c: { name: string }) => c.name), ['statestore']);
    assert.equal(body.components[0].type, 'state.in-memory');
    assert.deepEqual(body.appConnectionProperties, { port: appPort, protocol: 'http', channelAddress: '127.0.0.1' });
    assert.equal(body.actorRuntime.runtimeStatus, 'DISABLED');
  });

  it('stores PUT /v1.0/metadata/{key} values in extended', async () => {
    const put = await http(sidecar.url('/v1.0/metadata/myKey'), { method: 'PUT', headers: { 'content-type': 'text/plain' }, body: 'my value' });
    assert.equal(put.status, 204);
    const body = json(await http(sidecar.url('/v1.0/metadata'))) as { extended: Record<string, string> };
    assert.equal(body.extended.myKey, 'my value');
  });

  it('serves GetMetadata and InvokeService to the official SDK over gRPC, and UNIMPLEMENTED for the rest', async () => {
    const client = new DaprClient({
      daprHost: '127.0.0.1',
      daprPort: String(sidecar.ports.grpc),
      communicationProtocol: CommunicationProtocolEnum.GRPC,
      logger: { level: 0 as never },
    });
    const metadata = await client.metadata.get();
    assert.equal(metadata.id, 'rt');
    assert.ok(metadata.components.some((c) => c.name === 'statestore'));
    await client.metadata.set('fromGrpc', 'set over gRPC');
    const extended = (json(await http(sidecar.url('/v1.0/metadata'))) as { extended: Record<string, string> }).extended;
    assert.equal(extended.fromGrpc, 'set over gRPC');
    const answer = await client.invoker.invoke('rt', 'echo/path', HttpMethod.POST, { hello: 'world' });
    assert.deepEqual(answer, { hello: 'world' });
    await client.stop();

    const raw = new grpc.Client(`127.0.0.1:${sidecar.ports.grpc}`, grpc.credentials.createInsecure());
    // A Dapr method no building block serves yet, and one the service does not have at all.
    for (const method of ['TryLockAlpha1', 'NoSuchMethod']) {
      const code = await new Promise<number>((resolve) => {
        raw.makeUnaryRequest(`/dapr.proto.runtime.v1.Dapr/${method}`, (x: Buffer) => x, (x: Buffer) => x, Buffer.alloc(0), (err) => resolve(err?.code ?? 0));
      });
      assert.equal(code, grpc.status.UNIMPLEMENTED, method);
    }
    raw.close();
  });

  it('shuts down on POST /v1.0/shutdown', async () => {
    const res = await http(sidecar.url('/v1.0/shutdown'), { method: 'POST' });
    assert.equal(res.status, 204);
    assert.equal(await sidecar.exited, 0);
  });
});

describe('gRPC Shutdown', () => {
  it('stops the sidecar gracefully when the SDK asks over gRPC', async () => {
    const registry = tempDir('grpc-shutdown');
    const sidecar = await startSidecar({ appId: 'stopper', registryDir: registry.path });
    try {
      const client = new DaprClient({
        daprHost: '127.0.0.1',
        daprPort: String(sidecar.ports.grpc),
        communicationProtocol: CommunicationProtocolEnum.GRPC,
        logger: { level: 0 as never },
      });
      await client.sidecar.shutdown();
      assert.equal(await sidecar.exited, 0);
      assert.match(sidecar.output(), /shutdown complete/);
    } finally {
      await sidecar.stop('SIGKILL');
      registry.remove();
    }
  });
});

describe('API token', () => {
  it('requires dapr-api-token everywhere but the health endpoints, and strips it before the app', async () => {
    const registry = tempDir('token');
    const app = await startApp();
    const sidecar = await startSidecar({ appId: 'locked', appPort: app.port, registryDir: registry.path, env: { DAPR_API_TOKEN: 's3cret' } });
    try {
      assert.equal((await http(sidecar.url('/v1.0/healthz/outbound'))).status, 204);
      const denied = await http(sidecar.url('/v1.0/metadata'));
      assert.equal(denied.status, 401);
      assert.equal(denied.body.toString(), 'invalid api token');
      const allowed = await http(sidecar.url('/v1.0/invoke/locked/method/x'), { headers: { 'dapr-api-token': 's3cret' } });
      assert.equal(allowed.status, 200);
      assert.equal(app.requests.at(-1)!.headers['dapr-api-token'], undefined);
    } finally {
      await sidecar.stop('SIGKILL');
      await app.close();
      closeHttpAgent();
      registry.remove();
    }
  });
});

describe('start-up failures', () => {
  it('rejects unknown flags and bad values with a clear message', async () => {
    const unknown = await runSidecarCli(['--app-id', 'x', '--no-such-flag']);
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.output, /unknown flag.*no-such-flag/);
    const badPort = await runSidecarCli(['--app-id', 'x', '--app-port', 'abc']);
    assert.notEqual(badPort.code, 0);
    assert.match(badPort.output, /app-port/);
    const badSize = await runSidecarCli(['--max-body-size', '4Xi']);
    assert.notEqual(badSize.code, 0);
    assert.match(badSize.output, /max-body-size/);
  });

  it('names the file, the resource and the reason for bad YAML and unknown component types', async () => {
    const dir = tempDir('badyaml');
    try {
      writeFileSync(join(dir.path, 'broken.yaml'), 'apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata: {name: [oops\n');
      const broken = await runSidecarCli(['--app-id', 'x', '--resources-path', dir.path, '--dapr-http-port', '0', '--dapr-grpc-port', '0', '--metrics-port', '0']);
      assert.equal(broken.code, 1);
      assert.match(broken.output, /broken\.yaml/);
      writeFileSync(
        join(dir.path, 'broken.yaml'),
        'apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: mystery\nspec:\n  type: state.nonexistent\n  version: v1\n',
      );
      const unknownType = await runSidecarCli(['--app-id', 'x', '--resources-path', dir.path, '--dapr-http-port', '0', '--dapr-grpc-port', '0', '--metrics-port', '0']);
      assert.equal(unknownType.code, 1);
      assert.match(unknownType.output, /broken\.yaml/);
      assert.match(unknownType.output, /mystery/);
      assert.match(unknownType.output, /state\.nonexistent/);
    } finally {
      dir.remove();
    }
  });

  it('fails when a port is taken', async () => {
    const registry = tempDir('taken');
    const first = await startSidecar({ appId: 'first', registryDir: registry.path });
    try {
      const second = await runSidecarCli(['--app-id', 'second', '--dapr-http-port', String(first.ports.http), '--dapr-grpc-port', '0', '--metrics-port', '0'], {
        PILLION_REGISTRY_DIR: registry.path,
      });
      assert.equal(second.code, 1);
      assert.match(second.output, /cannot listen/);
    } finally {
      await first.stop('SIGKILL');
      registry.remove();
    }
  });
});
