import { keyStatus, type KeyStatus } from "../../lib/key-status.js";
import type { KeyListItem } from "../../lib/trpc.js";

/** What the keys page shows: kept in the URL (`?q=&status=&sort=`) so a view can be shared. */
export interface ListView {
  q: string;
  status: KeyStatus | "all";
  sort: "newest" | "oldest" | "name" | "last_used" | "requests";
}

export const SORTS: { value: ListView["sort"]; label: string }[] = [
  { value: "newest", label: "Newest first" },
  { value: "oldest", label: "Oldest first" },
  { value: "name", label: "Name" },
  { value: "last_used", label: "Last used" },
  { value: "requests", label: "Most requests" },
];
const STATUSES = ["all", "active", "expired", "revoked"] as const;

export function readListView(search: string): ListView {
  const params = new URLSearchParams(search);
  const status = params.get("status");
  const sort = params.get("sort");
  return {
    q: (params.get("q") ?? "").slice(0, 100),
    status: STATUSES.find((s) => s === status) ?? "all",
    sort: SORTS.find((s) => s.value === sort)?.value ?? "newest",
  };
}

/** The query string of a view; defaults are left out so the plain URL stays plain. */
export function listViewSearch(view: ListView): string {
  const params = new URLSearchParams();
  if (view.q.trim()) params.set("q", view.q.trim());
  if (view.status !== "all") params.set("status", view.status);
  if (view.sort !== "newest") params.set("sort", view.sort);
  const text = params.toString();
  return text ? `?${text}` : "";
}

/** The keys matching the view's name/prefix filter and status, in its order. */
export function applyListView(keys: readonly KeyListItem[], view: ListView, now: Date) {
  const needle = view.q.trim().toLowerCase();
  const shown = keys.filter(
    (key) =>
      (!needle ||
        key.name.toLowerCase().includes(needle) ||
        key.key_prefix.toLowerCase().includes(needle)) &&
      (view.status === "all" || keyStatus(key, now) === view.status),
  );
  const time = (iso: string | null) => (iso ? Date.parse(iso) : 0);
  const order: Record<ListView["sort"], (a: KeyListItem, b: KeyListItem) => number> = {
    newest: (a, b) => time(b.created_at) - time(a.created_at),
    oldest: (a, b) => time(a.created_at) - time(b.created_at),
    name: (a, b) => a.name.localeCompare(b.name) || a.key_prefix.localeCompare(b.key_prefix),
    last_used: (a, b) => time(b.last_used_at) - time(a.last_used_at),
    requests: (a, b) => b.total_requests - a.total_requests,
  };
  return [...shown].sort(order[view.sort]);
}
