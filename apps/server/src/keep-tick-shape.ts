/**
 * Keeps one of Node's `process.nextTick` queue entries alive for the life of the process, so
 * that every later entry has the same hidden class (V8 map) as the first ones.
 *
 * Why: Node builds each entry as `{ [async_id_symbol]: …, [trigger_async_id_symbol]: …,
 * callback, args }`. V8 gives an object literal with computed keys its maps by transition
 * at run time, and keeps those maps only while some object uses them. A full garbage
 * collection while no entry is queued (an idle server: V8's memory reducer runs one; opening
 * the embedded database runs several) frees them; the next entry gets new maps, the literal's
 * feedback no longer matches, and V8 gives up on it for good: every `nextTick` from then on
 * defines both keys through a call into the runtime instead of a store. Node's HTTP and
 * stream code queues four or five ticks per request.
 *
 * Measured (docs/measurements.md, Benchmarks): a `process.nextTick` went from about 90 ns to 250 ns
 * after one idle collection; the embedded database's server, and a PostgreSQL server after an idle
 * collection, answered `/healthz` about 17% slower, with the runtime call in every request's
 * profile. Holding one entry keeps its maps, and so the literal's fast path. The entry is
 * the currently running tick's own resource (`executionAsyncResource()` inside a `nextTick`
 * callback): no async hook is installed.
 *
 * Import this module first, before anything that may queue ticks or collect garbage.
 */
import { executionAsyncResource } from "node:async_hooks";

const kept: object[] = [];

process.nextTick(() => {
  kept.push(executionAsyncResource());
});

/** The queue entry being held (tests check that one is). */
export function keptTickEntry(): object | undefined {
  return kept[0];
}
