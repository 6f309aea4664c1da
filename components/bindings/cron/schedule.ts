// The `schedule` of a cron binding, read as daprd's cron binding reads it (robfig/cron with optional seconds):
// a 5-field (minutes) or 6-field (seconds first) expression, a descriptor such as `@daily`, or `@every <duration>`,
// each optionally after a `CRON_TZ=<zone> ` or `TZ=<zone> ` prefix.

import { Cron } from 'croner';
import { parseGoDuration } from '../../../proxy/resources/duration.js';

/** What the binding reports when the schedule names no zone: Go's name for the machine's zone. */
export const LOCAL_ZONE = 'Local';

export interface Schedule {
  /** The zone of a `CRON_TZ=`/`TZ=` prefix, else `Local`. */
  readonly timeZone: string;
  /** When the first tick strictly after `afterMs` is due (ms since the epoch); null when none will ever be. */
  next(afterMs: number): number | null;
}

const ZONE_PREFIX = /^(?:CRON_TZ|TZ)=(\S*)\s+/;
const EVERY = '@every ';

/** Throws an error naming the schedule when it cannot be read. */
export function parseSchedule(text: string): Schedule {
  const invalid = (reason: string): Error => new Error(`metadata "schedule" is not a valid schedule ("${text}"): ${reason}`);
  let spec = text.trim();
  let timeZone = LOCAL_ZONE;
  const prefix = ZONE_PREFIX.exec(spec);
  if (prefix !== null) {
    timeZone = prefix[1]!;
    if (!knownZone(timeZone)) throw invalid(`unknown time zone "${timeZone}"`);
    spec = spec.slice(prefix[0].length);
  } else if (/^(?:CRON_TZ|TZ)=/.test(spec)) {
    throw invalid('nothing follows the time zone');
  }
  if (spec.startsWith(EVERY)) return everySchedule(spec.slice(EVERY.length).trim(), timeZone, invalid);
  let cron: Cron;
  try {
    cron = new Cron(spec, {
      paused: true,
      mode: '5-or-6-parts',
      ...(timeZone === LOCAL_ZONE ? {} : { timezone: timeZone }),
    });
  } catch (err) {
    throw invalid((err as Error).message.replace(/^CronPattern: /, ''));
  }
  return {
    timeZone,
    next: (afterMs) => cron.nextRun(new Date(afterMs))?.getTime() ?? null,
  };
}

/**
 * `@every <duration>`: ticks that far apart, counted from when reading starts. As in robfig/cron, the period is cut
 * to whole seconds (at least one) and the ticks fall on whole seconds.
 */
function everySchedule(durationText: string, timeZone: string, invalid: (reason: string) => Error): Schedule {
  let periodMs: number;
  try {
    periodMs = parseGoDuration(durationText);
  } catch {
    throw invalid(`"${durationText}" is not a duration such as "15s" or "1m30s"`);
  }
  if (periodMs <= 0) throw invalid('the period of @every must be positive');
  const wholeSecondsMs = Math.max(1000, Math.floor(periodMs / 1000) * 1000);
  return {
    timeZone,
    next: (afterMs) => afterMs + wholeSecondsMs - (afterMs % 1000),
  };
}

function knownZone(zone: string): boolean {
  if (zone === LOCAL_ZONE) return true;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

/**
 * Go's `time.Time.String()` of an instant in UTC, as daprd's cron binding reports `readTimeUTC`:
 * `2026-11-24 10:00:00.123 +0000 UTC`, the fraction without trailing zeros and left out when zero.
 */
export function goUtcTimeString(date: Date): string {
  const iso = date.toISOString();
  const day = iso.slice(0, 10);
  const clock = iso.slice(11, 19);
  const fraction = iso.slice(20, 23).replace(/0+$/, '');
  return `${day} ${clock}${fraction === '' ? '' : `.${fraction}`} +0000 UTC`;
}
