import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test, type TestContext } from 'node:test';
import type { Binding, BindingEvent, Reading } from '../components/bindings/bindings.js';
import '../components/bindings/cron/cron.js';
import { goUtcTimeString, parseSchedule } from '../components/bindings/cron/schedule.js';
import { BindingApp } from './support/binding-app.js';
import { invokeBinding, responseMetadata } from './support/bindings-client.js';
import { createComponent } from './support/components.js';
import { eventually } from './support/eventually.js';
import { http } from './support/http.js';
import { componentYaml } from './support/resources.js';
import { startSidecar, tempDir, type SidecarProcess } from './support/sidecar.js';

const run = randomBytes(4).toString('hex');
/** Go's time.Time.String() of a UTC instant, at the millisecond precision the binding has. */
const GO_UTC_TIME = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:\.\d{1,3})? \+0000 UTC$/;
const at = (iso: string): number => Date.parse(iso);
const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

async function createCron(schedule: string, name = 'cron-under-test'): Promise<Binding> {
  const { instance } = await createComponent('bindings', 'bindings.cron', { schedule }, { name });
  return instance;
}

/** Parses readTimeUTC back to an instant. */
function readTime(event: BindingEvent): number {
  const text = event.metadata.readTimeUTC!;
  assert.match(text, GO_UTC_TIME);
  return Date.parse(text.replace(' +0000 UTC', 'Z').replace(' ', 'T'));
}

/** Records every tick a reading delivers; the handler answers as `answer` says. */
class Recorder {
  readonly events: BindingEvent[] = [];
  answer: (event: BindingEvent) => Promise<Uint8Array> = async () => new Uint8Array(0);
  readonly handler = (event: BindingEvent): Promise<Uint8Array> => {
    this.events.push(event);
    return this.answer(event);
  };
}

