// The sidecar-level bindings conformance suite, run against every binding Pillion ships. Each binding's own
// operations and options are tested in its bindings-<name>.test.ts.

import { after, before } from 'node:test';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import amqp from 'amqplib';
import { invokeBinding } from './support/bindings-client.js';
import { describeSidecarBindingConformance } from './support/bindings-sidecar-conformance.js';
import { closeHttpAgent } from './support/http.js';
import { serviceAvailable } from './support/services.js';
import { tempDir } from './support/sidecar.js';

const storage = tempDir('localstorage-conf');
let httpTarget: Server;
const RABBITMQ_URL = 'amqp://guest:guest@127.0.0.1:5672';
/** Declared by the RabbitMQ runs, deleted at the end so that runs leave no queues behind. */
const rabbitQueues: string[] = [];

before(async () => {
  httpTarget = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'text/plain' }).end('ok'));
  });
  await new Promise<void>((resolve) => httpTarget.listen(0, '127.0.0.1', resolve));
});

after(async () => {
  httpTarget.closeAllConnections();
  await new Promise((resolve) => httpTarget.close(resolve));
  storage.remove();
  closeHttpAgent();
  if (rabbitQueues.length > 0) {
    const connection = await amqp.connect(RABBITMQ_URL);
    const channel = await connection.createChannel();
    for (const queue of rabbitQueues) await channel.deleteQueue(queue);
    await connection.close();
  }
});

// A source with an output side is asked for an event through the sidecar, as an app would.
const createThroughSidecar = async (sidecar: Parameters<typeof invokeBinding>[0], name: string, payload: string): Promise<void> => {
  const res = await invokeBinding(sidecar, name, { operation: 'create', data: JSON.parse(payload) as unknown });
  if (res.status !== 200 && res.status !== 204) throw new Error(`create answered ${res.status}: ${res.body.toString()}`);
};

describeSidecarBindingConformance({
  type: 'bindings.localstorage',
  metadata: (run) => ({ rootPath: `${storage.path}/${run}` }),
  output: { operations: ['create', 'get', 'list', 'delete'], sample: () => ({ operation: 'create', data: 'hello', metadata: { fileName: 'sample.txt' } }) },
});

describeSidecarBindingConformance({
  type: 'bindings.http',
  metadata: () => ({ url: `http://127.0.0.1:${(httpTarget.address() as AddressInfo).port}` }),
  output: {
    operations: ['create', 'get', 'head', 'post', 'put', 'patch', 'delete', 'options', 'trace'],
    sample: () => ({ operation: 'post', data: { hello: 'world' }, metadata: { path: '/things' } }),
  },
});

describeSidecarBindingConformance({
  type: 'bindings.redis',
  metadata: () => ({ redisHost: '127.0.0.1:6379' }),
  skip: async (t) => !(await serviceAvailable(t, 'redis', 6379)),
  output: { operations: ['create', 'get', 'delete', 'increment'], sample: (run) => ({ operation: 'create', data: 'v', metadata: { key: `binding-conformance-${run}`, ttlInSeconds: '60' } }) },
});

describeSidecarBindingConformance({
  type: 'bindings.postgresql',
  metadata: () => ({ connectionString: 'host=127.0.0.1 port=5432 user=postgres database=test' }),
  skip: async (t) => !(await serviceAvailable(t, 'postgresql', 5432)),
  output: { operations: ['exec', 'query', 'close'], sample: () => ({ operation: 'query', metadata: { sql: 'SELECT 1' } }) },
});

describeSidecarBindingConformance({
  type: 'bindings.cron',
  metadata: () => ({ schedule: '@every 1s' }),
  output: { operations: ['delete'], sample: () => ({ operation: 'delete' }) },
  input: { redelivers: false },
});

describeSidecarBindingConformance({
  type: 'bindings.mqtt3',
  // A clean session: nothing is left on the broker once the test's client goes.
  metadata: (run) => ({ url: 'tcp://127.0.0.1:1883', topic: `conformance/${run}`, consumerID: `conformance-${run}`, cleanSession: 'true' }),
  skip: async (t) => !(await serviceAvailable(t, 'mosquitto', 1883)),
  output: { operations: ['create'], sample: () => ({ operation: 'create', data: { n: 1 } }) },
  input: { trigger: createThroughSidecar, redelivers: true },
});

describeSidecarBindingConformance({
  type: 'bindings.rabbitmq',
  metadata: (run) => {
    const queueName = `conformance-${run}`;
    rabbitQueues.push(queueName);
    return { host: RABBITMQ_URL, queueName };
  },
  skip: async (t) => !(await serviceAvailable(t, 'rabbitmq', 5672)),
  output: { operations: ['create'], sample: () => ({ operation: 'create', data: { n: 1 } }) },
  input: { trigger: createThroughSidecar, redelivers: true },
});
