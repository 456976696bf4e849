// Why the sign-in page is showing, when the person did not simply arrive there: their session
// ended underneath them, or they signed out. A tiny store so the query client can set it.
import { useSyncExternalStore } from "react";

export type SessionNotice = "expired" | "signed-out" | null;

let notice: SessionNotice = null;
const listeners = new Set<() => void>();

export function getSessionNotice(): SessionNotice {
  return notice;
}

export function setSessionNotice(next: SessionNotice) {
  if (notice === next) return;
  notice = next;
  for (const listener of listeners) listener();
}

function subscribe(listener: () => void) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function useSessionNotice(): SessionNotice {
  return useSyncExternalStore(subscribe, () => notice);
}
