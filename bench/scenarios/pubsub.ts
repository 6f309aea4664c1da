/**
 * The pub/sub scenario: for each broker, messages published through a sidecar's publish API and delivered by a
 * (possibly other) sidecar to a subscriber app. It measures publish -> app latency at a fixed rate, throughput
 * of a saturating burst, sidecar CPU per message and peak RSS, and checks that every accepted message arrived.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { decodeReceipts, messageBody, receiptFields } from '../apps/pubsub-messages.js';
import { positiveInteger, resolveCommon, type CommonSettings } from '../lib/cli.js';
import { writeComponentFile } from '../lib/component-file.js';
import { probe, probeUntil } from '../lib/http-probe.js';
import { summarizeLatencies, type LatencySummary } from '../lib/latency-summary.js';
import { repoRoot } from '../lib/layout.js';
import { chooseSubset, parseScenarioOptions } from '../lib/options.js';
import { pinSelf } from '../lib/pinning.js';
import { freePorts } from '../lib/ports.js';
import { cpuBetween, cpuResolutionMicros, peakRssBytes, snapshotCpu, type CpuSnapshot } from '../lib/procfs.js';
import { ProcessCrashError, ProcessGroup } from '../lib/processes.js';
import { tcpReachable } from '../lib/reachable.js';
import type { Scenario } from '../lib/scenario.js';
import { writeScenarioResults } from '../lib/scenario-results.js';
import { startSidecar, type Sidecar } from '../lib/sidecar.js';
import { sidecarStartFailure } from '../lib/sidecar-failure.js';
import { makeTempDir, removeTempDir } from '../lib/tempdir.js';
import { planBroker, pubsubBrokers, type BrokerNames, type BrokerPlan, type PubSubBroker } from './pubsub-brokers.js';
import { PublisherProcess, type PublishReport } from './pubsub-publisher-client.js';
import {
  brokerProblems,
  checkProblems,
  renderPubSubTable,
  type BrokerMeasurement,
  type DeliveryCheck,
  type PacedMeasurement,
  type PerSidecar,
  type SaturationMeasurement,
} from './pubsub-report.js';

const subscriberScript = fileURLToPath(new URL('../apps/pubsub-subscriber.js', import.meta.url));
const pubsubName = 'pubsub';
const payloadBytes = 1024;
/** --quick measures five brokers in turn; shorter windows and bursts keep the whole run well under a minute. */
const quickDurationMs = 2000;
const quickMessages = 2000;
/** Accepted messages still missing at the app after this long without any new receipt are counted as lost. */
const deliveryStallMs = 10_000;
/** Sequence numbers of lost messages kept in the results, to look for in the broker. */
const lostSampleSize = 10;
/** How often the harness collects receipts from the app once publishing is over. */
const receiptPollMs = 25;
/** Sidecar start, app start and the subscription becoming active, each. */
const readyDeadlineMs = 20_000;

interface PubSubSettings extends CommonSettings {
  readonly brokers: readonly PubSubBroker[];
  /** Messages per second of the latency run. */
  readonly rate: number;
  readonly connections: number;
  /** Messages of the saturation run. */
  readonly messages: number;
  /** Publishes in flight in the saturation run. */
  readonly concurrency: number;
}

const usage = `  --brokers LIST      comma-separated subset of ${pubsubBrokers.join(',')} (default: all)
  --rate N            messages per second of the latency run (default 1000)
  --connections N     publisher connections of the latency run (default 16)
  --messages N        messages of the saturation run (default 20000, --quick ${quickMessages})
  --concurrency N     publishes in flight in the saturation run (default 64)
  (with --quick and no --duration, the latency run here lasts ${quickDurationMs / 1000} s)`;

