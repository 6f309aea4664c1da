import type { Scenario } from '../lib/scenario.js';
import { invokeScenario } from './invoke.js';

/** Scenarios by the name given as the first argument of `npm run bench --`. */
export const scenarios: ReadonlyMap<string, Scenario> = new Map([[invokeScenario.name, invokeScenario]]);

export const defaultScenario = invokeScenario.name;
