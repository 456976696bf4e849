import { createServer, connect, type AddressInfo, type Socket } from "node:net";
import { describe, expect, it } from "vitest";
import { createNotifyBarrier } from "../src/notify-barrier.js";

/** A channel that echoes each token back after `delayMs`, as Postgres NOTIFY would. */
function echoingBarrier(
  options: {
    delayMs?: number;
    minIntervalMs?: number;
    timeoutMs?: number;
    fail?: boolean;
    drop?: boolean;
  } = {},
) {
  const sent: string[] = [];
  const barrier = createNotifyBarrier({
    minIntervalMs: options.minIntervalMs ?? 20,
    timeoutMs: options.timeoutMs ?? 500,
    send(token) {
      sent.push(token);
      if (options.fail) return Promise.reject(new Error("database unavailable"));
      if (!options.drop) setTimeout(() => barrier.received(token), options.delayMs ?? 5);
      return Promise.resolve();
    },
  });
  return { barrier, sent };
}

describe("notify barrier", () => {
  it("answers many concurrent callers with one round trip", async () => {
    const { barrier, sent } = echoingBarrier();
    const results = await Promise.all(Array.from({ length: 500 }, () => barrier.sync()));
    expect(results.every(Boolean)).toBe(true);
    expect(sent).toHaveLength(1);
  });

  it("never answers a caller with a round trip that started before it asked", async () => {
    const { barrier, sent } = echoingBarrier({ delayMs: 30, minIntervalMs: 0 });
    const early = barrier.sync();
    await new Promise((resolve) => setTimeout(resolve, 10)); // the first round trip is out
    const late = barrier.sync();
    expect(await early).toBe(true);
    expect(await late).toBe(true);
    expect(sent).toHaveLength(2); // the late caller got a round trip of its own
  });

  it("starts round trips at most once per interval under a stream of callers", async () => {
    const { barrier, sent } = echoingBarrier({ delayMs: 1, minIntervalMs: 50 });
    const started = Date.now();
    const calls: Promise<boolean>[] = [];
    for (let i = 0; i < 100; i++) {
      calls.push(barrier.sync());
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    await Promise.all(calls);
    // 100 callers about 2 ms apart: one round trip per 50 ms they took (plus the first and
    // the one in flight at the end) however slow the machine; uncapped, it would be 100.
    const elapsed = Date.now() - started;
    expect(sent.length).toBeLessThanOrEqual(Math.floor(elapsed / 50) + 2);
  });

  it("answers false when the send fails or the token never comes back", async () => {
    expect(await echoingBarrier({ fail: true }).barrier.sync()).toBe(false);
    expect(await echoingBarrier({ drop: true, timeoutMs: 50 }).barrier.sync()).toBe(false);
  });

  it("after an event-loop stall, takes a token already in the socket over its expired timeout", async () => {
    // Two connected loopback sockets: what one writes is readable on the other at once, as a
    // notification is on the listening connection while the process is busy elsewhere.
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const accepted = new Promise<Socket>((resolve) => server.once("connection", resolve));
    const listening = connect((server.address() as AddressInfo).port, "127.0.0.1");
    const postgres = await accepted;
    try {
      const barrier = createNotifyBarrier({
        minIntervalMs: 0,
        timeoutMs: 20,
        send(token) {
          postgres.write(`${token}\n`);
          // The process is busy for longer than the timeout while the token comes back.
          const until = Date.now() + 100;
          while (Date.now() < until);
          return Promise.resolve();
        },
      });
      listening.on("data", (chunk) => {
        for (const token of chunk.toString().split("\n").filter(Boolean)) barrier.received(token);
      });
      expect(await barrier.sync()).toBe(true);
    } finally {
      listening.destroy();
      postgres.destroy();
      server.close();
    }
  });

  it("is not answered by a token other than the one in flight (a late one)", async () => {
    const { barrier, sent } = echoingBarrier({ drop: true, timeoutMs: 100 });
    const first = barrier.sync();
    expect(await first).toBe(false); // timed out
    const second = barrier.sync();
    await new Promise((resolve) => setImmediate(resolve)); // the second round trip is out
    barrier.received(sent[0]!); // the first token, arriving late
    expect(await second).toBe(false);
    expect(sent).toHaveLength(2);
  });
});