function parseSettings(args: readonly string[]): PubSubSettings {
  const values = parseScenarioOptions(args, {
    brokers: { type: 'string' },
    rate: { type: 'string' },
    connections: { type: 'string' },
    messages: { type: 'string' },
    concurrency: { type: 'string' },
  });
  const common = resolveCommon(values);
  return {
    ...common,
    durationMs: common.quick && values.duration === undefined ? quickDurationMs : common.durationMs,
    brokers: chooseSubset('brokers', values.brokers, pubsubBrokers),
    rate: positiveInteger('rate', values.rate, 1000),
    connections: positiveInteger('connections', values.connections, 16),
    messages: positiveInteger('messages', values.messages, common.quick ? quickMessages : 20_000),
    concurrency: positiveInteger('concurrency', values.concurrency, 64),
  };
}

/** What one run shares between the brokers. */
interface RunContext {
  readonly settings: PubSubSettings;
  readonly scratch: string;
  readonly registryDir: string;
  /** Unique per run: every topic and app id carries it, for brokers shared with others. */
  readonly runId: string;
}

/** The processes measuring one broker. */
interface Rig {
  readonly appUrl: string;
  readonly appPid: number;
  readonly subscriber: Sidecar;
  /** The subscriber itself for the in-memory broker. */
  readonly publisher: Sidecar;
  readonly publishUrl: string;
}

const message = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** The sidecars' figure, the publisher's only when it is another process. */
function perSidecar(rig: Rig, figure: (pid: number) => number): PerSidecar {
  const subscriber = figure(rig.subscriber.process.pid);
  return rig.publisher === rig.subscriber ? { subscriber } : { subscriber, publisher: figure(rig.publisher.process.pid) };
}

async function waitForSubscription(group: ProcessGroup, sidecar: Sidecar, topic: string): Promise<void> {
  const subscribed = (body: Buffer): boolean => {
    try {
      const { subscriptions } = JSON.parse(body.toString('utf8')) as { subscriptions?: Array<{ topic?: unknown }> };
      return subscriptions?.some((s) => s.topic === topic) === true;
    } catch {
      return false;
    }
  };
  const metadataUrl = `http://127.0.0.1:${sidecar.httpPort}/v1.0/metadata`;
  await group.guard(probeUntil(metadataUrl, {}, (res) => res.status === 200 && subscribed(res.body), readyDeadlineMs));
}

/** The app, the subscriber sidecar with it and, for a broker of its own, an app-less publisher sidecar. */
async function startRig(group: ProcessGroup, broker: PubSubBroker, plan: BrokerPlan, ctx: RunContext, names: BrokerNames): Promise<Rig> {
  const { settings } = ctx;
  const { topic, subscriberAppId } = names;
  const [appPort] = (await freePorts(1)) as [number];
  const appUrl = `http://127.0.0.1:${appPort}`;
  const app = group.launch({
    name: 'subscriber app',
    command: process.execPath,
    args: [subscriberScript, String(appPort), pubsubName, topic],
    cpus: settings.pin.servers,
  });
  await group.guard(probeUntil(`${appUrl}/healthz`, {}, (res) => res.status === 200, readyDeadlineMs));
  const launch = {
    cliPath: settings.sidecarCli,
    cwd: repoRoot,
    registryDir: ctx.registryDir,
    cpus: settings.pin.servers,
    resourcesPath: writeComponentFile(join(ctx.scratch, `resources-${broker}`), pubsubName, plan.componentType, plan.metadata),
  };
  const [subscriber, publisher] = await Promise.all([
    startSidecar(group, { ...launch, appId: subscriberAppId, appPort }),
    plan.server === undefined ? undefined : startSidecar(group, { ...launch, appId: `psbench-${ctx.runId}-${broker}-pub` }),
  ]);
  await waitForSubscription(group, subscriber, topic);
  const publishing = publisher ?? subscriber;
  return {
    appUrl,
    appPid: app.pid,
    subscriber,
    publisher: publishing,
    publishUrl: `http://127.0.0.1:${publishing.httpPort}/v1.0/publish/${pubsubName}/${topic}`,
  };
}

/** What collectDeliveries needs of a job's report. */
type PublishedMessages = Pick<PublishReport, 'accepted' | 'nextSeq' | 'measuredFromUs' | 'failures' | 'firstFailure'>;