describe('bindings.cron schedule', () => {
  test('5-field expressions count in minutes, 6-field ones in seconds', () => {
    const minutes = parseSchedule('*/15 * * * *');
    assert.equal(iso(minutes.next(at('2026-03-01T10:07:30Z'))), '2026-03-01T10:15:00.000Z');
    const seconds = parseSchedule('30 * * * * *');
    assert.equal(iso(seconds.next(at('2026-03-01T10:07:31Z'))), '2026-03-01T10:08:30.000Z');
    const everySecond = parseSchedule('*/1 * * * * *');
    assert.equal(iso(everySecond.next(at('2026-03-01T10:07:31.400Z'))), '2026-03-01T10:07:32.000Z');
    assert.equal(iso(parseSchedule('0 30 3-6,20-23 * * *').next(at('2026-03-01T07:00:00Z'))), '2026-03-01T20:30:00.000Z');
    assert.equal(minutes.timeZone, 'Local');
  });

  test('descriptors', () => {
    const from = at('2026-03-04T10:07:30Z');
    const expected: Record<string, string> = {
      '@yearly': '2027-01-01T00:00:00.000Z',
      '@annually': '2027-01-01T00:00:00.000Z',
      '@monthly': '2026-04-01T00:00:00.000Z',
      '@weekly': '2026-03-08T00:00:00.000Z',
      '@daily': '2026-03-05T00:00:00.000Z',
      '@midnight': '2026-03-05T00:00:00.000Z',
      '@hourly': '2026-03-04T11:00:00.000Z',
    };
    for (const [descriptor, next] of Object.entries(expected)) {
      assert.equal(iso(parseSchedule(`CRON_TZ=UTC ${descriptor}`).next(from)), next, descriptor);
    }
  });

  test('@every counts from the start, on whole seconds, the period cut to whole seconds (1s at least)', () => {
    const start = at('2026-03-01T10:00:00.250Z');
    assert.equal(iso(parseSchedule('@every 15s').next(start)), '2026-03-01T10:00:15.000Z');
    assert.equal(iso(parseSchedule('@every 1m30s').next(start)), '2026-03-01T10:01:30.000Z');
    assert.equal(iso(parseSchedule('@every 2h').next(start)), '2026-03-01T12:00:00.000Z');
    assert.equal(iso(parseSchedule('@every 1.9s').next(start)), '2026-03-01T10:00:01.000Z');
    assert.equal(iso(parseSchedule('@every 300ms').next(start)), '2026-03-01T10:00:01.000Z');
    const every = parseSchedule('@every 15s');
    assert.equal(iso(every.next(at('2026-03-01T10:00:15Z'))), '2026-03-01T10:00:30.000Z');
  });

  test('CRON_TZ= and TZ= prefixes set the zone of the expression and of the events', () => {
    const newYork = parseSchedule('CRON_TZ=America/New_York 0 30 04 * * *');
    assert.equal(newYork.timeZone, 'America/New_York');
    // 04:30 in New York: EST (UTC-5) in winter, EDT (UTC-4) in summer.
    assert.equal(iso(newYork.next(at('2026-01-15T00:00:00Z'))), '2026-01-15T09:30:00.000Z');
    assert.equal(iso(newYork.next(at('2026-07-15T00:00:00Z'))), '2026-07-15T08:30:00.000Z');
    const tokyo = parseSchedule('TZ=Asia/Tokyo 0 9 * * *');
    assert.equal(tokyo.timeZone, 'Asia/Tokyo');
    assert.equal(iso(tokyo.next(at('2026-01-15T01:00:00Z'))), '2026-01-16T00:00:00.000Z');
    const every = parseSchedule('TZ=UTC @every 5s');
    assert.equal(every.timeZone, 'UTC');
    assert.equal(iso(every.next(at('2026-01-15T01:00:00Z'))), '2026-01-15T01:00:05.000Z');
  });

  test('an invalid schedule fails init with a message naming it', async () => {
    const cases: Array<[string, RegExp]> = [
      ['', /metadata "schedule" is required/],
      ['* * * *', /not a valid schedule \("\* \* \* \*"\)/],
      ['* * * * * * *', /not a valid schedule \("\* \* \* \* \* \* \*"\)/],
      ['61 * * * *', /not a valid schedule \("61 \* \* \* \*"\).*minute/],
      ['0 0 32 * *', /not a valid schedule/],
      ['@fortnightly', /not a valid schedule \("@fortnightly"\)/],
      ['@every', /not a valid schedule \("@every"\)/],
      ['@every soon', /"soon" is not a duration/],
      ['@every 0s', /must be positive/],
      ['@every -5s', /must be positive/],
      ['CRON_TZ=Mars/Olympus_Mons 0 * * * *', /unknown time zone "Mars\/Olympus_Mons"/],
      ['CRON_TZ=UTC', /nothing follows the time zone/],
    ];
    for (const [schedule, reason] of cases) {
      await assert.rejects(createCron(schedule), (err: Error) => {
        assert.match(err.message, reason, schedule);
        assert.match(err.message, /cron-under-test/);
        return true;
      });
    }
  });

  test("readTimeUTC is Go's time.Time.String() form", () => {
    assert.equal(goUtcTimeString(new Date('2026-11-24T10:00:00.123Z')), '2026-11-24 10:00:00.123 +0000 UTC');
    assert.equal(goUtcTimeString(new Date('2026-11-24T10:00:00.120Z')), '2026-11-24 10:00:00.12 +0000 UTC');
    assert.equal(goUtcTimeString(new Date('2026-11-24T10:00:00.000Z')), '2026-11-24 10:00:00 +0000 UTC');
  });
});

