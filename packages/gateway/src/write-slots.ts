/**
 * Per-key slots for writes spread over a period instead of made at every tick (coalesced
 * usage, rewrites of known client addresses): a waiting key is written when its slot in the
 * period comes. The slot comes from the key's id, so keys that all became active at once (a
 * restart, a wave of SIEMs polling) are still written evenly over the period, not in a burst
 * one period later.
 */

/** Where in every `periodMs` a key's slot lies: FNV-1a of its id, so stable and spread. */
function slotPhase(keyId: string, periodMs: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < keyId.length; i++) hash = Math.imul(hash ^ keyId.charCodeAt(i), 0x01000193);
  return (hash >>> 0) % periodMs;
}

/**
 * The key's first slot strictly after `afterMs`. Strictly: a key written at its slot and
 * used again in that same millisecond is due a period later, not at the next tick.
 */
export function slotAfter(keyId: string, afterMs: number, periodMs: number): number {
  const from = afterMs + 1;
  return from + ((((slotPhase(keyId, periodMs) - from) % periodMs) + periodMs) % periodMs);
}