interface Deliveries {
  readonly check: DeliveryCheck;
  /** Publish start -> first receipt, of the messages sent at or after the report's measuredFromUs. */
  readonly latency: LatencySummary;
  readonly firstReceiptUs: number;
  readonly lastReceiptUs: number;
}

/**
 * Collects the app's receipts until every accepted message of a job has arrived, or nothing more arrives for
 * deliveryStallMs (the missing ones are lost). Messages are told apart by sequence number; a further receipt
 * of one is a duplicate.
 */
async function collectDeliveries(group: ProcessGroup, rig: Rig, firstSeq: number, report: PublishedMessages): Promise<Deliveries> {
  const span = report.nextSeq - firstSeq;
  // Per sequence number of the job: 0 not accepted, 1 awaited, 2 delivered.
  const status = new Uint8Array(span);
  for (const seq of report.accepted) status[seq - firstSeq] = 1;
  let awaited = report.accepted.length;
  const latencies = new Float64Array(awaited);
  let timed = 0;
  let duplicates = 0;
  let unstamped = 0;
  let firstReceiptUs = Number.POSITIVE_INFINITY;
  let lastReceiptUs = Number.NEGATIVE_INFINITY;
  let lastArrival = Date.now();
  while (awaited > 0) {
    const receipts = decodeReceipts((await group.guard(probe(`${rig.appUrl}/receipts`, { timeoutMs: 5000 }))).body);
    for (let i = 0; i < receipts.length; i += receiptFields) {
      const seq = receipts[i]!;
      const sentAtUs = receipts[i + 1]!;
      const receivedAtUs = receipts[i + 2]!;
      if (Number.isNaN(seq)) {
        unstamped++;
        continue;
      }
      const index = seq - firstSeq;
      if (index < 0 || index >= span || status[index] !== 1) {
        duplicates++;
        continue;
      }
      status[index] = 2;
      awaited--;
      firstReceiptUs = Math.min(firstReceiptUs, receivedAtUs);
      lastReceiptUs = Math.max(lastReceiptUs, receivedAtUs);
      if (sentAtUs >= report.measuredFromUs) latencies[timed++] = receivedAtUs - sentAtUs;
    }
    if (receipts.length > 0) lastArrival = Date.now();
    else if (Date.now() - lastArrival > deliveryStallMs) break;
    if (awaited > 0) await sleep(receiptPollMs);
  }
  const lostSample: number[] = [];
  for (let index = 0; index < span && lostSample.length < lostSampleSize && awaited > 0; index++) {
    if (status[index] === 1) lostSample.push(firstSeq + index);
  }
  return {
    check: {
      accepted: report.accepted.length,
      delivered: report.accepted.length - awaited,
      lost: awaited,
      lostSample,
      duplicates,
      unstamped,
      publishFailures: report.failures,
      firstPublishFailure: report.firstFailure,
    },
    latency: summarizeLatencies(latencies.subarray(0, timed)),
    firstReceiptUs,
    lastReceiptUs,
  };
}

/** One message through the whole path before any load, so a broken path fails with the sidecar's own words. */
async function preflight(group: ProcessGroup, rig: Rig): Promise<number> {
  const seq = 0;
  const published = await group.guard(
    probe(rig.publishUrl, { method: 'POST', body: messageBody(seq, 0, payloadBytes), headers: { 'content-type': 'application/json' }, timeoutMs: 10_000 }),
  );
  if (published.status !== 204) throw new Error(`publish answered HTTP ${published.status} ${published.body.toString('utf8', 0, 300)}`);
  const { check } = await collectDeliveries(group, rig, seq, { accepted: [seq], nextSeq: seq + 1, measuredFromUs: Number.POSITIVE_INFINITY, failures: 0 });
  if (check.lost > 0) throw new Error(`the first message did not reach the app within ${deliveryStallMs / 1000} s`);
  return seq + 1;
}

/** CPU of some processes from a moment a job reports until now. */
class CpuWindow {
  private start: CpuSnapshot | undefined;

