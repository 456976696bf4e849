import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { performance as hooksPerformance } from "node:perf_hooks";
import { Writable } from "node:stream";
import { fileURLToPath } from "node:url";
import Fastify, { type FastifyReply, type FastifyRequest } from "fastify";
import pino from "pino";
import { describe, expect, it, vi } from "vitest";
import {
  AccessLog,
  RequestLogger,
  flushAccessLines,
  jsonString,
  loggerOptions,
  redactUrl,
  roundedMs,
} from "../src/access-log.js";
import { requestIds } from "../src/app.js";

/**
 * Fake timers that reach the access log's monotonic clock: it reads `performance` imported
 * from node:perf_hooks (not the global getter), which vitest's fake timers, replacing the
 * global, leave alone. `useRealClock` undoes both, the spy first (it reads the global).
 */
let importedClock: { mockRestore(): void } | undefined;
function useFakeClock() {
  vi.useFakeTimers({ toFake: ["Date", "performance", "setTimeout", "clearTimeout"] });
  importedClock = vi
    .spyOn(hooksPerformance, "now")
    .mockImplementation(() => globalThis.performance.now());
}
function useRealClock() {
  importedClock?.mockRestore();
  importedClock = undefined;
  vi.useRealTimers();
}

/** A finished request as the access log sees it: `server` is the app's own logger. */
function finished(log: RequestLogger, server: unknown, id = "req_0123") {
  const request = {
    id,
    method: "GET",
    url: "/api/v1/iocs?api_key=sk_live_secret",
    ip: "192.0.2.7",
    server: { log: server },
  };
  const reply = { log, statusCode: 200, elapsedTime: 1.5 };
  return [request as unknown as FastifyRequest, reply as unknown as FastifyReply] as const;
}

function capturedLogger(level: string) {
  const lines: string[] = [];
  const writes: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      writes.push(chunk.toString());
      lines.push(...chunk.toString().split("\n").filter(Boolean));
      done();
    },
  });
  return { logger: pino({ ...loggerOptions(level) }, stream), lines, writes };
}

