// The output-bindings API's own behaviour, whatever the binding: how `data` is encoded on its way to the binding,
// trace context in the binding's metadata, a body that is not JSON, and a bad `direction` at start-up. Every binding's operations are tested
// in its own file and by the conformance suite (bindings-conformance.test.ts).

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { invokeBinding } from './support/bindings-client.js';
import { closeHttpAgent, http } from './support/http.js';
import { componentYaml } from './support/resources.js';
import { runSidecarCli, startSidecar, tempDir, type SidecarProcess } from './support/sidecar.js';

describe('output bindings API', () => {
  const dir = tempDir('bindings-api');
  const files = join(dir.path, 'files');
  const received: { headers: IncomingHttpHeaders; body: string }[] = [];
  let target: Server;
  let sidecar: SidecarProcess;

  before(async () => {
    target = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        received.push({ headers: req.headers, body });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
    const resources = join(dir.path, 'resources');
    mkdirSync(resources);
    writeFileSync(
      join(resources, 'bindings.yaml'),
      componentYaml(
        { name: 'files', type: 'bindings.localstorage', metadata: { rootPath: files } },
        { name: 'web', type: 'bindings.http', metadata: { url: `http://127.0.0.1:${(target.address() as AddressInfo).port}` } },
      ),
    );
    sidecar = await startSidecar({ appId: 'binder', registryDir: dir.path, args: ['--resources-path', resources] });
  });

  after(async () => {
    await sidecar?.stop();
    target?.closeAllConnections();
    await new Promise((resolve) => target?.close(resolve));
    closeHttpAgent();
    dir.remove();
  });

  const stored = async (data: unknown, fileName: string): Promise<string> => {
    const res = await invokeBinding(sidecar, 'files', { operation: 'create', data, metadata: { fileName } });
    assert.equal(res.status, 200, res.body.toString());
    return readFileSync(join(files, fileName), 'utf8');
  };

  it('hands data to the binding as Go encodes JSON: keys sorted, HTML characters escaped', async () => {
    assert.equal(await stored({ b: 1, a: '<&>', c: [true, null] }, 'object.json'), '{"a":"\\u003c\\u0026\\u003e","b":1,"c":[true,null]}');
    assert.equal(await stored(42.5, 'number.json'), '42.5');
    // A JSON string arrives quoted, and localstorage un-quotes it.
    assert.equal(await stored('plain text', 'string.txt'), 'plain text');
  });

  it('hands an absent data field to the binding as null', async () => {
    const res = await http(sidecar.url('/v1.0/bindings/web'), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ operation: 'post' }),
    });
    assert.equal(res.status, 200);
    assert.equal(received.at(-1)?.body, 'null');
  });

  it('passes the caller\'s trace context to the binding in its metadata', async () => {
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const res = await http(sidecar.url('/v1.0/bindings/web'), {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent, tracestate: 'vendor=1' },
      body: JSON.stringify({ operation: 'get' }),
    });
    assert.equal(res.status, 200);
    assert.equal(received.at(-1)?.headers.traceparent, traceparent);
    assert.equal(received.at(-1)?.headers.tracestate, 'vendor=1');
  });

  it('answers 400 ERR_MALFORMED_REQUEST for a body that is not JSON', async () => {
    const bad = await http(sidecar.url('/v1.0/bindings/files'), { method: 'POST', body: 'not json' });
    assert.equal(bad.status, 400);
    assert.match(bad.body.toString(), /"errorCode":"ERR_MALFORMED_REQUEST"/);
  });
});

describe('binding direction at start-up', () => {
  it('stops the sidecar on a direction that is neither input nor output, naming the component', async () => {
    const dir = tempDir('bindings-direction');
    try {
      writeFileSync(join(dir.path, 'binding.yaml'), componentYaml({ name: 'sideways', type: 'bindings.localstorage', metadata: { rootPath: join(dir.path, 'files'), direction: 'sideways' } }));
      const { code, output } = await runSidecarCli(['--app-id', 'dir', '--dapr-http-port', '0', '--dapr-grpc-port', '0', '--dapr-internal-grpc-port', '0', '--metrics-port', '0', '--resources-path', dir.path]);
      assert.notEqual(code, 0);
      assert.match(output.replaceAll('\\"', '"'), /component "sideways": metadata "direction" must be "input", "output" or "input, output", got "sideways"/);
    } finally {
      dir.remove();
    }
  });
});
