import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { BindingInvokeError, type Binding, type InvokeResponse } from '../components/bindings/bindings.js';
import { canonicalHeaderName } from '../components/bindings/http/http-binding.js';
import { invokeBinding, responseMetadata } from './support/bindings-client.js';
import { createComponent } from './support/components.js';
import { http } from './support/http.js';
import { componentYaml } from './support/resources.js';
import { startSidecar, tempDir, type SidecarProcess } from './support/sidecar.js';

const run = randomBytes(4).toString('hex');
const encoder = new TextEncoder();
const text = (data: Uint8Array | undefined): string => Buffer.from(data ?? []).toString('utf8');

interface Received {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
  clientCertificate?: string;
}

/**
 * The remote end of the binding, with these routes under / and /api: `/status/<n>` answers n; `/slow` never
 * answers; `/big/<n>` sends n bytes (`?chunked` without a length); `/headers` sends repeated and oddly cased
 * headers; anything else echoes the body.
 */
class TestServer {
  readonly received: Received[] = [];
  readonly connections = new Set<Socket>();
  private server!: Server;

  async start(server: Server): Promise<this> {
    this.server = server;
    server.on('request', (req: IncomingMessage, res: ServerResponse) => this.serve(req, res));
    server.on('connection', (socket: Socket) => this.connections.add(socket));
    server.on('secureConnection', (socket: Socket) => this.connections.add(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return this;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private serve(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const peer = (req.socket as Partial<TLSSocket>).getPeerCertificate?.();
      this.received.push({
        method: req.method!,
        url: req.url!,
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        ...(peer?.subject === undefined ? {} : { clientCertificate: String(peer.subject.CN) }),
      });
      const url = new URL(req.url!, 'http://server');
      // The bindings' base URLs end in /api or not: the routes are the same.
      const route = url.pathname.replace(/^\/api(?=\/)/, '');
      const status = /^\/status\/(\d+)$/.exec(route);
      const big = /^\/big\/(\d+)$/.exec(route);
      if (status !== null) {
        res.writeHead(Number(status[1]), { 'content-type': 'text/plain' }).end(`status ${status[1]}`);
      } else if (route === '/slow') {
        // Never answered: the binding's timeout has to end the exchange.
      } else if (big !== null) {
        const body = Buffer.alloc(Number(big[1]), 'x');
        res.writeHead(200, url.searchParams.has('chunked') ? {} : { 'content-length': body.length });
        res.end(body);
      } else if (route === '/headers') {
        res.setHeader('x-multi-word-header', 'one');
        res.setHeader('set-cookie', ['a=1', 'b=2']);
        res.setHeader('ETAG', '"v1"');
        res.writeHead(201, 'Made It', { 'content-type': 'text/plain' }).end('made');
      } else {
        res.writeHead(200, { 'x-echo-method': req.method!, 'content-type': req.headers['content-type'] ?? 'text/plain' });
        res.end(Buffer.concat(chunks));
      }
    });
  }
}

async function createHttpBinding(metadata: Record<string, string>): Promise<Binding> {
  const { instance } = await createComponent('bindings', 'bindings.http', metadata, { name: 'http-under-test' });
  return instance;
}

function invoke(binding: Binding, operation: string, data: string | undefined, metadata: Record<string, string> = {}): Promise<InvokeResponse | null> {
  return binding.output!.invoke({ operation, data: encoder.encode(data ?? 'null'), metadata });
}

describe('bindings.http', () => {
  const server = new TestServer();
  let base = '';
  let binding: Binding;
  before(async () => {
    await server.start(createHttpServer());
    base = `http://127.0.0.1:${server.port}`;
    binding = await createHttpBinding({ url: `${base}/api` });
  });
  after(async () => {
    await binding.close?.();
    await server.close();
  });
  const last = (): Received => server.received.at(-1)!;

  test('is an output binding with every method as an operation, create being POST', async () => {
    const { instance, info } = await createComponent('bindings', 'bindings.http', { url: base });
    await instance.close?.();
    assert.deepEqual(info.capabilities, ['OUTPUT_BINDING']);
    assert.deepEqual([...instance.output!.operations()].sort(), ['create', 'delete', 'get', 'head', 'options', 'patch', 'post', 'put', 'trace']);
  });

  test('sends each operation as its method; only POST, PUT and PATCH carry the data', async () => {
    const expected: Array<[string, string, boolean]> = [
      ['get', 'GET', false],
      ['head', 'HEAD', false],
      ['post', 'POST', true],
      ['create', 'POST', true],
      ['put', 'PUT', true],
      ['patch', 'PATCH', true],
      ['delete', 'DELETE', false],
      ['options', 'OPTIONS', false],
      ['trace', 'TRACE', false],
    ];
    for (const [operation, method, withBody] of expected) {
      const response = await invoke(binding, operation, '{"n":1}');
      assert.equal(last().method, method, operation);
      assert.equal(last().url, '/api', operation);
      assert.equal(last().body, withBody ? '{"n":1}' : '', operation);
      assert.equal(response?.metadata.statusCode, '200', operation);
      assert.equal(response?.metadata.status, '200 OK', operation);
      assert.equal(text(response?.data), withBody ? '{"n":1}' : '', operation);
    }
  });

  test('a JSON string is sent un-quoted; other JSON as it is', async () => {
    await invoke(binding, 'post', '"hello \\"world\\""');
    assert.equal(last().body, 'hello "world"');
    await invoke(binding, 'post', '[1,"two"]');
    assert.equal(last().body, '[1,"two"]');
  });

  test('the path is appended to the URL with one slash between, query included', async () => {
    await invoke(binding, 'get', undefined, { path: '/things/1234' });
    assert.equal(last().url, '/api/things/1234');
    await invoke(binding, 'get', undefined, { path: 'search?lastName=Jones' });
    assert.equal(last().url, '/api/search?lastName=Jones');
    const trailing = await createHttpBinding({ url: `${base}/api/` });
    await invoke(trailing, 'get', undefined, { path: '//x' });
    assert.equal(last().url, '/api/x');
    await trailing.close?.();
  });

  test('a path that climbs out of the base URL is refused', async () => {
    const count = server.received.length;
    for (const path of ['../admin', '/a/../../admin', '%2e%2e/admin', '/a/..']) {
      await assert.rejects(invoke(binding, 'get', undefined, { path }), /"path" must not contain "\.\." segments/, path);
    }
    assert.equal(server.received.length, count);
  });

  test('other request metadata is sent as headers, traceparent included; Content-Type defaults to JSON', async () => {
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    await invoke(binding, 'post', '{}', { 'X-Custom': 'custom value', traceparent, lowercase: 'sent too' });
    assert.equal(last().headers['x-custom'], 'custom value');
    assert.equal(last().headers['traceparent'], traceparent);
    assert.equal(last().headers['lowercase'], 'sent too');
    assert.equal(last().headers['content-type'], 'application/json; charset=utf-8');
    assert.equal(last().headers['path'], undefined);
    const response = await invoke(binding, 'put', 'plain', { 'Content-Type': 'text/plain' });
    assert.equal(last().headers['content-type'], 'text/plain');
    assert.equal(response?.metadata['Content-Type'], 'text/plain');
    await invoke(binding, 'get', undefined);
    assert.equal(last().headers['content-type'], undefined, 'no body, no content type');
  });

  test('a metadata item that is no valid header is refused', async () => {
    await assert.rejects(invoke(binding, 'get', undefined, { 'bad header': 'x' }), /request metadata "bad header" cannot be sent as a header/);
    await assert.rejects(invoke(binding, 'get', undefined, { 'X-Split': 'a\r\nInjected: yes' }), /request metadata "X-Split" cannot be sent as a header/);
  });

  test('the security token is sent in its header on every request, and the caller cannot replace it', async () => {
    const secured = await createHttpBinding({ url: base, securityToken: 's3cret-token', securityTokenHeader: 'X-Api-Key' });
    await invoke(secured, 'get', undefined);
    assert.equal(last().headers['x-api-key'], 's3cret-token');
    await invoke(secured, 'post', '{}', { 'x-api-key': 'forged' });
    assert.equal(last().headers['x-api-key'], 's3cret-token');
    await secured.close?.();
  });

  test('response metadata: status, and the headers as Go names them, repeated ones joined', async () => {
    const response = await invoke(binding, 'get', undefined, { path: '/headers' });
    assert.equal(text(response?.data), 'made');
    const metadata = response!.metadata;
    assert.equal(metadata.statusCode, '201');
    assert.equal(metadata.status, '201 Made It');
    assert.equal(metadata['X-Multi-Word-Header'], 'one');
    assert.equal(metadata['Set-Cookie'], 'a=1, b=2');
    assert.equal(metadata['Etag'], '"v1"');
    assert.equal(metadata['Content-Type'], 'text/plain');
    assert.equal(metadata['Transfer-Encoding'], undefined, 'framing is not reported, as in Go');
    assert.equal(canonicalHeaderName('x-REQUEST-id'), 'X-Request-Id');
    assert.equal(canonicalHeaderName('bad header'), 'bad header');
  });

  test('a non-2xx answer fails with its status, and the response metadata, unless errorIfNot2XX is false', async () => {
    await assert.rejects(invoke(binding, 'get', undefined, { path: '/status/404' }), (err: Error) => {
      assert.ok(err instanceof BindingInvokeError);
      assert.equal(err.message, 'received status code 404');
      assert.equal(err.metadata.statusCode, '404');
      assert.equal(err.metadata.status, '404 Not Found');
      return true;
    });
    await assert.rejects(invoke(binding, 'post', '{}', { path: '/status/503' }), /received status code 503/);
    const lenient = await createHttpBinding({ url: base, errorIfNot2XX: 'false' });
    const response = await invoke(lenient, 'get', undefined, { path: '/status/404' });
    assert.equal(response?.metadata.statusCode, '404');
    assert.equal(text(response?.data), 'status 404');
    await lenient.close?.();
  });

  test('responseTimeout ends an exchange the server does not finish', async () => {
    const impatient = await createHttpBinding({ url: base, responseTimeout: '300ms' });
    const started = Date.now();
    await assert.rejects(invoke(impatient, 'get', undefined, { path: '/slow' }), /GET http:\/\/127\.0\.0\.1:\d+\/slow: no complete response within 0\.3s \(responseTimeout\)/);
    assert.ok(Date.now() - started < 5000);
    assert.equal(text((await invoke(impatient, 'get', 'x'))?.data), '');
    await impatient.close?.();
  });

  test('a response body larger than maxResponseBodySize fails, with or without a declared length', async () => {
    const limited = await createHttpBinding({ url: base, maxResponseBodySize: '1Ki' });
    assert.equal((await invoke(limited, 'get', undefined, { path: '/big/1024' }))?.data.byteLength, 1024);
    await assert.rejects(invoke(limited, 'get', undefined, { path: '/big/1025' }), /larger than maxResponseBodySize \(1024 bytes\)/);
    await assert.rejects(invoke(limited, 'get', undefined, { path: '/big/5000?chunked' }), /larger than maxResponseBodySize \(1024 bytes\)/);
    const bytes = await createHttpBinding({ url: base, maxResponseBodySize: '2000' });
    assert.equal((await invoke(bytes, 'get', undefined, { path: '/big/2000?chunked' }))?.data.byteLength, 2000);
    await assert.rejects(invoke(bytes, 'get', undefined, { path: '/big/2001' }), /\(2000 bytes\)/);
    await limited.close?.();
    await bytes.close?.();
  });

  test('keeps connections alive between requests', async () => {
    const kept = await createHttpBinding({ url: base });
    const before = server.connections.size;
    for (let i = 0; i < 5; i++) await invoke(kept, 'get', undefined);
    assert.equal(server.connections.size, before + 1);
    await kept.close?.();
  });

  test('an unreachable server fails the invoke with a message naming it', async () => {
    const nowhere = await createHttpBinding({ url: 'http://127.0.0.1:1/x' });
    await assert.rejects(invoke(nowhere, 'get', undefined), /GET http:\/\/127\.0\.0\.1:1\/x: .*ECONNREFUSED/);
    await nowhere.close?.();
  });

  test('bad metadata stops start-up, naming the field and never the token', async () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{}, /metadata "url" is required/],
      [{ url: 'not a url' }, /metadata "url" is not a valid URL/],
      [{ url: 'ftp://host/x' }, /must start with http:\/\/ or https:\/\//],
      [{ url: base, securityToken: 's3cret' }, /"securityToken" and "securityTokenHeader" must be set together/],
      [{ url: base, securityTokenHeader: 'X-Key' }, /must be set together/],
      [{ url: base, securityToken: 's3cret', securityTokenHeader: 'Authorization: Bearer' }, /"securityTokenHeader" must be a header name/],
      [{ url: base, errorIfNot2XX: 'maybe' }, /"errorIfNot2XX" must be a boolean/],
      [{ url: base, responseTimeout: 'soon' }, /"responseTimeout" must be a duration/],
      [{ url: base, maxResponseBodySize: '100MB' }, /"maxResponseBodySize" must be a positive size/],
      [{ url: base, maxResponseBodySize: '0' }, /"maxResponseBodySize" must be a positive size/],
      [{ url: base, MTLSRenegotiation: 'Sometimes' }, /"MTLSRenegotiation" must be one of RenegotiateNever/],
      [{ url: base, MTLSClientCert: '-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----' }, /"MTLSClientCert" and "MTLSClientKey" must be set together/],
      [{ url: base, MTLSRootCA: '-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----' }, /"MTLSRootCA" is not a valid PEM certificate/],
      [{ url: base, MTLSRootCA: '/nonexistent/ca.pem' }, /"MTLSRootCA" is neither PEM text nor a readable file \("\/nonexistent\/ca\.pem": ENOENT\)/],
    ];
    for (const [metadata, reason] of cases) {
      await assert.rejects(createHttpBinding(metadata), (err: Error) => {
        assert.match(err.message, reason);
        assert.match(err.message, /http-under-test/);
        assert.doesNotMatch(err.message, /s3cret/);
        return true;
      });
    }
    for (const value of ['RenegotiateNever', 'RenegotiateOnceAsClient', 'RenegotiateFreelyAsClient']) {
      const accepted = await createHttpBinding({ url: base, MTLSRenegotiation: value, maxResponseBodySize: '100Mi', responseTimeout: '30s' });
      await accepted.close?.();
    }
  });
});

