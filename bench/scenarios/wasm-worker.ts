/**
 * One process of the wasm scenario's timed cases: reads the guests the scenario wrote, times the cases and prints
 * their results as JSON. Argument: the `WorkerTask` as JSON.
 */
import { measureCases, type WorkerTask } from './wasm-cases.js';
import { readGuests } from './wasm-guests.js';

const task = JSON.parse(process.argv[2] ?? '') as WorkerTask;
process.stdout.write(JSON.stringify(await measureCases(readGuests(task.guestDir), task.cases, task.plan)));
