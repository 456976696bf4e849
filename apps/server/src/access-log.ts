/**
 * The server's logging: where lines go (logDestination), pino's settings (loggerOptions),
 * the access log (a line per request, with secrets redacted from its URL) and the
 * per-request logger Fastify hands to handlers.
 */
import { performance } from "node:perf_hooks";
import pino from "pino";
import { safeError } from "@repo/core";
import {
  LogController,
  type FastifyBaseLogger,
  type FastifyReply,
  type FastifyRequest,
} from "fastify";

/**
 * Query parameters whose values must never reach a log line, by name percent-decoded,
 * trimmed, lower-cased and without `-`, `_` or an array suffix: `api_key`, `API-KEY`,
 * `api%5Fkey`, `apikey[]` are all the key (the gateway accepts every one of them).
 */
const SECRET_QUERY_PARAM = /^(apikey|token|password)(\[.*)?$/;

function isSecretParam(rawName: string): boolean {
  let name = rawName.replaceAll("+", " ");
  try {
    name = decodeURIComponent(name);
  } catch {
    // Undecodable: judged as written.
  }
  return SECRET_QUERY_PARAM.test(
    name
      .trim()
      .toLowerCase()
      .replace(/[-_\s]/g, ""),
  );
}

/**
 * Every name above, however spelled, holds a `k` (apikey, token) or a `w` (password) once
 * decoded, and only a `%` escape can hide a letter: a query without any of the three has no
 * secret to redact. Measured: the full scan of a two-parameter query cost about 1.6 µs a line.
 */
const MAY_HOLD_SECRET = /[%kw]/i;

export function redactUrl(url: string): string {
  const queryAt = url.indexOf("?");
  if (queryAt === -1) return url;
  const query = url.slice(queryAt + 1);
  if (!MAY_HOLD_SECRET.test(query)) return url;
  const parts = query.split("&");
  for (let i = 0; i < parts.length; i++) {
    const eq = parts[i]!.indexOf("=");
    const name = eq === -1 ? parts[i]! : parts[i]!.slice(0, eq);
    if (isSecretParam(name)) parts[i] = `${name}=[REDACTED]`;
  }
  return `${url.slice(0, queryAt + 1)}${parts.join("&")}`;
}

/**
 * Where the server's log lines go: stdout, written asynchronously. A line is handed to libuv
 * instead of blocking the request on a write(2); while one write is in flight the next lines
 * are joined into the following one, and a quiet server writes each line at once (access
 * lines arrive already gathered: see LineBatch). Buffered lines are flushed synchronously
 * when the process exits (pino registers the handler).
 */
export function logDestination(dest: number | string = 1) {
  return pino.destination({ dest, sync: false });
}

/** ACCESS_LOG_SUCCESS_LINES_PER_SECOND's default: access lines for successful answers a second. */
export const DEFAULT_SUCCESS_LINES_PER_SECOND = 1_000;

export interface AccessLogOptions {
  /**
   * Lines for successful answers (status below 400) written per second; past that they are
   * counted (see SuccessBudget). Infinity: every one. Refusals and errors are always written.
   */
  successLinesPerSecond?: number;
}

/**
 * The access log: one line per request, written when it is answered (method, redacted URL,
 * client address, status, time, request id), instead of Fastify's two (incoming, completed).
 * A failed request's error is reported by its codes, never its message or stack. Successful
 * answers past a budget a second are counted instead (see SuccessBudget).
 */
export class AccessLog extends LogController {
  private batch: LineBatch | undefined;
  private successes: SuccessBudget | undefined;
  private readonly successLinesPerSecond: number;
  constructor(options: AccessLogOptions = {}) {
    super();
    this.successLinesPerSecond = options.successLinesPerSecond ?? DEFAULT_SUCCESS_LINES_PER_SECOND;
  }
  override incomingRequest() {}
  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
  ) {
    if (error) {
      const line = { req: request, res: reply, responseTime: reply.elapsedTime };
      reply.log.error({ ...line, error: safeError(error) }, "request errored");
    } else {
      this.write(
        request.server.log,
        request.id,
        request.method,
        request.url,
        request.ip,
        reply.statusCode,
        reply.elapsedTime,
      );
    }
  }

  /**
   * One answered request's line (also the server's fast lane's, which answers without
   * Fastify), written by hand in pino's own format: level, time, the server logger's
   * bindings (pid, hostname), then reqId. Measured: going through pino (serializers,
   * redaction, stringify) took /healthz from about 38,000 to 23,000 req/s on the benchmark
   * machine; this line carries only method, redacted URL, address and status, so there is
   * nothing for redaction to find.
   */
  write(
    serverLog: FastifyBaseLogger,
    id: string,
    method: string,
    url: string,
    ip: string | undefined,
    status: number,
    elapsedMs: number,
  ) {
    if (!(serverLog as ServerLogger).isLevelEnabled?.("info")) return;
    if (status < 400 && !this.successBudget(serverLog).admit()) return;
    this.lineBatch(serverLog).add(
      infoLine(
        serverLog,
        `"reqId":${jsonString(id)},"req":{"method":${jsonString(method)},"url":${jsonString(redactUrl(url))},"remoteAddress":${jsonString(ip)}},"res":{"statusCode":${status}},"responseTime":${roundedMs(elapsedMs)},"msg":"request completed"`,
      ),
    );
  }

  private probes: ProbeTally | undefined;

  /**
   * A health probe answered 200 (`GET /healthz`): counted instead of written, and summed up
   * in one line a minute (`msg: "health probes answered"`: the count and the addresses that
   * probed), as nginx's `access_log off` for a health location or Rails'
   * `silence_healthcheck_path` do. Load balancers probe every few seconds from each of their
   * nodes; a line per probe buries the requests an operator reads the log for, and measured,
   * writing it cost about a tenth of `/healthz`'s CPU. A probe that is not answered 200 (a
   * 503 while shutting down) has its own line, as every other request does.
   */
  probe(serverLog: FastifyBaseLogger, path: string, ip: string | undefined) {
    if (!(serverLog as ServerLogger).isLevelEnabled?.("info")) return;
    this.probes ??= new ProbeTally(path, this.summaries(serverLog));
    this.probes.add(ip);
  }

  private successBudget(serverLog: FastifyBaseLogger): SuccessBudget {
    return (this.successes ??= new SuccessBudget(
      this.successLinesPerSecond,
      this.summaries(serverLog),
    ));
  }

  /** Where the held summaries (probe tally, success budget) write: the access lines' batch. */
  private summaries(serverLog: FastifyBaseLogger): WriteInfo {
    return (fields) => this.lineBatch(serverLog).add(infoLine(serverLog, fields));
  }

  private lineBatch(serverLog: FastifyBaseLogger): LineBatch {
    const server = serverLog as unknown as Record<symbol, unknown>;
    return (this.batch ??= new LineBatch(server[pino.symbols.streamSym] as Destination));
  }
}

