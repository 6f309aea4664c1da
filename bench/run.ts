/**
 * Benchmark entry: `node dist/bench/run.js [scenario] [options]`.
 * The first positional argument picks the scenario (default: invoke).
 */
import { constants } from 'node:os';
import { commonUsage, UsageError } from './lib/cli.js';
import { killAllNow, ProcessCrashError } from './lib/processes.js';
import { defaultScenario, scenarios } from './scenarios/index.js';

function printUsage(): void {
  const lines = ['usage: npm run bench -- [scenario] [options]', '', 'scenarios:'];
  for (const scenario of scenarios.values()) lines.push(`  ${scenario.name.padEnd(10)} ${scenario.summary}`);
  lines.push('', 'common options:', commonUsage);
  for (const scenario of scenarios.values()) lines.push('', `${scenario.name} options:`, scenario.usage);
  console.log(lines.join('\n'));
}

// An interrupted run still leaves nothing behind: children are killed and
// temp dirs removed by the modules' exit handlers.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: stopping`);
    killAllNow();
    process.exit(128 + constants.signals[signal]);
  });
}

/** Operational failures read best as their message; a harness bug needs its stack. */
function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const expected = error.constructor === Error || error instanceof ProcessCrashError;
  return expected ? error.message : (error.stack ?? error.message);
}

async function main(argv: readonly string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    printUsage();
    return 0;
  }
  const first = argv[0];
  const named = first !== undefined && !first.startsWith('-');
  const name = named ? first : defaultScenario;
  const scenario = scenarios.get(name);
  if (scenario === undefined) {
    console.error(`unknown scenario "${name}"; known: ${[...scenarios.keys()].join(', ')}`);
    return 2;
  }
  try {
    await scenario.run(named ? argv.slice(1) : argv);
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`${error.message}\n`);
      printUsage();
      return 2;
    }
    console.error(`\nbench ${name} failed: ${describe(error)}`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
