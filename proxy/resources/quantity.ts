// Kubernetes resource quantities, the subset that makes sense for byte sizes.
const SIZE_UNITS = new Map([
  ['', 1], ['k', 1e3], ['M', 1e6], ['G', 1e9], ['T', 1e12],
  ['Ki', 2 ** 10], ['Mi', 2 ** 20], ['Gi', 2 ** 30], ['Ti', 2 ** 40],
]);

/** A byte size written as a Kubernetes quantity (`4Mi`, `10M`, `512`); undefined when it is not one. */
export function parseQuantity(raw: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?|\.\d+)([A-Za-z]*)$/.exec(raw);
  const unit = m ? SIZE_UNITS.get(m[2]!) : undefined;
  if (!m || unit === undefined) return undefined;
  // Quantity.Value() rounds fractions up to whole bytes.
  const bytes = Math.ceil(Number(m[1]) * unit);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}