/**
 * Something the log holds and writes later (a batch of lines, a probe tally): its first entry
 * starts a timer, and it is written when the timer fires, when it asks to be, or at exit.
 */
abstract class Held {
  private timer: NodeJS.Timeout | undefined;
  /** Starts the timer unless it runs. */
  protected hold(ms: number) {
    if (this.timer !== undefined) return;
    held.add(this);
    this.timer = setTimeout(this.flush, ms).unref();
  }
  readonly flush = () => {
    clearTimeout(this.timer);
    this.timer = undefined;
    held.delete(this);
    this.write();
  };
  protected abstract write(): void;
}

/** What is held and not yet written. */
const held = new Set<Held>();

/** Addresses a probe summary names; probes from others are counted apart. */
const PROBE_ADDRESSES = 16;
const PROBE_WINDOW_MS = 60_000;

/** Health probes counted since the first of them, written as one line after a minute. */
class ProbeTally extends Held {
  private count = 0;
  private readonly addresses = new Set<string>();
  private fromOthers = 0;
  constructor(
    private readonly path: string,
    private readonly writeInfo: WriteInfo,
  ) {
    super();
  }
  add(ip: string | undefined) {
    this.count++;
    const address = ip ?? "unknown";
    if (!this.addresses.has(address)) {
      if (this.addresses.size < PROBE_ADDRESSES) this.addresses.add(address);
      else this.fromOthers++;
    }
    this.hold(PROBE_WINDOW_MS);
  }
  protected write() {
    if (this.count === 0) return;
    this.writeInfo(
      `"msg":"health probes answered","path":${jsonString(this.path)},"probes":${this.count},"addresses":[${[...this.addresses].map(jsonString).join(",")}],"probesFromOtherAddresses":${this.fromOthers}`,
    );
    this.count = 0;
    this.addresses.clear();
    this.fromOthers = 0;
  }
}

