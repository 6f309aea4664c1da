import type { CommonSettings } from './cli.js';
import { hostInfo, writeResults } from './layout.js';

/**
 * Writes a scenario's results (see writeResults) inside the envelope every scenario records: when it ran, on
 * what machine, with which common settings and pinning. `settings` adds the scenario's own settings.
 */
export function writeScenarioResults(
  scenario: string,
  startedAt: Date,
  common: CommonSettings,
  settings: Readonly<Record<string, unknown>>,
  results: Readonly<Record<string, unknown>>,
): string {
  return writeResults(scenario, startedAt, {
    scenario,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    host: hostInfo(),
    settings: { quick: common.quick, durationMs: common.durationMs, warmupMs: common.warmupMs, sidecarCli: common.sidecarCli, ...settings },
    pinning: common.pin,
    ...results,
  });
}