  constructor(private readonly pids: readonly number[]) {}

  readonly begin = (): void => {
    this.start = snapshotCpu(this.pids);
  };

  finish(): { cpuMicros: (pid: number) => number; wallSeconds: number } {
    if (this.start === undefined) throw new Error('measured window never began');
    const usage = cpuBetween(this.start, snapshotCpu(this.pids));
    return { cpuMicros: (pid) => usage.cpuMicros.get(pid) ?? 0, wallSeconds: usage.wallSeconds };
  }
}

function describeCheck(check: DeliveryCheck): string {
  const notes = checkProblems(check);
  if (check.duplicates > 0) notes.push(`${check.duplicates} duplicates`);
  return `${check.delivered}/${check.accepted} delivered${notes.length > 0 ? `  !! ${notes.join(', ')}` : ''}`;
}

const msText = (us: number): string => `${(us / 1000).toFixed(3)} ms`;

async function measurePaced(group: ProcessGroup, publisher: PublisherProcess, rig: Rig, ctx: RunContext, firstSeq: number): Promise<[PacedMeasurement, number]> {
  const { settings } = ctx;
  const cpu = new CpuWindow([rig.publisher.process.pid, rig.subscriber.process.pid]);
  const report = await publisher.run(
    {
      kind: 'paced',
      publishUrl: rig.publishUrl,
      payloadBytes,
      firstSeq,
      rate: settings.rate,
      connections: settings.connections,
      warmupMs: settings.warmupMs,
      durationMs: settings.durationMs,
    },
    cpu.begin,
  );
  const used = cpu.finish();
  const deliveries = await collectDeliveries(group, rig, firstSeq, report);
  const measurement: PacedMeasurement = {
    calls: report.calls,
    delivery: deliveries.latency,
    check: deliveries.check,
    sidecarCores: perSidecar(rig, (pid) => used.cpuMicros(pid) / 1e6 / used.wallSeconds),
  };
  const d = deliveries.latency;
  const c = report.calls.latency;
  console.log(
    `  ${`${settings.rate} msg/s`.padEnd(14)} publish->app p50 ${msText(d.p50Us)}  p90 ${msText(d.p90Us)}  p99 ${msText(d.p99Us)}` +
      `  | publish call p50 ${msText(c.p50Us)}  p99 ${msText(c.p99Us)}  (${report.calls.lateSends ?? 0} late)  ${describeCheck(deliveries.check)}`,
  );
  return [measurement, report.nextSeq];
}

async function measureSaturation(group: ProcessGroup, publisher: PublisherProcess, rig: Rig, ctx: RunContext, firstSeq: number, concurrency: number): Promise<SaturationMeasurement> {
  const { settings } = ctx;
  const cpu = new CpuWindow([...new Set([rig.publisher.process.pid, rig.subscriber.process.pid]), rig.appPid]);
  const report = await publisher.run(
    { kind: 'burst', publishUrl: rig.publishUrl, payloadBytes, firstSeq, messages: settings.messages, concurrency },
    cpu.begin,
  );
  // The window ends once every message reached the app: delivery may lag publishing by a whole backlog.
  const deliveries = await collectDeliveries(group, rig, firstSeq, report);
  const used = cpu.finish();
  const { check } = deliveries;
  const perMessage = (pid: number): number => (check.delivered > 0 ? used.cpuMicros(pid) / check.delivered : 0);
  const receiptSpanSeconds = (deliveries.lastReceiptUs - deliveries.firstReceiptUs) / 1e6;
  const saturation: SaturationMeasurement = {
    calls: report.calls,
    concurrency,
    publishedPerSecond: report.calls.wallSeconds > 0 ? check.accepted / report.calls.wallSeconds : 0,
    // Intervals between receipts, not receipts: the first one opens the span.
    deliveredPerSecond: check.delivered > 1 && receiptSpanSeconds > 0 ? (check.delivered - 1) / receiptSpanSeconds : 0,
    delivery: deliveries.latency,
    check,
    sidecarCpuMicrosPerMessage: perSidecar(rig, perMessage),
    appCpuMicrosPerMessage: perMessage(rig.appPid),
  };
  const sidecarCpu = saturation.sidecarCpuMicrosPerMessage;
  const sidecarCpuText =
    sidecarCpu.publisher === undefined
      ? `sidecar ${sidecarCpu.subscriber.toFixed(1)}`
      : `publisher ${sidecarCpu.publisher.toFixed(1)}, subscriber ${sidecarCpu.subscriber.toFixed(1)}`;
  const publisherCores = report.calls.wallSeconds > 0 ? report.calls.generatorCpuMicros / 1e6 / report.calls.wallSeconds : 0;
  console.log(
    `  ${'saturation'.padEnd(14)} publish ${Math.round(saturation.publishedPerSecond)} msg/s  deliver ${Math.round(saturation.deliveredPerSecond)} msg/s` +
      `  | CPU µs/msg: ${sidecarCpuText}, app ${saturation.appCpuMicrosPerMessage.toFixed(1)}  | publisher process used ${publisherCores.toFixed(2)} cores` +
      `  ${describeCheck(check)}`,
  );
  return saturation;
}

