// Typed reads of a resolver's free-form `configuration` block, failing with the offending key in the message.

export type ResolverConfiguration = Readonly<Record<string, unknown>>;

export function optionalString(cfg: ResolverConfiguration, key: string, component: string): string | undefined {
  const value = cfg[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') {
    throw new Error(`nameResolution ${component}: configuration.${key} must be a non-empty string`);
  }
  return value;
}

export function optionalInteger(
  cfg: ResolverConfiguration,
  key: string,
  component: string,
  min: number,
  max: number,
): number | undefined {
  const raw = cfg[key];
  if (raw === undefined) return undefined;
  // YAML authors often quote numbers; accept the quoted form too.
  const value = typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : raw;
  if (!Number.isInteger(value) || (value as number) < min || (value as number) > max) {
    throw new Error(`nameResolution ${component}: configuration.${key} must be an integer between ${min} and ${max}`);
  }
  return value as number;
}
