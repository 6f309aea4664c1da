import { parseArgs } from 'node:util';
import { commonOptionSpec, UsageError } from './cli.js';

/** A scenario's own options, all taking a value (numbers and lists are checked by whoever reads them). */
type ValueOptions = Record<string, { readonly type: 'string' }>;

/** The common options and the scenario's own from its arguments; anything else is a UsageError. */
export function parseScenarioOptions<const Own extends ValueOptions>(args: readonly string[], own: Own) {
  try {
    return parseArgs({ args: [...args], options: { ...commonOptionSpec, ...own }, strict: true, allowPositionals: false }).values;
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

/** The members of `known` a comma-separated --flag names, in the order of `known`; all of them without the flag. */
export function chooseSubset<T extends string>(flag: string, text: string | undefined, known: readonly T[]): T[] {
  if (text === undefined) return [...known];
  const chosen = new Set<string>();
  for (const raw of text.split(',')) {
    const name = raw.trim();
    if (!(known as readonly string[]).includes(name)) throw new UsageError(`--${flag}: unknown "${raw}"; known: ${known.join(', ')}`);
    chosen.add(name);
  }
  return known.filter((member) => chosen.has(member));
}
