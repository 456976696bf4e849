import { useEffect, useState } from "react";

/**
 * The current time for relative labels. Read at every render (so a list refetched a second ago
 * never shows its newest key as "in a few seconds"), and re-rendered every `intervalMs` so an
 * open tab stays true.
 */
export function useNow(intervalMs = 30_000): Date {
  const [, setTick] = useState(0);
  useEffect(() => {
    const timer = window.setInterval(() => setTick((tick) => tick + 1), intervalMs);
    return () => window.clearInterval(timer);
  }, [intervalMs]);
  return new Date();
}