describe('bindings.cron reading', () => {
  /** A reading of its own binding, both closed when the test ends. */
  async function start(t: TestContext, schedule: string, maxInFlight = 1): Promise<{ binding: Binding; recorder: Recorder; reading: Reading }> {
    const binding = await createCron(schedule);
    const recorder = new Recorder();
    const reading = await binding.input!.read(recorder.handler, { maxInFlight });
    t.after(async () => {
      await reading.close();
      await binding.close?.();
    });
    return { binding, recorder, reading };
  }

  /** A second schedule ticking every second: what the tests wait on instead of guessing at timing. */
  async function clock(t: TestContext): Promise<{ waitTicks(count: number): Promise<void> }> {
    const { recorder } = await start(t, '@every 1s');
    return {
      waitTicks: async (count) => {
        const target = recorder.events.length + count;
        await eventually(count * 1000 + 5000, async () => assert.ok(recorder.events.length >= target));
      },
    };
  }

  test('is an input binding with the output operation delete', async (t) => {
    const { instance, info } = await createComponent('bindings', 'bindings.cron', { schedule: '@every 1h' }, { name: 'caps' });
    t.after(() => instance.close?.());
    assert.deepEqual(info.capabilities, ['INPUT_BINDING', 'OUTPUT_BINDING']);
    assert.deepEqual(instance.output!.operations(), ['delete']);
  });

  test('@every 1s delivers an empty event with timeZone and readTimeUTC every second', async (t) => {
    const { recorder } = await start(t, '@every 1s');
    await eventually(8000, async () => assert.ok(recorder.events.length >= 3));
    const times = recorder.events.map(readTime);
    for (const event of recorder.events) {
      assert.equal(event.data.byteLength, 0);
      assert.deepEqual(Object.keys(event.metadata).sort(), ['readTimeUTC', 'timeZone']);
      assert.equal(event.metadata.timeZone, 'Local');
    }
    for (let i = 1; i < times.length; i++) assert.ok(times[i]! - times[i - 1]! >= 900, `ticks ${times[i - 1]} and ${times[i]} are a second apart`);
    assert.ok(Math.abs(Date.now() - times.at(-1)!) < 5000);
  });

  test('a 6-field schedule ticks on every second, in the zone of its prefix', async (t) => {
    const { recorder } = await start(t, 'CRON_TZ=UTC */1 * * * * *');
    await eventually(8000, async () => assert.ok(recorder.events.length >= 2));
    assert.equal(recorder.events[0]!.metadata.timeZone, 'UTC');
    const [first, second] = recorder.events.map(readTime);
    assert.ok(second! - first! >= 900);
  });

  test('a tick that finds maxInFlight ticks pending is skipped, not queued', async (t) => {
    const { recorder } = await start(t, '@every 1s', 1);
    let release: () => void = () => undefined;
    recorder.answer = () => new Promise((resolve) => (release = () => resolve(new Uint8Array(0))));
    await eventually(5000, async () => assert.equal(recorder.events.length, 1));
    const time = await clock(t);
    await time.waitTicks(3);
    assert.equal(recorder.events.length, 1, 'the ticks while the first was pending were skipped');
    recorder.answer = async () => new Uint8Array(0);
    release();
    await eventually(5000, async () => assert.equal(recorder.events.length, 2));
    // Skipped ticks are not made up afterwards: one more event per tick.
    const before = recorder.events.length;
    await time.waitTicks(2);
    assert.ok(recorder.events.length <= before + 3);
  });

  test('two ticks may be pending at once with maxInFlight 2', async (t) => {
    const { recorder } = await start(t, '@every 1s', 2);
    const releases: Array<() => void> = [];
    recorder.answer = () => new Promise((resolve) => releases.push(() => resolve(new Uint8Array(0))));
    await eventually(6000, async () => assert.equal(recorder.events.length, 2));
    const time = await clock(t);
    await time.waitTicks(2);
    assert.equal(recorder.events.length, 2);
    for (const release of releases) release();
  });

  test('a failed tick is not retried', async (t) => {
    const { recorder } = await start(t, '@every 1s');
    recorder.answer = async () => {
      throw new Error('app failed');
    };
    await eventually(8000, async () => assert.ok(recorder.events.length >= 3));
    const seconds = recorder.events.map((event) => Math.floor(readTime(event) / 1000));
    assert.equal(new Set(seconds).size, seconds.length, 'one call per tick');
  });

  test('closing the reading stops the ticks', async (t) => {
    const { recorder, reading } = await start(t, '@every 1s');
    await eventually(5000, async () => assert.ok(recorder.events.length >= 1));
    await reading.close();
    const count = recorder.events.length;
    const time = await clock(t);
    await time.waitTicks(2);
    assert.equal(recorder.events.length, count);
  });

  test('the delete operation stops the schedule and reports it', async (t) => {
    const { binding, recorder } = await start(t, '@every 1s');
    await eventually(5000, async () => assert.ok(recorder.events.length >= 1));
    const response = await binding.output!.invoke({ operation: 'delete', data: new Uint8Array(0), metadata: {} });
    assert.equal(response?.metadata.schedule, '@every 1s');
    assert.match(response!.metadata.stopTimeUTC!, GO_UTC_TIME);
    const count = recorder.events.length;
    const time = await clock(t);
    await time.waitTicks(2);
    assert.equal(recorder.events.length, count);
  });

  test('closing the binding stops its readings and refuses new ones', async (t) => {
    const { binding, recorder } = await start(t, '@every 1s');
    await eventually(5000, async () => assert.ok(recorder.events.length >= 1));
    await binding.close!();
    const count = recorder.events.length;
    await assert.rejects(binding.input!.read(recorder.handler, { maxInFlight: 1 }), /is closed/);
    const time = await clock(t);
    await time.waitTicks(2);
    assert.equal(recorder.events.length, count);
  });
});