/**
 * Lines for successful answers are written up to a budget a second, as journald's
 * `RateLimitBurst` or a sampled access log do; past it they are counted, and one line a
 * second later says how many were not written (`msg: "successful requests not written"`,
 * `notWritten`, `successLinesPerSecond`). Refusals and errors are never held back. Why: a
 * busy gateway answering 20,000 requests a second would write 20,000 lines (6 MB) a second,
 * which no one reads line by line, and measured (data plane, PostgreSQL, interleaved runs)
 * writing every line cost about a sixth of a data request's server CPU; what a key did
 * is kept anyway, per key and minute, in the usage rollups and the addresses it was used
 * from. A window is the second (monotonic clock) from the first successful answer after the
 * previous window ended.
 */
class SuccessBudget extends Held {
  private windowStart = Number.NEGATIVE_INFINITY;
  private written = 0;
  private notWritten = 0;
  constructor(
    private readonly perSecond: number,
    private readonly writeInfo: WriteInfo,
  ) {
    super();
  }
  /** True: write this answer's line; false: it is counted. */
  admit(): boolean {
    const now = performance.now();
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.written = 0;
    }
    if (this.written < this.perSecond) {
      this.written++;
      return true;
    }
    this.notWritten++;
    this.hold(1000);
    return false;
  }
  protected write() {
    if (this.notWritten === 0) return;
    this.writeInfo(
      `"msg":"successful requests not written","notWritten":${this.notWritten},"successLinesPerSecond":${this.perSecond}`,
    );
    this.notWritten = 0;
  }
}

/** Writes an info line whose fields (after level, time and bindings) are given as JSON. */
type WriteInfo = (fields: string) => void;

/**
 * An info line in pino's own format: level, time, the server logger's bindings (pid,
 * hostname), then `fields` (JSON members, without braces).
 */
function infoLine(serverLog: FastifyBaseLogger, fields: string): string {
  const bindings = (serverLog as unknown as Record<symbol, string>)[pino.symbols.chindingsSym]!;
  return `{"level":30,"time":${clock.text()}${bindings},${fields}}\n`;
}

// eslint-disable-next-line no-control-regex
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/**
 * A string as JSON.stringify writes it, without calling it when nothing needs escaping
 * (quotes, backslashes, control characters, surrogates): JSON.stringify is a call into V8's
 * C++ runtime, and measured, the line's four calls took about 3% of `/healthz`'s CPU. An
 * address can be missing (a socket already closed): null.
 */
export function jsonString(value: string | undefined): string {
  if (value === undefined) return "null";
  return NEEDS_ESCAPE.test(value) ? JSON.stringify(value) : `"${value}"`;
}

/**
 * The response time in milliseconds to the microsecond, as JSON.stringify writes that number
 * (`0.022`, `1.5`, `12`). Measured: printing the full double (0.021912999996857252) took
 * about 0.5 µs a line, and the digits past the microsecond are noise. Written from whole
 * numbers: a fraction is converted to text by V8's runtime (0.2% of a data request's CPU),
 * small integers come from its cache.
 */
export function roundedMs(ms: number): string {
  const micros = Math.round(ms * 1000);
  if (!(micros >= 0 && micros <= 0x7fffffff)) return String(micros / 1000);
  const fraction = micros % 1000;
  const whole = (micros - fraction) / 1000;
  if (fraction === 0) return String(whole);
  // Without trailing zeros, as a number is printed: .5, .05, .005, .25, .025, .125.
  if (fraction % 100 === 0) return `${whole}.${fraction / 100}`;
  if (fraction % 10 === 0) {
    const hundredths = fraction / 10;
    return `${whole}.${hundredths < 10 ? "0" : ""}${hundredths}`;
  }
  return `${whole}.${fraction < 10 ? "00" : fraction < 100 ? "0" : ""}${fraction}`;
}

/**
 * The wall clock in milliseconds as text, converted once per millisecond (it is not a small
 * integer to V8). Read from the monotonic clock plus an offset taken from Date.now() at most
 * once a second: Date.now() is a call into V8's C++ runtime, performance.now() is not
 * (measured: about 2% of a data request's CPU). A step of the system clock reaches the
 * lines within a second.
 */
const clock = {
  offset: 0,
  syncedAt: Number.NEGATIVE_INFINITY,
  ms: 0,
  string: "0",
  text() {
    const monotonic = performance.now();
    // (Or when the monotonic clock is behind the last sync: only a test's fake clock is.)
    if (monotonic - this.syncedAt >= 1000 || monotonic < this.syncedAt) {
      this.offset = Date.now() - monotonic;
      this.syncedAt = monotonic;
    }
    const now = Math.floor(this.offset + monotonic);
    if (now !== this.ms) {
      this.ms = now;
      this.string = String(now);
    }
    return this.string;
  },
};