/** A CA, a server certificate for 127.0.0.1 and a client certificate, made with openssl for this run. */
function makeCertificates(dir: string): Record<'ca' | 'serverCert' | 'serverKey' | 'clientCert' | 'clientKey' | 'otherCa', string> {
  const file = (name: string): string => join(dir, name);
  const openssl = (...args: string[]): void => void execFileSync('openssl', args, { stdio: 'pipe' });
  const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl('req', '-x509', ...newKey, '-keyout', file('ca.key'), '-out', file('ca.pem'), '-subj', '/CN=pillion-test-ca', '-days', '2');
  openssl('req', '-x509', ...newKey, '-keyout', file('other-ca.key'), '-out', file('other-ca.pem'), '-subj', '/CN=pillion-other-ca', '-days', '2');
  const signed = (name: string, cn: string, extensions: string): void => {
    writeFileSync(file(`${name}.ext`), extensions);
    openssl('req', ...newKey, '-keyout', file(`${name}.key`), '-out', file(`${name}.csr`), '-subj', `/CN=${cn}`);
    openssl('x509', '-req', '-in', file(`${name}.csr`), '-CA', file('ca.pem'), '-CAkey', file('ca.key'), '-CAcreateserial', '-days', '2', '-extfile', file(`${name}.ext`), '-out', file(`${name}.pem`));
  };
  signed('server', '127.0.0.1', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  signed('client', 'pillion-client', 'extendedKeyUsage=clientAuth\n');
  return {
    ca: file('ca.pem'),
    otherCa: file('other-ca.pem'),
    serverCert: file('server.pem'),
    serverKey: file('server.key'),
    clientCert: file('client.pem'),
    clientKey: file('client.key'),
  };
}

describe('bindings.http over TLS with a client certificate', () => {
  const dir = tempDir('http-binding-tls');
  const server = new TestServer();
  let certs: ReturnType<typeof makeCertificates>;
  let base = '';
  before(async () => {
    certs = makeCertificates(dir.path);
    const read = (path: string): string => readFileSync(path, 'utf8');
    await server.start(
      createHttpsServer({ key: read(certs.serverKey), cert: read(certs.serverCert), ca: read(certs.ca), requestCert: true, rejectUnauthorized: true }),
    );
    base = `https://127.0.0.1:${server.port}`;
  });
  after(async () => {
    await server.close();
    dir.remove();
  });

  test('with the root CA and a client certificate (files or PEM text) the server accepts the request', async () => {
    const mtls = await createHttpBinding({
      url: base,
      MTLSRootCA: certs.ca,
      MTLSClientCert: readFileSync(certs.clientCert, 'utf8'),
      MTLSClientKey: certs.clientKey,
      MTLSRenegotiation: 'RenegotiateOnceAsClient',
    });
    const response = await invoke(mtls, 'post', '"over tls"', { path: '/secure' });
    assert.equal(response?.metadata.statusCode, '200');
    assert.equal(text(response?.data), 'over tls');
    assert.equal(server.received.at(-1)?.clientCertificate, 'pillion-client');
    await mtls.close?.();
  });

  test('without a client certificate the server refuses the connection', async () => {
    const anonymous = await createHttpBinding({ url: base, MTLSRootCA: certs.ca });
    await assert.rejects(invoke(anonymous, 'get', undefined), /GET https:\/\/127\.0\.0\.1:\d+\/: /);
    await anonymous.close?.();
  });

  test('a server certificate from another CA is not trusted', async () => {
    const wrongCa = await createHttpBinding({ url: base, MTLSRootCA: certs.otherCa, MTLSClientCert: certs.clientCert, MTLSClientKey: certs.clientKey });
    await assert.rejects(invoke(wrongCa, 'get', undefined), /certificate/i);
    await wrongCa.close?.();
    const systemRoots = await createHttpBinding({ url: base, MTLSClientCert: certs.clientCert, MTLSClientKey: certs.clientKey });
    await assert.rejects(invoke(systemRoots, 'get', undefined), /certificate/i);
    await systemRoots.close?.();
  });
});

describe('bindings.http through the sidecar', () => {
  const server = new TestServer();
  const resources = tempDir('http-binding-resources');
  const registry = tempDir('http-binding-registry');
  let sidecar: SidecarProcess;
  before(async () => {
    await server.start(createHttpServer());
    writeFileSync(
      join(resources.path, 'http.yaml'),
      componentYaml(
        { name: 'remote', type: 'bindings.http', metadata: { url: `http://127.0.0.1:${server.port}/api`, securityToken: 'tok', securityTokenHeader: 'X-Token' } },
        { name: 'lenient', type: 'bindings.http', metadata: { url: `http://127.0.0.1:${server.port}`, errorIfNot2XX: 'false' } },
      ),
    );
    sidecar = await startSidecar({ appId: `http-binding-${run}`, registryDir: registry.path, args: ['--resources-path', resources.path] });
  });
  after(async () => {
    await sidecar?.stop('SIGKILL');
    await server.close();
    resources.remove();
    registry.remove();
  });

  test('every operation answers 200 with the response body and its metadata as headers', async () => {
    for (const [operation, method] of [['get', 'GET'], ['head', 'HEAD'], ['post', 'POST'], ['create', 'POST'], ['put', 'PUT'], ['patch', 'PATCH'], ['delete', 'DELETE'], ['options', 'OPTIONS'], ['trace', 'TRACE']]) {
      const result = await invokeBinding(sidecar, 'remote', { operation, data: { order: 7 }, metadata: { path: '/orders/7', 'X-Request': operation } });
      assert.equal(result.status, 200, `${operation}: ${result.body.toString()}`);
      const received = server.received.at(-1)!;
      assert.equal(received.method, method);
      assert.equal(received.url, '/api/orders/7');
      assert.equal(received.headers['x-request'], operation);
      assert.equal(received.headers['x-token'], 'tok');
      const withBody = ['POST', 'PUT', 'PATCH'].includes(method!);
      assert.equal(received.body, withBody ? '{"order":7}' : '');
      assert.equal(result.body.toString(), withBody ? '{"order":7}' : '');
      const metadata = responseMetadata(result);
      assert.equal(metadata['statuscode'], '200');
      assert.equal(metadata['status'], '200 OK');
      assert.equal(metadata['x-echo-method'], method);
    }
  });

  test("a string is sent un-quoted, and the caller's traceparent travels as a header", async () => {
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const result = await http(sidecar.url('/v1.0/bindings/remote'), {
      method: 'POST',
      headers: { 'content-type': 'application/json', traceparent },
      body: JSON.stringify({ operation: 'post', data: 'plain text', metadata: { 'Content-Type': 'text/plain' } }),
    });
    assert.equal(result.status, 200);
    const received = server.received.at(-1)!;
    assert.equal(received.body, 'plain text');
    assert.equal(received.headers['content-type'], 'text/plain');
    assert.equal(received.headers['traceparent'], traceparent);
    assert.equal(result.body.toString(), 'plain text');
  });

  test('a non-2xx answer is a 500 carrying the status metadata; with errorIfNot2XX false it is a 200', async () => {
    const failed = await invokeBinding(sidecar, 'remote', { operation: 'get', metadata: { path: '/status/404' } });
    assert.equal(failed.status, 500);
    const error = JSON.parse(failed.body.toString()) as { errorCode: string; message: string };
    assert.equal(error.errorCode, 'ERR_INVOKE_OUTPUT_BINDING');
    assert.match(error.message, /received status code 404/);
    assert.equal(responseMetadata(failed)['statuscode'], '404');
    const lenient = await invokeBinding(sidecar, 'lenient', { operation: 'get', metadata: { path: '/status/404' } });
    assert.equal(lenient.status, 200);
    assert.equal(lenient.body.toString(), 'status 404');
    assert.equal(responseMetadata(lenient)['statuscode'], '404');
  });

  test('a path climbing out of the base URL is refused', async () => {
    const count = server.received.length;
    const result = await invokeBinding(sidecar, 'remote', { operation: 'get', metadata: { path: '../admin' } });
    assert.equal(result.status, 500);
    assert.match(result.body.toString(), /must not contain/);
    assert.equal(server.received.length, count);
  });
});
