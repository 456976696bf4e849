/**
 * Fixed logarithmic latency buckets shared by the usage recorder (which counts into them) and
 * the usage analytics (which merges rows and reads percentiles back). Bucket i ≥ 1 covers
 * [MIN·R^(i-1), MIN·R^i) ms; bucket 0 is everything below MIN, the last one everything above
 * MAX. Reporting a bucket's geometric midpoint is within √R − 1 ≈ 4.9% of any value in it,
 * which is the "within 5%" the analytics promise. Changing these constants invalidates every
 * stored histogram: add a new column instead.
 */
export const HISTOGRAM_MIN_MS = 0.05;
export const HISTOGRAM_RATIO = 1.1;
export const HISTOGRAM_MAX_MS = 120_000;
export const HISTOGRAM_BUCKETS =
  Math.ceil(Math.log(HISTOGRAM_MAX_MS / HISTOGRAM_MIN_MS) / Math.log(HISTOGRAM_RATIO)) + 2;

const LOG_RATIO = Math.log(HISTOGRAM_RATIO);

export function bucketIndex(latencyMs: number): number {
  if (!(latencyMs >= HISTOGRAM_MIN_MS)) return 0;
  const index = Math.floor(Math.log(latencyMs / HISTOGRAM_MIN_MS) / LOG_RATIO) + 1;
  return Math.min(index, HISTOGRAM_BUCKETS - 1);
}

/** Lower and upper bound (ms) of a bucket. */
export function bucketBounds(index: number): [number, number] {
  if (index <= 0) return [0, HISTOGRAM_MIN_MS];
  return [
    HISTOGRAM_MIN_MS * HISTOGRAM_RATIO ** (index - 1),
    HISTOGRAM_MIN_MS * HISTOGRAM_RATIO ** index,
  ];
}

/** Element-wise sum (arrays may be trimmed to different lengths). */
export function mergeHistograms(target: number[], source: readonly number[]): number[] {
  for (let i = 0; i < source.length; i++) target[i] = (target[i] ?? 0) + (source[i] ?? 0);
  return target;
}

/**
 * The `p`-th percentile (0 < p ≤ 1, nearest rank) of a histogram, as the geometric midpoint
 * of the bucket holding it; null for an empty histogram.
 */
export function percentileFromHistogram(counts: readonly number[], p: number): number | null {
  const total = counts.reduce((sum, n) => sum + (n ?? 0), 0);
  if (total === 0) return null;
  const rank = Math.max(1, Math.ceil(p * total));
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    seen += counts[i] ?? 0;
    if (seen >= rank) {
      const [low, high] = bucketBounds(i);
      return i === 0 ? high / 2 : Math.sqrt(low * high);
    }
  }
  return null;
}
