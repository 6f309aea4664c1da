// Route selection for a delivered event: rules in order, each a CEL expression over `event` (the CloudEvent as a
// map), first true one wins; a rule without an expression always matches. Expressions are compiled once, when the
// subscription is read.

import { celEnv, isCelError, parse, plan } from '@bufbuild/cel';

export interface RouteTable {
  /** Whether some rule needs the event's fields (otherwise the event need not be decoded for routing). */
  readonly inspectsEvent: boolean;
  /** The path of the first matching rule, or null when none matches. */
  pathFor(event: Readonly<Record<string, unknown>>): string | null;
}

type Matcher = ((event: Readonly<Record<string, unknown>>) => boolean) | null;

const env = celEnv();

function compileMatch(expression: string): Matcher {
  if (expression.trim() === '') return null;
  let program: ReturnType<typeof plan>;
  try {
    program = plan(env, parse(expression));
  } catch (err) {
    throw new Error(`invalid CEL expression "${expression}": ${(err as Error).message}`, { cause: err });
  }
  // An expression that fails on an event (a missing field, a type mismatch) does not match it: the next rule decides.
  return (event) => {
    const result = program({ event } as never);
    return !isCelError(result) && result === true;
  };
}

export function compileRoutes(rules: readonly { match: string; path: string }[]): RouteTable {
  const compiled = rules.map((rule) => ({ matches: compileMatch(rule.match), path: rule.path }));
  return {
    inspectsEvent: compiled.some((rule) => rule.matches !== null),
    pathFor(event) {
      for (const rule of compiled) if (rule.matches === null || rule.matches(event)) return rule.path;
      return null;
    },
  };
}
