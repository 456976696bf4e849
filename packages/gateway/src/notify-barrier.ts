/**
 * "Has this process heard every key-change notification committed so far?" Postgres delivers
 * notifications in commit order, so once a token this process sends on the channel comes back,
 * every key inserted before the send has reached the key filter too. A key minted through one
 * process and used at once on another (a script behind a load balancer) would otherwise be
 * refused for the few milliseconds its insert notification is on the way.
 *
 * Coalesced: callers share one round trip, started at most every `minIntervalMs`, so a flood
 * of invented keys costs the database a bounded number of tiny statements per second (500 at
 * the default 2 ms) however many keys it presents, and delays each refusal by a round trip or
 * two. A round trip that fails or times out answers false (the caller then answers that the key
 * could not be checked: fail closed). The tokens travel on a channel only this process listens to, on the
 * connection that hears the key changes (notifications reach a session in commit order).
 */
export interface NotifyBarrier {
  /** Resolves true once a notification sent after this call came back (false: gave up). */
  sync(): Promise<boolean>;
  /** Feed every payload of the barrier's own channel here. */
  received(token: string): void;
}

export function createNotifyBarrier(options: {
  send(token: string): Promise<void>;
  minIntervalMs?: number;
  timeoutMs?: number;
}): NotifyBarrier {
  const minIntervalMs = options.minIntervalMs ?? 2;
  const timeoutMs = options.timeoutMs ?? 500;
  let sequence = 0;
  let lastStart = -Infinity;
  /** Callers waiting for a round trip that has not started yet (one in flight may predate them). */
  let next: ((ok: boolean) => void)[] = [];
  let inFlight: {
    token: string;
    waiters: ((ok: boolean) => void)[];
    timer: NodeJS.Timeout;
  } | null = null;
  let scheduled: NodeJS.Timeout | NodeJS.Immediate | null = null;

  function finish(ok: boolean) {
    if (!inFlight) return;
    clearTimeout(inFlight.timer);
    const { waiters } = inFlight;
    inFlight = null;
    for (const resolve of waiters) resolve(ok);
    schedule();
  }

  function start() {
    scheduled = null;
    if (inFlight || next.length === 0) return;
    lastStart = Date.now();
    const token = String(++sequence);
    // The timeout is decided after the event loop's next I/O poll: timers run before it, so
    // after a stall (a burst of requests, a starved CPU) an expired timer would otherwise
    // give up on a token already waiting in the socket.
    const timer = setTimeout(
      () =>
        setImmediate(() => {
          if (inFlight?.token === token) finish(false);
        }),
      timeoutMs,
    );
    timer.unref();
    inFlight = { token, waiters: next, timer };
    next = [];
    options.send(token).catch(() => {
      if (inFlight?.token === token) finish(false);
    });
  }

  function schedule() {
    if (inFlight || scheduled || next.length === 0) return;
    // Started on the next turn at the earliest, so callers of the same burst share it.
    const wait = lastStart + minIntervalMs - Date.now();
    scheduled = wait <= 0 ? setImmediate(start) : setTimeout(start, wait);
  }

  return {
    sync() {
      return new Promise<boolean>((resolve) => {
        next.push(resolve);
        schedule();
      });
    },
    received(token) {
      // Only the round trip in flight counts: a token that comes back after its timeout is late.
      if (inFlight?.token === token) finish(true);
    },
  };
}