/** pino's destination: sonic-boom in production, any writable in tests. */
interface Destination {
  write(chunk: string): unknown;
}

/**
 * Access lines are held and handed to the destination together, as nginx's `access_log
 * buffer= flush=` does: when they reach BATCH_BYTES (counted in characters: the lines are
 * ASCII unless a URL is not), or BATCH_MS after the first of them, whichever comes first.
 * Measured (/healthz on PostgreSQL, interleaved rounds): each hand-over is an asynchronous
 * write on libuv's thread pool, and handing over each event-loop turn's few lines made the
 * access log cost about 6 µs of server CPU a request, more than building the lines. A line
 * reaches the log at most BATCH_MS after its response; lines still waiting when the process
 * exits are written synchronously then (a SIGKILL loses them).
 */
const BATCH_BYTES = 16 * 1024;
const BATCH_MS = 100;

class LineBatch extends Held {
  private lines: string[] = [];
  private bytes = 0;
  constructor(private readonly destination: Destination) {
    super();
  }
  add(line: string) {
    this.lines.push(line);
    this.bytes += line.length;
    if (this.bytes >= BATCH_BYTES) this.flush();
    else this.hold(BATCH_MS);
  }
  protected write() {
    if (this.lines.length === 0) return;
    const text = this.lines.join("");
    this.lines = [];
    this.bytes = 0;
    this.destination.write(text);
  }
}

/**
 * Writes the access lines and probe tallies still waiting: at exit, and for tests reading
 * the log. The exit handler is registered when this module loads, before any logger exists,
 * so it runs before pino's own, which then writes the destination out synchronously.
 */
export function flushAccessLines() {
  // A probe tally writes into a batch, which is then held again: a Set's iteration also
  // visits what is added during it, so that batch is written in this same loop.
  for (const item of held) item.flush();
}
process.on("exit", flushAccessLines);

type LogMethod = (...args: unknown[]) => void;
/** Fastify's server logger: pino, or with `logger: false` its null logger (no isLevelEnabled). */
type ServerLogger = Omit<pino.Logger, "isLevelEnabled"> &
  Partial<Pick<pino.Logger, "isLevelEnabled">>;

/**
 * `request.log`: the server's logger with the request id bound, made only when the request
 * logs something besides its access line (a refusal, a warning, an error). Fastify's default
 * builds a pino child (bindings serialized) for every request, which most never use.
 */
export class RequestLogger {
  private made: pino.Logger | undefined;
  private readonly parent: ServerLogger;
  constructor(
    parent: FastifyBaseLogger,
    private readonly bindings: pino.Bindings,
  ) {
    this.parent = parent as ServerLogger;
  }
  private get log(): pino.Logger {
    return (this.made ??= this.parent.child(this.bindings));
  }
  get level() {
    return this.parent.level;
  }
  isLevelEnabled(level: string): boolean {
    // With logging off nothing is enabled (calling the null logger's missing method threw
    // on every request, inside the response's finish handler).
    return this.parent.isLevelEnabled?.(level) ?? false;
  }
  child(bindings: pino.Bindings, options?: pino.ChildLoggerOptions) {
    return this.log.child(bindings, options);
  }
  private write(level: pino.Level, args: unknown[]) {
    const log = this.log;
    const method: LogMethod = log[level];
    method.call(log, ...args);
  }
  fatal(...args: unknown[]) {
    this.write("fatal", args);
  }
  error(...args: unknown[]) {
    this.write("error", args);
  }
  warn(...args: unknown[]) {
    this.write("warn", args);
  }
  info(...args: unknown[]) {
    this.write("info", args);
  }
  debug(...args: unknown[]) {
    this.write("debug", args);
  }
  trace(...args: unknown[]) {
    this.write("trace", args);
  }
  silent() {}
}

/** Logger settings shared by the server and tests: no cookies, keys or passwords, ever. */
export function loggerOptions(level: string) {
  return {
    level,
    redact: {
      paths: [
        "req.headers.authorization",
        "req.headers.cookie",
        'req.headers["x-api-key"]',
        'res.headers["set-cookie"]',
        "*.password",
      ],
      censor: "[REDACTED]",
    },
    serializers: {
      req: (request: { method: string; url: string; ip?: string }) => ({
        method: request.method,
        url: redactUrl(request.url),
        remoteAddress: request.ip,
      }),
      res: (reply: { statusCode: number }) => ({ statusCode: reply.statusCode }),
    },
  };
}
