// `bindings.cron`: an input binding that triggers the app on a schedule (see schedule.ts), after daprd's cron
// binding. Each tick delivers an empty event with the metadata `timeZone` and `readTimeUTC`. A tick the app fails
// is logged and not retried: the next tick is the retry. A tick that finds `maxInFlight` earlier ones still
// pending is skipped rather than queued, so a slow app never faces a growing backlog of stale ticks.
// The output side has the one operation daprd's has: `delete`, which stops the schedule.

import { createLogger } from '../../../proxy/runtime/logger.js';
import { stringProperty } from '../../metadata.js';
import { registerComponent } from '../../registry.js';
import {
  bindingCapabilities,
  type Binding,
  type BindingEventHandler,
  type InputBinding,
  type InvokeResponse,
  type OutputBinding,
  type ReadOptions,
  type Reading,
} from '../bindings.js';
import { goUtcTimeString, parseSchedule, type Schedule } from './schedule.js';

const logger = createLogger('bindings.cron');

/** setTimeout's limit; a tick further away (e.g. `@yearly`) is reached in several waits. */
const LONGEST_WAIT_MS = 2 ** 31 - 1;
const NO_DATA = new Uint8Array(0);

/** One schedule being read: a chain of timers, each armed for the next tick. */
class ScheduledReading implements Reading {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private pending = 0;

  constructor(
    private readonly schedule: Schedule,
    private readonly handler: BindingEventHandler,
    private readonly maxInFlight: number,
    private readonly label: string,
  ) {
    this.arm(schedule.next(Date.now()));
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  async close(): Promise<void> {
    this.stop();
  }

  private arm(dueMs: number | null): void {
    if (this.stopped) return;
    if (dueMs === null) {
      logger.info(`${this.label}: the schedule has no further ticks`);
      return;
    }
    const waitMs = Math.min(Math.max(0, dueMs - Date.now()), LONGEST_WAIT_MS);
    this.timer = setTimeout(() => {
      // Timers may fire a little early, and a long wait is made of several.
      if (Date.now() < dueMs) {
        this.arm(dueMs);
        return;
      }
      this.tick();
      // From now rather than from the tick that was due: ticks missed while the process was stalled are not
      // made up in a burst.
      this.arm(this.schedule.next(Math.max(dueMs, Date.now())));
    }, waitMs);
  }

  private tick(): void {
    if (this.pending >= this.maxInFlight) {
      logger.warn(`${this.label}: tick skipped: ${this.pending} earlier tick(s) still being processed by the app (maxInFlight ${this.maxInFlight})`);
      return;
    }
    const firedAt = new Date();
    this.pending++;
    this.handler({ data: NO_DATA, metadata: { timeZone: this.schedule.timeZone, readTimeUTC: goUtcTimeString(firedAt) } })
      .then(
        () => logger.debug(`${this.label}: tick of ${firedAt.toISOString()} processed`),
        (err: unknown) => logger.warn(`${this.label}: tick of ${firedAt.toISOString()} failed (not retried): ${(err as Error).message}`),
      )
      .finally(() => this.pending--);
  }
}

export class CronBinding implements Binding, InputBinding, OutputBinding {
  readonly input: InputBinding = this;
  readonly output: OutputBinding = this;
  private readonly readings = new Set<ScheduledReading>();
  private closed = false;

  constructor(
    private readonly scheduleText: string,
    private readonly schedule: Schedule,
    private readonly name: string,
  ) {}

  async read(handler: BindingEventHandler, options: ReadOptions): Promise<Reading> {
    if (this.closed) throw new Error(`cron binding "${this.name}" is closed`);
    const reading = new ScheduledReading(this.schedule, handler, Math.max(1, options.maxInFlight), `cron binding "${this.name}"`);
    this.readings.add(reading);
    logger.debug(`cron binding "${this.name}": reading schedule "${this.scheduleText}"`);
    return {
      close: async () => {
        this.readings.delete(reading);
        await reading.close();
      },
    };
  }

  operations(): readonly string[] {
    return ['delete'];
  }

  /** `delete` stops every reading of the schedule; ticks already handed to the app still finish. */
  async invoke(): Promise<InvokeResponse> {
    for (const reading of this.readings) reading.stop();
    this.readings.clear();
    logger.info(`cron binding "${this.name}": schedule "${this.scheduleText}" stopped by a delete request`);
    return { data: NO_DATA, metadata: { schedule: this.scheduleText, stopTimeUTC: goUtcTimeString(new Date()) } };
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const reading of this.readings) reading.stop();
    this.readings.clear();
  }
}

registerComponent({
  type: 'bindings.cron',
  versions: ['v1'],
  kind: 'bindings',
  create: (meta) => {
    const text = stringProperty(meta, 'schedule', '');
    if (text === '') throw new Error('metadata "schedule" is required, e.g. "@every 15m" or "0 30 * * * *"');
    return new CronBinding(text, parseSchedule(text), meta.name);
  },
  capabilities: bindingCapabilities,
});
