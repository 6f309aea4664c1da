import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { SIDECAR_MAIN, tempDir } from './support/sidecar.js';

// An app for `pillion run`: serves APP_PORT, invokes itself through its sidecar, then waits or exits.
const APP = `
const http = require('node:http');
const server = http.createServer((req, res) => res.end('pong from ' + req.url));
server.listen(Number(process.env.APP_PORT), '127.0.0.1', async () => {
  console.log('env', process.env.APP_ID, process.env.APP_PORT, process.env.DAPR_HTTP_PORT, process.env.DAPR_GRPC_PORT);
  let answer = '';
  for (let i = 0; i < 100 && answer === ''; i++) {
    const res = await fetch('http://127.0.0.1:' + process.env.DAPR_HTTP_PORT + '/v1.0/invoke/' + process.env.APP_ID + '/method/ping');
    if (res.status === 200) answer = await res.text();
    else await new Promise((r) => setTimeout(r, 50));
  }
  console.log('answer: ' + answer);
  if (process.argv[1] === 'exit') process.exit(3);
  process.on('SIGTERM', () => { console.log('app got SIGTERM'); server.close(); process.exit(0); });
});
`;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function pillionRun(mode: 'exit' | 'wait', registryDir: string) {
  const appPort = await freePort();
  const child = spawn(process.execPath, [SIDECAR_MAIN, 'run', '--app-id', 'runner', '--app-port', String(appPort), '--', process.execPath, '-e', APP, mode], {
    env: { ...process.env, PILLION_REGISTRY_DIR: registryDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  return { child, exited, output: () => output };
}

describe('pillion run with a real sidecar', () => {
  it('starts sidecar and app with the env vars, prefixes both outputs and exits with the app code', async () => {
    const registry = tempDir('run');
    try {
      const run = await pillionRun('exit', registry.path);
      const code = await Promise.race([run.exited, new Promise((r) => setTimeout(() => r('timeout'), 30_000))]);
      const output = run.output();
      assert.equal(code, 3, output);
      assert.match(output, /== APP == env runner \d+ \d+ \d+/);
      assert.match(output, /== APP == answer: pong from \/ping/);
      assert.match(output, /== DAPR == .*API ports: http=\d+/);
      assert.match(output, /== DAPR == .*shutdown complete/);
    } finally {
      registry.remove();
    }
  });

  it('forwards SIGTERM to the app and shuts the sidecar down gracefully', async () => {
    const registry = tempDir('run-signal');
    try {
      const run = await pillionRun('wait', registry.path);
      const deadline = Date.now() + 30_000;
      while (!/answer: pong/.test(run.output()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      run.child.kill('SIGTERM');
      const code = await run.exited;
      const output = run.output();
      assert.equal(code, 0, output);
      assert.match(output, /== APP == app got SIGTERM/);
      assert.match(output, /== DAPR == .*shutdown complete/);
    } finally {
      registry.remove();
    }
  });
});
