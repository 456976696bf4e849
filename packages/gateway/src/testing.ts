import { Redis } from "ioredis";

/**
 * Deletes every key a test wrote under its own prefix in a shared Redis. The limiters' windows
 * expire by themselves, but the dataset's `epoch` key (see `rate-limit.ts`) never does, so
 * without this every test run would leave keys behind in the machine's Redis.
 */
export async function deleteRedisKeys(url: string, prefix: string): Promise<void> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1_000);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
}
