// The app pipeline around the app channel, in process: what callers of the channel rely on (the answer comes after
// request() returned, abort means no answer, the channel's own errors pass through) holds with stages in between.

import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { AppChannelError, type AppChannel, type AppRequest, type AppResponse, type AppResponseCallback, type PendingAppRequest } from '../proxy/appchannel/http-pool.js';
import { PipelinedAppChannel } from '../proxy/middleware/app-pipeline.js';
import { MiddlewareChain } from '../proxy/middleware/chain.js';
import { WasmMiddleware } from '../middleware-wasm/host/index.js';
import { compileFixture } from './support/middleware-sidecar.js';

/** An app channel whose calls the test answers by hand. */
class ScriptedChannel implements AppChannel {
  readonly calls: Array<{ req: AppRequest; onDone: AppResponseCallback; aborted: boolean }> = [];

  request(req: AppRequest, onDone: AppResponseCallback): PendingAppRequest {
    const call = { req, onDone, aborted: false };
    this.calls.push(call);
    return { abort: () => void (call.aborted = true) };
  }
}

interface Outcome {
  err: AppChannelError | null;
  res: AppResponse | null;
}

function recorder(): { outcomes: Outcome[]; onDone: AppResponseCallback } {
  const outcomes: Outcome[] = [];
  return { outcomes, onDone: (err, res) => void outcomes.push({ err, res }) };
}

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function header(headers: readonly string[], name: string): string[] {
  const values: string[] = [];
  for (let i = 0; i < headers.length; i += 2) if (headers[i]!.toLowerCase() === name) values.push(headers[i + 1]!);
  return values;
}