async function measureBroker(broker: PubSubBroker, ctx: RunContext, plan: BrokerPlan, names: BrokerNames, measurement: BrokerMeasurement): Promise<void> {
  if (plan.server !== undefined && !(await tcpReachable(plan.server.host, plan.server.port))) {
    measurement.skipped = `server ${plan.server.host}:${plan.server.port} is unreachable`;
    console.log(`  !!! skipped ${broker}: ${measurement.skipped}`);
    return;
  }
  const group = new ProcessGroup();
  try {
    let rig: Rig;
    try {
      rig = await startRig(group, broker, plan, ctx, names);
    } catch (error) {
      const reason = sidecarStartFailure(error);
      // Only a type the sidecar does not know is skipped; any other failure to start is a failure of the run.
      if (!(error instanceof ProcessCrashError) || !reason.includes('unknown component type')) throw new Error(reason, { cause: error });
      measurement.skipped = `${plan.componentType} is not registered in this build (components/builtin.ts)`;
      console.log(`  !!! skipped ${broker}: ${measurement.skipped}`);
      return;
    }
    const publisher = PublisherProcess.start(group, ctx.settings.pin.load);
    const pacedFrom = await preflight(group, rig);
    const [paced, saturationFrom] = await measurePaced(group, publisher, rig, ctx, pacedFrom);
    measurement.paced = paced;
    measurement.saturation = await measureSaturation(group, publisher, rig, ctx, saturationFrom, Math.min(ctx.settings.concurrency, plan.maxBurstInFlight ?? Infinity));
    measurement.peakRssBytes = perSidecar(rig, peakRssBytes);
  } finally {
    await group.close();
  }
}

async function runBroker(broker: PubSubBroker, ctx: RunContext): Promise<BrokerMeasurement> {
  const names: BrokerNames = { topic: `psbench-${ctx.runId}-${broker}`, subscriberAppId: `psbench-${ctx.runId}-${broker}-sub` };
  const plan = planBroker(broker, names);
  const measurement: BrokerMeasurement = { broker, componentType: plan.componentType, gaps: [] };
  console.log(`\n${broker} (${plan.componentType}, ${plan.server === undefined ? 'one sidecar publishes and delivers' : 'publisher sidecar -> broker -> subscriber sidecar'})`);
  try {
    await measureBroker(broker, ctx, plan, names, measurement);
  } catch (error) {
    measurement.failed = message(error);
    console.log(`  !!! ${broker} FAILED: ${measurement.failed}`);
  }
  if (measurement.skipped === undefined && plan.cleanup !== undefined) {
    try {
      await plan.cleanup();
    } catch (error) {
      measurement.gaps.push(`cleanup: ${message(error)}`);
      console.log(`  !!! ${broker}: cleanup failed: ${message(error)}`);
    }
  }
  return measurement;
}

