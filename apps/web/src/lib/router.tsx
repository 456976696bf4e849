// A history-API router for a handful of pages: no dependency needed for three routes.
import { useSyncExternalStore, type AnchorHTMLAttributes, type MouseEvent } from "react";

export type Route =
  | { name: "keys" }
  | { name: "key"; id: string }
  | { name: "activity" }
  | { name: "security" }
  | { name: "reset-password" }
  | { name: "canaries" }
  | { name: "canary"; id: string }
  | { name: "webhooks" }
  | { name: "not-found" };

export function parseRoute(pathname: string): Route {
  const path = pathname.replace(/\/+$/, "") || "/";
  if (path === "/" || path === "/keys") return { name: "keys" };
  if (path === "/activity") return { name: "activity" };
  if (path === "/security") return { name: "security" };
  if (path === "/reset-password") return { name: "reset-password" };
  if (path === "/canaries") return { name: "canaries" };
  if (path === "/alerts") return { name: "webhooks" };
  const canary = /^\/canaries\/([^/]+)$/.exec(path);
  if (canary?.[1]) return { name: "canary", id: decodeURIComponent(canary[1]) };
  const key = /^\/keys\/([^/]+)$/.exec(path);
  if (key?.[1]) return { name: "key", id: decodeURIComponent(key[1]) };
  return { name: "not-found" };
}

export const paths = {
  keys: () => "/",
  key: (id: string) => `/keys/${encodeURIComponent(id)}`,
  activity: () => "/activity",
  security: () => "/security",
  canaries: () => "/canaries",
  canary: (id: string) => `/canaries/${encodeURIComponent(id)}`,
  webhooks: () => "/alerts",
};

const listeners = new Set<() => void>();

function subscribe(listener: () => void) {
  listeners.add(listener);
  window.addEventListener("popstate", listener);
  return () => {
    listeners.delete(listener);
    window.removeEventListener("popstate", listener);
  };
}

export function navigate(to: string) {
  if (to === window.location.pathname) return;
  window.history.pushState(null, "", to);
  window.scrollTo(0, 0);
  for (const listener of listeners) listener();
}

export function usePathname(): string {
  return useSyncExternalStore(subscribe, () => window.location.pathname);
}

export function useRoute(): Route {
  return parseRoute(usePathname());
}

type LinkProps = AnchorHTMLAttributes<HTMLAnchorElement> & { to: string };

/** A real link (open in new tab works) that navigates in place on a plain click. */
export function Link({ to, onClick, ...rest }: LinkProps) {
  const handle = (event: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(event);
    if (
      event.defaultPrevented ||
      event.button !== 0 ||
      event.metaKey ||
      event.ctrlKey ||
      event.shiftKey ||
      event.altKey
    ) {
      return;
    }
    event.preventDefault();
    navigate(to);
  };
  return <a {...rest} href={to} onClick={handle} />;
}