describe('app pipeline around the app channel', () => {
  let chainStage: Uint8Array;
  let passStage: Uint8Array;
  let refusingStage: Uint8Array;
  let earlyHeaderStage: Uint8Array;
  before(async () => {
    [chainStage, passStage, refusingStage, earlyHeaderStage] = await Promise.all([
      compileFixture('pipeline/chain.wat'),
      compileFixture('pipeline/pass.wat'),
      compileFixture('short-circuit.wat'),
      compileFixture('pipeline/early-header.wat'),
    ]);
  });

  const stage = (bytes: Uint8Array, mark: string): Promise<WasmMiddleware> =>
    WasmMiddleware.load(bytes, { name: mark, guestConfig: new TextEncoder().encode(mark) });

  it('runs the stages in order on the way to the app and in reverse on the way back', async () => {
    const channel = new ScriptedChannel();
    const pipeline = new PipelinedAppChannel(new MiddlewareChain([await stage(chainStage, 'a'), await stage(chainStage, 'b')]), channel);
    const { outcomes, onDone } = recorder();
    pipeline.request({ method: 'POST', path: '/orders', headers: ['Content-Type', 'text/plain'], body: Buffer.from('x') }, onDone);
    assert.equal(channel.calls.length, 1);
    const sent = channel.calls[0]!.req;
    assert.deepEqual(header(sent.headers, 'x-chain'), ['ab']);
    assert.deepEqual(header(sent.headers, 'content-type'), ['text/plain']);
    channel.calls[0]!.onDone(null, { status: 201, headers: ['X-App', '1'], body: Buffer.from('made') });
    assert.equal(outcomes.length, 1);
    const { res } = outcomes[0]!;
    assert.equal(res!.status, 201);
    assert.deepEqual(header(res!.headers, 'x-chain'), ['ba']);
    assert.deepEqual(header(res!.headers, 'x-app'), ['1']);
    assert.equal(res!.body.toString(), 'made');
  });

  it('forwards the caller\'s own header list and answer when no stage changed them', async () => {
    const channel = new ScriptedChannel();
    const pipeline = new PipelinedAppChannel(new MiddlewareChain([await stage(passStage, 'p')]), channel);
    const { outcomes, onDone } = recorder();
    const headers = ['content-type', 'application/json'];
    pipeline.request({ method: 'GET', path: '/dapr/subscribe', headers, body: null }, onDone);
    const sent = channel.calls[0]!.req;
    assert.equal(sent.headers, headers);
    assert.equal(sent.body, null);
    const answer = { status: 200, headers: ['Content-Type', 'application/json'], body: Buffer.from('[]') };
    channel.calls[0]!.onDone(null, answer);
    assert.equal(outcomes[0]!.res!.headers, answer.headers);
    assert.equal(outcomes[0]!.res!.body, answer.body);
  });

  it('with stages that leave the response alone, the app\'s own answer, error and abort pass straight through', async () => {
    const channel = new ScriptedChannel();
    const pipeline = new PipelinedAppChannel(new MiddlewareChain([await stage(passStage, 'p'), await stage(passStage, 'q')]), channel);
    const answered = recorder();
    pipeline.request({ method: 'GET', path: '/answered', headers: [], body: null }, answered.onDone);
    const answer = { status: 404, headers: ['X-App', '1'], body: Buffer.from('no') };
    channel.calls[0]!.onDone(null, answer);
    assert.equal(answered.outcomes[0]!.res, answer, 'the very answer the app gave');

    const failed = recorder();
    pipeline.request({ method: 'GET', path: '/failed', headers: [], body: null }, failed.onDone);
    const failure = new AppChannelError('connect', 'cannot connect to app: ECONNREFUSED');
    channel.calls[1]!.onDone(failure, null);
    assert.deepEqual(failed.outcomes, [{ err: failure, res: null }]);

    pipeline.request({ method: 'GET', path: '/aborted', headers: [], body: null }, recorder().onDone).abort();
    assert.equal(channel.calls[2]!.aborted, true);
  });

  it('a response header a stage set before passing the request on is added to the app\'s answer', async () => {
    const channel = new ScriptedChannel();
    const pipeline = new PipelinedAppChannel(new MiddlewareChain([await stage(passStage, 'p'), await stage(earlyHeaderStage, 'e')]), channel);
    const { outcomes, onDone } = recorder();
    pipeline.request({ method: 'GET', path: '/early', headers: [], body: null }, onDone);
    channel.calls[0]!.onDone(null, { status: 202, headers: ['X-App', '1'], body: Buffer.from('ok') });
    const { res } = outcomes[0]!;
    assert.equal(res!.status, 202);
    assert.deepEqual(header(res!.headers, 'x-early'), ['kept']);
    assert.deepEqual(header(res!.headers, 'x-app'), ['1']);
    assert.equal(res!.body.toString(), 'ok');
  });

  it('answers a request a stage refused after request() returned, without calling the app', async () => {
    const channel = new ScriptedChannel();
    const pipeline = new PipelinedAppChannel(new MiddlewareChain([await stage(refusingStage, 'r')]), channel);
    const { outcomes, onDone } = recorder();
    pipeline.request({ method: 'POST', path: '/orders', headers: [], body: null }, onDone);
    assert.equal(outcomes.length, 0, 'the answer must not come before request() returns');
    await settle();
    assert.equal(channel.calls.length, 0);
    assert.equal(outcomes.length, 1);
    assert.equal(outcomes[0]!.res!.status, 403);
    assert.equal(outcomes[0]!.res!.body.toString(), 'denied!');
    assert.deepEqual(header(outcomes[0]!.res!.headers, 'content-type'), ['text/plain']);
  });

  it('passes the channel\'s own error to the caller', async () => {
    const channel = new ScriptedChannel();
    const pipeline = new PipelinedAppChannel(new MiddlewareChain([await stage(chainStage, 'a')]), channel);
    const { outcomes, onDone } = recorder();
    pipeline.request({ method: 'GET', path: '/x', headers: [], body: null }, onDone);
    const failure = new AppChannelError('connect', 'cannot connect to app: ECONNREFUSED');
    channel.calls[0]!.onDone(failure, null);
    assert.deepEqual(outcomes, [{ err: failure, res: null }]);
  });

  it('requests in flight at once keep their own state, answered in any order, one aborted, and later ones too', async () => {
    const channel = new ScriptedChannel();
    const pipeline = new PipelinedAppChannel(new MiddlewareChain([await stage(chainStage, 'a'), await stage(chainStage, 'b')]), channel);
    const results = [recorder(), recorder(), recorder(), recorder()];
    const send = (i: number): PendingAppRequest =>
      pipeline.request({ method: 'GET', path: `/r${i}`, headers: [], body: null }, results[i]!.onDone);
    send(0);
    send(1).abort();
    send(2);
    const answer = (call: number, text: string): void =>
      channel.calls[call]!.onDone(null, { status: 200, headers: ['X-App', text], body: Buffer.from(text) });
    answer(2, 'two');
    answer(0, 'zero');
    send(3);
    answer(3, 'three');
    assert.deepEqual(channel.calls.map((call) => call.req.path), ['/r0', '/r1', '/r2', '/r3']);
    for (const call of channel.calls) assert.deepEqual(header(call.req.headers, 'x-chain'), ['ab']);
    assert.deepEqual(results[1]!.outcomes, [], 'the aborted request never answers');
    for (const [i, text] of [[0, 'zero'], [2, 'two'], [3, 'three']] as const) {
      const { res } = results[i]!.outcomes[0]!;
      assert.equal(res!.body.toString(), text);
      assert.deepEqual(header(res!.headers, 'x-app'), [text]);
      assert.deepEqual(header(res!.headers, 'x-chain'), ['ba']);
    }
  });

  it('an aborted request never answers, whether the app or a stage would have', async () => {
    const channel = new ScriptedChannel();
    const passing = new PipelinedAppChannel(new MiddlewareChain([await stage(chainStage, 'a')]), channel);
    const toApp = recorder();
    passing.request({ method: 'GET', path: '/slow', headers: [], body: null }, toApp.onDone).abort();
    assert.equal(channel.calls[0]!.aborted, true);
    channel.calls[0]!.onDone(null, { status: 200, headers: [], body: Buffer.alloc(0) });

    const refusing = new PipelinedAppChannel(new MiddlewareChain([await stage(refusingStage, 'r')]), channel);
    const refused = recorder();
    refusing.request({ method: 'GET', path: '/refused', headers: [], body: null }, refused.onDone).abort();
    await settle();
    assert.deepEqual(toApp.outcomes, []);
    assert.deepEqual(refused.outcomes, []);
  });
});
