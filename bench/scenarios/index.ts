import type { Scenario } from '../lib/scenario.js';
import { invokeScenario } from './invoke.js';
import { pubsubScenario } from './pubsub.js';
import { stateScenario } from './state.js';
import { wasmScenario } from './wasm.js';

/** Scenarios by the name given as the first argument of `npm run bench --`. */
export const scenarios: ReadonlyMap<string, Scenario> = new Map([
  [invokeScenario.name, invokeScenario],
  [stateScenario.name, stateScenario],
  [pubsubScenario.name, pubsubScenario],
  [wasmScenario.name, wasmScenario],
]);

export const defaultScenario = invokeScenario.name;