describe("the access log", () => {
  it("with logging off (logger: false), a finished request raises nothing", () => {
    // Fastify's null logger has no isLevelEnabled; asking it threw a TypeError inside every
    // response's finish handler (measured: 66 µs per data request in the benchmark).
    const nullLogger = Fastify({ logger: false }).log;
    const log = new RequestLogger(nullLogger, { reqId: "req_0123" });
    expect(log.isLevelEnabled("info")).toBe(false);
    const accessLog = new AccessLog();
    const request = finished(log, nullLogger);
    expect(() => accessLog.requestCompleted(null, ...request)).not.toThrow();
    expect(() => accessLog.requestCompleted(new Error("boom"), ...request)).not.toThrow();
  });

  it("writes one line per request at info, with the key redacted from the URL", () => {
    const { logger, lines } = capturedLogger("info");
    const log = new RequestLogger(logger, { reqId: "req_0123" });
    new AccessLog().requestCompleted(null, ...finished(log, logger));
    flushAccessLines();
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({
      level: 30,
      reqId: "req_0123",
      req: { method: "GET", url: "/api/v1/iocs?api_key=[REDACTED]", remoteAddress: "192.0.2.7" },
      res: { statusCode: 200 },
      responseTime: 1.5,
      msg: "request completed",
    });
    expect(lines[0]).not.toContain("sk_live_secret");
  });

  it("writes no access line when the level is above info, but still reports errors", () => {
    const { logger, lines } = capturedLogger("warn");
    const log = new RequestLogger(logger, { reqId: "req_0123" });
    new AccessLog().requestCompleted(null, ...finished(log, logger));
    flushAccessLines();
    expect(lines).toEqual([]);
    new AccessLog().requestCompleted(new Error("secret detail"), ...finished(log, logger));
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 50, msg: "request errored" });
    expect(lines[0]).not.toContain("secret detail");
  });

  it("hands the lines of 100 ms to the destination in one write", () => {
    vi.useFakeTimers();
    try {
      const { logger, lines, writes } = capturedLogger("info");
      const accessLog = new AccessLog();
      const complete = (reqId: string) =>
        accessLog.requestCompleted(
          null,
          ...finished(new RequestLogger(logger, { reqId }), logger, reqId),
        );
      complete("req_a");
      vi.advanceTimersByTime(60);
      complete("req_b");
      complete("req_c");
      vi.advanceTimersByTime(39);
      expect(writes).toEqual([]);
      vi.advanceTimersByTime(1);
      expect(writes).toHaveLength(1);
      expect(lines.map((line) => (JSON.parse(line) as { reqId: string }).reqId)).toEqual([
        "req_a",
        "req_b",
        "req_c",
      ]);
      // The next line starts a new 100 ms.
      complete("req_d");
      vi.advanceTimersByTime(99);
      expect(writes).toHaveLength(1);
      vi.advanceTimersByTime(1);
      expect(writes).toHaveLength(2);
    } finally {
      vi.useRealTimers();
    }
  });

  it("stamps lines with the wall clock, and follows a step of the system clock within a second", () => {
    // Lines written earlier in this process took the clock's offset at a real monotonic time
    // up to this one; the fake monotonic clock starts near 0. Moving it more than a second
    // past this reading makes the first line below take a fresh offset, however young the
    // process (a test worker less than a second old once stamped the real time here).
    const skip = Math.ceil(performance.now()) + 1_000;
    useFakeClock();
    try {
      const start = Date.parse("2026-12-03T10:00:00.000Z");
      vi.setSystemTime(start);
      const { logger, lines } = capturedLogger("info");
      const accessLog = new AccessLog();
      const stamp = () => {
        accessLog.requestCompleted(null, ...finished(new RequestLogger(logger, {}), logger));
        flushAccessLines();
        return (JSON.parse(lines.at(-1)!) as { time: number }).time;
      };
      vi.advanceTimersByTime(skip);
      expect(stamp()).toBe(start + skip);
      vi.advanceTimersByTime(250);
      expect(stamp()).toBe(start + skip + 250);
      // The system clock is set an hour ahead (the monotonic clock does not move).
      vi.setSystemTime(start + skip + 250 + 3_600_000);
      vi.advanceTimersByTime(1_000);
      expect(stamp()).toBe(start + skip + 1_250 + 3_600_000);
    } finally {
      useRealClock();
    }
  });

  it("writes at once when 16 KiB of lines are waiting, without waiting for the timer", () => {
    vi.useFakeTimers();
    try {
      const { logger, lines, writes } = capturedLogger("info");
      const accessLog = new AccessLog();
      const log = new RequestLogger(logger, { reqId: "req_0123" });
      let sent = 0;
      while (writes.length === 0) {
        accessLog.requestCompleted(null, ...finished(log, logger));
        sent += 1;
        expect(sent).toBeLessThan(200);
      }
      expect(writes[0]!.length).toBeGreaterThanOrEqual(16 * 1024);
      expect(lines).toHaveLength(sent);
      // Nothing is left waiting, so the timer writes nothing more.
      vi.advanceTimersByTime(1_000);
      expect(writes).toHaveLength(1);
    } finally {
      vi.useRealTimers();
    }
  });

  it("writes the lines still waiting when the process exits at once", () => {
    // A real asynchronous destination (pino.destination, as in production) and a process
    // that exits in the same turn as its last request: the line must still reach the file.
    const dir = mkdtempSync(path.join(os.tmpdir(), "access-log-"));
    const file = path.join(dir, "access.log");
    const module = path.join(path.dirname(fileURLToPath(import.meta.url)), "../src/access-log.ts");
    const script = `
      import { AccessLog, RequestLogger, logDestination, loggerOptions } from ${JSON.stringify(module)};
      import { once } from "node:events";
      import pino from "pino";
      const destination = logDestination(${JSON.stringify(file)});
      await once(destination, "ready");
      const logger = pino(loggerOptions("info"), destination);
      logger.info("started");
      // That line's asynchronous write must land first: one still in flight at exit can land
      // after the exit's synchronous writes (sonic-boom), and this test is about the access line.
      const { readFileSync } = await import("node:fs");
      while (!readFileSync(${JSON.stringify(file)}, "utf8").includes("started")) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      const log = new RequestLogger(logger, { reqId: "req_last" });
      const request = { id: "req_last", method: "GET", url: "/healthz", ip: "127.0.0.1", server: { log: logger } };
      new AccessLog().requestCompleted(null, request, { log, statusCode: 200, elapsedTime: 1 });
      process.exit(0);
    `;
    try {
      execFileSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
        cwd: path.dirname(fileURLToPath(import.meta.url)),
        stdio: "pipe",
      });
      const written = readFileSync(file, "utf8").split("\n").filter(Boolean);
      expect(written.map((line) => (JSON.parse(line) as { msg: string }).msg)).toEqual([
        "started",
        "request completed",
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("prints the response time to the microsecond, as a number", () => {
    const { logger, lines } = capturedLogger("info");
    const log = new RequestLogger(logger, { reqId: "req_0123" });
    const [request, reply] = finished(log, logger);
    (reply as unknown as { elapsedTime: number }).elapsedTime = 0.021912999996857252;
    new AccessLog().requestCompleted(null, request, reply);
    flushAccessLines();
    expect(lines[0]).toContain('"responseTime":0.022,');
    expect(JSON.parse(lines[0]!)).toMatchObject({ responseTime: 0.022 });
  });

  it("writes the rounded time exactly as JSON writes that number, whatever its digits", () => {
    const asNumber = (ms: number) => JSON.stringify(Math.round(ms * 1000) / 1000);
    const samples = [
      0,
      0.0004,
      0.0005,
      0.001,
      0.005,
      0.01,
      0.05,
      0.1,
      0.12,
      0.125,
      0.5,
      0.9995,
      1,
      1.5,
      1.05,
      1.005,
      1.0504,
      12,
      12.34,
      99.999,
      100,
      1234.5678,
      86_400_000,
      3e9,
      1e12,
      -0.3,
      -2,
      Number.MAX_SAFE_INTEGER,
    ];
    for (let i = 0; i < 5_000; i++) samples.push(Math.random() * 10 ** ((i % 7) - 2));
    for (const ms of samples) expect(roundedMs(ms), String(ms)).toBe(asNumber(ms));
  });
});

describe("successful answers past the budget a second", () => {
  type Line = { msg: string; res?: { statusCode: number }; notWritten?: number };
  const parsed = (lines: string[]) => lines.map((line) => JSON.parse(line) as Line);
  const answered = (lines: string[]) =>
    parsed(lines)
      .filter((line) => line.msg === "request completed")
      .map((line) => line.res!.statusCode);
  const notWritten = (lines: string[]) =>
    parsed(lines)
      .filter((line) => line.msg === "successful requests not written")
      .reduce((sum, line) => sum + line.notWritten!, 0);

  function withFakeClock(run: () => void) {
    useFakeClock();
    try {
      run();
    } finally {
      useRealClock();
    }
  }

  it("are counted, one line a second says how many; refusals and errors are always written", () => {
    withFakeClock(() => {
      const { logger, lines } = capturedLogger("info");
      const accessLog = new AccessLog({ successLinesPerSecond: 3 });
      const answer = (status: number) =>
        accessLog.write(logger, "req_1", "GET", "/api/v1/iocs", "192.0.2.7", status, 1);
      for (const status of [200, 200, 401, 200, 304, 200, 429, 500, 403, 200]) answer(status);
      vi.advanceTimersByTime(100);
      // The first three successes, every refusal and error, in order; no summary yet.
      expect(answered(lines)).toEqual([200, 200, 401, 200, 429, 500, 403]);
      vi.advanceTimersByTime(1_000);
      expect(notWritten(lines)).toBe(3);
      const summary = parsed(lines).at(-1)!;
      expect(summary).toMatchObject({
        level: 30,
        msg: "successful requests not written",
        notWritten: 3,
        successLinesPerSecond: 3,
      });
      expect(summary).toHaveProperty("pid");
      // A new second has a new budget.
      lines.length = 0;
      for (let i = 0; i < 4; i++) answer(200);
      flushAccessLines();
      expect(answered(lines)).toEqual([200, 200, 200]);
      expect(notWritten(lines)).toBe(1);
    });
  });

  it("the budget is a second long, not a calendar second", () => {
    withFakeClock(() => {
      const { logger, lines } = capturedLogger("info");
      const accessLog = new AccessLog({ successLinesPerSecond: 2 });
      const answer = () => accessLog.write(logger, "req_1", "GET", "/", "192.0.2.7", 200, 1);
      answer();
      vi.advanceTimersByTime(999);
      answer();
      answer();
      vi.advanceTimersByTime(1);
      answer();
      answer();
      answer();
      flushAccessLines();
      expect(answered(lines)).toHaveLength(4);
      expect(notWritten(lines)).toBe(2);
    });
  });

  it("default to 1,000 a second; all of them, or none, when configured so", () => {
    withFakeClock(() => {
      const { logger, lines } = capturedLogger("info");
      const send = (accessLog: AccessLog, count: number) => {
        lines.length = 0;
        for (let i = 0; i < count; i++) {
          accessLog.write(logger, "req_1", "GET", "/", "192.0.2.7", 200, 1);
        }
        flushAccessLines();
      };
      send(new AccessLog(), 1_001);
      expect(answered(lines)).toHaveLength(1_000);
      expect(notWritten(lines)).toBe(1);
      send(new AccessLog({ successLinesPerSecond: Number.POSITIVE_INFINITY }), 2_500);
      expect(answered(lines)).toHaveLength(2_500);
      expect(notWritten(lines)).toBe(0);
      send(new AccessLog({ successLinesPerSecond: 0 }), 10);
      expect(answered(lines)).toHaveLength(0);
      expect(notWritten(lines)).toBe(10);
    });
  });

  it("write nothing, not even the count, when the level is above info", () => {
    const { logger, lines } = capturedLogger("warn");
    const accessLog = new AccessLog({ successLinesPerSecond: 0 });
    accessLog.write(logger, "req_1", "GET", "/", "192.0.2.7", 200, 1);
    flushAccessLines();
    expect(lines).toEqual([]);
  });
});

describe("health probes", () => {
  type Summary = {
    level: number;
    msg: string;
    path: string;
    probes: number;
    addresses: string[];
    probesFromOtherAddresses: number;
  };

  it("are counted and written as one line a minute, with the addresses that probed", () => {
    useFakeClock();
    try {
      const { logger, lines, writes } = capturedLogger("info");
      const accessLog = new AccessLog();
      for (let i = 0; i < 100; i++) accessLog.probe(logger, "/healthz", `10.0.0.${i % 3}`);
      vi.advanceTimersByTime(59_999);
      expect(writes).toEqual([]);
      vi.advanceTimersByTime(1);
      // The summary joins the access lines' batch (written within 100 ms).
      vi.advanceTimersByTime(100);
      expect(lines).toHaveLength(1);
      const summary = JSON.parse(lines[0]!) as Summary;
      expect(summary).toMatchObject({
        level: 30,
        msg: "health probes answered",
        path: "/healthz",
        probes: 100,
        probesFromOtherAddresses: 0,
      });
      expect(summary.addresses.sort()).toEqual(["10.0.0.0", "10.0.0.1", "10.0.0.2"]);
      // A quiet minute writes nothing; the next probe opens a new window.
      vi.advanceTimersByTime(120_000);
      expect(lines).toHaveLength(1);
      accessLog.probe(logger, "/healthz", undefined);
      vi.advanceTimersByTime(60_100);
      expect(JSON.parse(lines[1]!)).toMatchObject({ probes: 1, addresses: ["unknown"] });
    } finally {
      useRealClock();
    }
  });

  it("name 16 addresses at most; probes from the others are counted apart", () => {
    const { logger, lines } = capturedLogger("info");
    const accessLog = new AccessLog();
    for (let i = 0; i < 20; i++) accessLog.probe(logger, "/healthz", `192.0.2.${i}`);
    accessLog.probe(logger, "/healthz", "192.0.2.19");
    accessLog.probe(logger, "/healthz", "192.0.2.0");
    flushAccessLines();
    const summary = JSON.parse(lines[0]!) as Summary;
    expect(summary.probes).toBe(22);
    expect(summary.addresses).toHaveLength(16);
    expect(summary.probesFromOtherAddresses).toBe(5);
  });

  it("write nothing when the level is above info", () => {
    const { logger, lines } = capturedLogger("warn");
    new AccessLog().probe(logger, "/healthz", "10.0.0.1");
    flushAccessLines();
    expect(lines).toEqual([]);
  });
});

describe("jsonString", () => {
  it("writes every string as JSON.stringify does", () => {
    const samples = [
      "",
      "/api/v1/iocs?q=1",
      'a"b',
      "back\\slash",
      "line\nbreak",
      "tab\tand\u0000nul\u001f",
      "del\u007f",
      "é ü 漢字",
      "\u2028\u2029",
      "😀",
      "lone \ud800 surrogate",
      "lone \udc00 low",
      "::ffff:192.0.2.1",
    ];
    for (const value of samples) expect(jsonString(value)).toBe(JSON.stringify(value));
  });

  it("writes a missing value (a closed socket's address) as null, so the line stays JSON", () => {
    const { logger, lines } = capturedLogger("info");
    new AccessLog().write(logger, "req_1", "GET", "/healthz", undefined, 200, 0.1);
    flushAccessLines();
    expect(JSON.parse(lines[0]!)).toMatchObject({ req: { remoteAddress: null } });
  });
});

describe("redactUrl", () => {
  // Every spelling the gateway accepts as the key (or a token or password), including the
  // ones that hide the letters a quick check looks for behind separators and escapes.
  const secrets = [
    "api_key",
    "API-KEY",
    "a-p-i_k-e-y",
    "api+key",
    "apikey[]",
    "apikey[0]",
    "api%5Fkey",
    "api%6Bey",
    "api%4Bey",
    "%61%70%69%6b%65%79",
    "TOKEN",
    "to_ken",
    "PassWord",
    "pass%77ord",
  ];
  it.each(secrets)("redacts ?%s= wherever it stands in the query", (name) => {
    for (const [url, expected] of [
      [`/api/v1/iocs?${name}=sk_live_x`, `/api/v1/iocs?${name}=[REDACTED]`],
      [`/api/v1/iocs?limit=5&${name}=sk_live_x`, `/api/v1/iocs?limit=5&${name}=[REDACTED]`],
      [`/api/v1/iocs?${name}=sk_live_x&type=ip`, `/api/v1/iocs?${name}=[REDACTED]&type=ip`],
    ]) {
      expect(redactUrl(url!)).toBe(expected);
    }
  });

  it("leaves URLs without a secret as they are", () => {
    for (const url of [
      "/healthz",
      "/api/v1/iocs?type=ip&limit=50",
      "/api/v1/iocs?q=keyword&page=2",
      "/api/v1/iocs?owner=who&%41=1",
      "/api/v1/iocs?",
    ]) {
      expect(redactUrl(url)).toBe(url);
    }
  });
});

describe("request ids", () => {
  it("are req_ and 32 hex digits, all different, across refills of their randomness", () => {
    const next = requestIds();
    const ids = Array.from({ length: 2_000 }, next);
    for (const id of ids) expect(id).toMatch(/^req_[0-9a-f]{32}$/);
    expect(new Set(ids).size).toBe(ids.length);
    // Two generators (two processes) share nothing.
    const other = requestIds();
    expect(ids).not.toContain(other());
  });
});
