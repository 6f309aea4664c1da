// Restarts of the machine's real brokers, for the tests that a component reconnects on its own. Each broker is
// stopped the way an operator would stop it and started again by .ci/ensure-services, so a test that fails
// midway still leaves the service running for the next one.

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ENSURE_SERVICES = fileURLToPath(new URL('../../../.ci/ensure-services', import.meta.url));

export type Broker = 'redis' | 'nats' | 'rabbitmq' | 'mosquitto';

const PORTS: Record<Broker, number> = { redis: 6379, nats: 4222, rabbitmq: 5672, mosquitto: 1883 };

const STOP: Record<Broker, [string, string[]]> = {
  redis: ['redis-cli', ['-p', '6379', 'shutdown', 'nosave']],
  nats: ['pkill', ['-TERM', '-x', 'nats-server']],
  // Stopping the RabbitMQ application (not the Erlang node) closes every connection and the AMQP port, and keeps
  // durable queues: what a broker restart looks like to a client, in seconds rather than a minute.
  rabbitmq: ['rabbitmqctl', ['stop_app']],
  mosquitto: ['pkill', ['-TERM', '-x', 'mosquitto']],
};

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

async function waitForPort(port: number, open: boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await portOpen(port)) !== open) {
    if (Date.now() > deadline) throw new Error(`port ${port} did not ${open ? 'open' : 'close'} within ${timeoutMs} ms`);
    await sleep(100);
  }
}

/** Stops `broker`, keeps it down for `downMs`, starts it again and waits until it accepts connections. */
export async function restartBroker(broker: Broker, downMs = 1000): Promise<void> {
  const port = PORTS[broker];
  const [command, args] = STOP[broker];
  // Checked before anything stops: without the script the broker would stay down for every later test.
  if (!existsSync(ENSURE_SERVICES)) throw new Error(`cannot restart ${broker}: ${ENSURE_SERVICES} is missing`);
  try {
    await run(command, args);
    await waitForPort(port, false, 30_000);
    await sleep(downMs);
  } finally {
    if (broker === 'rabbitmq') await run('rabbitmqctl', ['start_app']);
    await run(ENSURE_SERVICES, []);
    await waitForPort(port, true, 60_000);
  }
}