async function runPubSub(args: readonly string[]): Promise<void> {
  const settings = parseSettings(args);
  const startedAt = new Date();
  pinSelf(settings.pin);
  if (!existsSync(settings.sidecarCli)) {
    throw new Error(`sidecar CLI not found at ${settings.sidecarCli}: run \`npm run build\` first (or pass --sidecar PATH)`);
  }

  console.log(`pubsub benchmark: brokers ${settings.brokers.join(', ')}`);
  console.log(`  pinning: ${settings.pin.description} (broker servers are not pinned)`);
  console.log(
    `  latency: ${payloadBytes} B JSON messages, POST /v1.0/publish at ${settings.rate} msg/s evenly paced over ${settings.connections} connections, ` +
      `${settings.durationMs / 1000} s after ${settings.warmupMs / 1000} s warm-up; publish start -> app receipt on the machine's monotonic clock`,
  );
  console.log(`  saturation: ${settings.messages} messages, ${settings.concurrency} publishes in flight; delivered msg/s from the app's first receipt to its last`);
  console.log(`  process CPU from /proc/<pid>/stat (resolution ${cpuResolutionMicros / 1000} ms per reading); every accepted message must reach the app`);

  const scratch = makeTempDir('pubsub');
  const registryDir = join(scratch, 'registry');
  mkdirSync(registryDir);
  const ctx: RunContext = { settings, scratch, registryDir, runId: randomBytes(4).toString('hex') };
  const measurements: BrokerMeasurement[] = [];
  try {
    for (const broker of settings.brokers) measurements.push(await runBroker(broker, ctx));
  } finally {
    removeTempDir(scratch);
  }

  console.log(`\n${renderPubSubTable(measurements, settings.rate)}`);
  console.log(`  p50/p90/p99: publish start -> app receipt at ${settings.rate} msg/s; publish p50/p99: the publish call's own latency.`);
  console.log('  sat: the saturation burst. CPU per 1,000 delivered messages at saturation; cores at the fixed rate; RSS: VmHWM.');
  console.log(`  LOST: accepted (204) but not at the app ${deliveryStallMs / 1000} s after its last receipt.`);
  for (const m of measurements) {
    if (m.skipped !== undefined) console.log(`!!! skipped ${m.broker}: ${m.skipped}`);
    for (const problem of brokerProblems(m)) console.log(`!!! ${m.broker}: ${problem}`);
    for (const gap of m.gaps) console.log(`!!! ${m.broker}: ${gap}`);
  }

  const file = writeScenarioResults(
    'pubsub',
    startedAt,
    settings,
    {
      rate: settings.rate,
      connections: settings.connections,
      messages: settings.messages,
      concurrency: settings.concurrency,
      payloadBytes,
      brokers: settings.brokers,
      runId: ctx.runId,
    },
    {
      method: {
        latency: 'paced open loop (runPacedLanes) from a publisher process on the load CPU; each message carries its sequence number and the monotonic time its publish started',
        delivery: 'subscriber app (node:http, pinned with the sidecars) records the monotonic time each event body is complete; answered with an empty 200',
        saturation: 'N messages, a fixed number of publishes in flight; delivered rate over the span of first receipts',
        loss: `every accepted publish must reach the app; missing after ${deliveryStallMs / 1000} s without any receipt counts as lost`,
      },
      cpuResolutionUs: cpuResolutionMicros,
      brokers: measurements,
    },
  );
  console.log(`\nfull results: ${file}`);
  const failing = measurements.filter((m) => brokerProblems(m).length > 0).map((m) => m.broker);
  if (failing.length > 0) throw new Error(`${failing.join(', ')}: messages lost, publishes failed or the run failed (see above); results are in ${file}`);
}

export const pubsubScenario: Scenario = {
  name: 'pubsub',
  summary: 'publish -> deliver per broker (in-memory, redis, jetstream, rabbitmq, mqtt3): latency at a fixed rate, saturation, CPU per message, RSS',
  usage,
  run: runPubSub,
};