describe('bindings.cron through the sidecar', () => {
  const resources = tempDir('cron-resources');
  const registry = tempDir('cron-registry');
  const app = new BindingApp(['every-second', 'six-fields']);
  let sidecar: SidecarProcess | undefined;
  after(async () => {
    await sidecar?.stop('SIGKILL');
    await app.close();
    resources.remove();
    registry.remove();
  });

  test('delivers every second to the app with the cron headers, and delete stops it', async () => {
    writeFileSync(
      join(resources.path, 'cron.yaml'),
      componentYaml(
        { name: 'every-second', type: 'bindings.cron', metadata: { schedule: '@every 1s' } },
        { name: 'six-fields', type: 'bindings.cron', metadata: { schedule: 'CRON_TZ=UTC */1 * * * * *' } },
      ),
    );
    await app.start();
    sidecar = await startSidecar({ appId: `cron-${run}`, appPort: app.port, registryDir: registry.path, args: ['--resources-path', resources.path] });
    const started = sidecar;
    await eventually(15_000, async () => {
      assert.ok(app.eventsFor('every-second').length >= 3, started.output());
      assert.ok(app.eventsFor('six-fields').length >= 3);
    });
    assert.ok(app.probes.includes('every-second') && app.probes.includes('six-fields'));
    for (const [route, zone] of [['every-second', 'Local'], ['six-fields', 'UTC']] as const) {
      const events = app.eventsFor(route);
      for (const event of events) {
        assert.equal(event.body.length, 0);
        assert.equal(event.headers['timezone'], zone);
        assert.match(String(event.headers['readtimeutc']), GO_UTC_TIME);
        assert.match(String(event.headers['content-type']), /^application\/json/);
      }
      const seconds = events.map((event) => Math.floor(Date.parse(String(event.headers['readtimeutc']).replace(' +0000 UTC', 'Z').replace(' ', 'T')) / 1000));
      assert.equal(new Set(seconds).size, seconds.length, `${route}: one event per second`);
    }

    const stopped = await invokeBinding(started, 'every-second', { operation: 'delete' });
    assert.equal(stopped.status, 200, stopped.body.toString());
    assert.equal(responseMetadata(stopped).schedule, '@every 1s');
    const count = app.eventsFor('every-second').length;
    const clockCount = app.eventsFor('six-fields').length;
    await eventually(10_000, async () => assert.ok(app.eventsFor('six-fields').length >= clockCount + 2));
    // A tick already on its way when delete arrived may still land.
    assert.ok(app.eventsFor('every-second').length <= count + 1);

    const unknown = await invokeBinding(started, 'six-fields', { operation: 'create' });
    assert.equal(unknown.status, 500);
    assert.equal((await http(started.url('/v1.0/healthz'))).status, 204);
  });
});
