// Short confirmations after an action ("Key revoked"), visible and announced politely.
import { useEffect, useSyncExternalStore } from "react";

let message: { text: string; id: number } | null = null;
let counter = 0;
const listeners = new Set<() => void>();

function emit() {
  for (const listener of listeners) listener();
}

export function toast(text: string) {
  counter += 1;
  message = { text, id: counter };
  emit();
}

function subscribe(listener: () => void) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function Toaster() {
  const current = useSyncExternalStore(subscribe, () => message);
  useEffect(() => {
    if (!current) return;
    const timer = window.setTimeout(() => {
      if (message?.id === current.id) {
        message = null;
        emit();
      }
    }, 6000);
    return () => window.clearTimeout(timer);
  }, [current]);
  return (
    <div className="toaster" role="status" aria-live="polite">
      {current && (
        <div className="toast" key={current.id}>
          {current.text}
        </div>
      )}
    </div>
  );
}
