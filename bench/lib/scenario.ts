/** One benchmark, selected by the first positional argument of `npm run bench`. */
export interface Scenario {
  readonly name: string;
  /** One line for the scenario list. */
  readonly summary: string;
  /** Option lines specific to this scenario (the common ones are listed separately). */
  readonly usage: string;
  /** Runs the scenario; throws UsageError for bad arguments, anything else for a failed run. */
  run(args: readonly string[]): Promise<void>;
}
