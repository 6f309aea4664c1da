/** Latency percentiles of one run, in microseconds. */
export interface LatencySummary {
  readonly count: number;
  readonly minUs: number;
  readonly meanUs: number;
  readonly p50Us: number;
  readonly p75Us: number;
  readonly p90Us: number;
  readonly p99Us: number;
  readonly p999Us: number;
  readonly maxUs: number;
}

function roundTenth(value: number): number {
  return Math.round(value * 10) / 10;
}

/** Nearest-rank percentiles of exact samples; sorts the array in place. */
export function summarizeLatencies(samplesUs: Float64Array): LatencySummary {
  const count = samplesUs.length;
  if (count === 0) {
    return { count, minUs: 0, meanUs: 0, p50Us: 0, p75Us: 0, p90Us: 0, p99Us: 0, p999Us: 0, maxUs: 0 };
  }
  samplesUs.sort();
  let sum = 0;
  for (let i = 0; i < count; i++) sum += samplesUs[i]!;
  const at = (quantile: number): number => roundTenth(samplesUs[Math.min(count - 1, Math.ceil(quantile * count) - 1)]!);
  return {
    count,
    minUs: roundTenth(samplesUs[0]!),
    meanUs: roundTenth(sum / count),
    p50Us: at(0.5),
    p75Us: at(0.75),
    p90Us: at(0.9),
    p99Us: at(0.99),
    p999Us: at(0.999),
    maxUs: roundTenth(samplesUs[count - 1]!),
  };
}
