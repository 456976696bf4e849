import { lookup as dnsLookup, type LookupAddress } from "node:dns";
import http from "node:http";
import https from "node:https";
import type { LookupFunction } from "node:net";
import ipaddr from "ipaddr.js";

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number];

/**
 * Where webhook deliveries may go: public unicast addresses only, unless the operator's
 * allowlist (`WEBHOOK_ALLOWED_CIDRS`) names a private or loopback range. The check runs on
 * the address the connection actually uses (after DNS), so a public name resolving to
 * 127.0.0.1 (or rebinding to it later) is refused too.
 */
export interface DestinationPolicy {
  allowed: readonly Range[];
}

export function destinationPolicy(cidrs: readonly string[] = []): DestinationPolicy {
  return { allowed: cidrs.map((cidr) => ipaddr.parseCIDR(cidr)) };
}

/** True when `cidr` parses as an IPv4/IPv6 CIDR range (configuration validation). */
export function isCidr(cidr: string): boolean {
  try {
    ipaddr.parseCIDR(cidr);
    return true;
  } catch {
    return false;
  }
}

function inAllowlist(address: ipaddr.IPv4 | ipaddr.IPv6, policy: DestinationPolicy) {
  return policy.allowed.some(
    ([range, bits]) => range.kind() === address.kind() && address.match(range, bits),
  );
}

/**
 * Why an address may not receive webhooks (`loopback`, `private`, `linkLocal`, …), or null
 * when it may. IPv4-mapped IPv6 is judged as the IPv4 address it carries.
 */
export function refusedRange(address: string, policy: DestinationPolicy): string | null {
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    parsed = ipaddr.process(address);
  } catch {
    return "invalid";
  }
  if (inAllowlist(parsed, policy)) return null;
  const range = parsed.range();
  return range === "unicast" ? null : range;
}

/** Whether plain http may be used: only to destinations the operator allowlisted. */
export function isAllowlisted(address: string, policy: DestinationPolicy): boolean {
  try {
    return inAllowlist(ipaddr.process(address), policy);
  } catch {
    return false;
  }
}

export class DestinationRefused extends Error {
  override name = "DestinationRefused";
}

/** A DNS lookup that fails unless every resolved address may receive webhooks. */
function guardedLookup(policy: DestinationPolicy, requireAllowlisted: boolean): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
      if (error) return callback(error, "", 0);
      for (const { address } of addresses) {
        const refused = refusedRange(address, policy);
        if (refused) {
          return callback(new DestinationRefused(`resolves to a ${refused} address`), "", 0);
        }
        if (requireAllowlisted && !isAllowlisted(address, policy)) {
          return callback(new DestinationRefused("plain http to a public address"), "", 0);
        }
      }
      const first = addresses[0];
      if (!first) return callback(new DestinationRefused("no address"), "", 0);
      if (options.all) callback(null, addresses);
      else callback(null, first.address, first.family);
    });
  };
}

export interface PostResult {
  /** HTTP status, when the receiver answered. */
  status: number | null;
  /** Why it failed without a status (timeout, refused destination, connection error). */
  error: string | null;
  durationMs: number;
}

/**
 * POSTs a webhook: one request, no redirects followed (a 3xx is a failed attempt), the whole
 * exchange bounded by `timeoutMs`, the destination checked after DNS. The response body is
 * discarded unread beyond the socket buffer.
 */
export function postWebhook(
  target: string,
  body: string,
  headers: Record<string, string>,
  options: { policy: DestinationPolicy; timeoutMs: number; signal?: AbortSignal },
): Promise<PostResult> {
  const started = performance.now();
  const done = (status: number | null, error: string | null): PostResult => ({
    status,
    error,
    durationMs: Math.round(performance.now() - started),
  });
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    return Promise.resolve(done(null, "invalid URL"));
  }
  const plain = url.protocol === "http:";
  if (!plain && url.protocol !== "https:") return Promise.resolve(done(null, "not an https URL"));
  // An address literal never goes through DNS: check it here.
  const host = url.hostname.replace(/^\[|\]$/g, "");
  if (ipaddr.isValid(host)) {
    const refused = refusedRange(host, options.policy);
    if (refused) return Promise.resolve(done(null, `destination refused: a ${refused} address`));
    if (plain && !isAllowlisted(host, options.policy)) {
      return Promise.resolve(done(null, "destination refused: plain http to a public address"));
    }
  }
  return new Promise((resolve) => {
    const client = plain ? http : https;
    const request = client.request(url, {
      method: "POST",
      headers: { ...headers, "content-length": Buffer.byteLength(body).toString() },
      lookup: guardedLookup(options.policy, plain),
      agent: false,
      signal: options.signal,
    });
    const timer = setTimeout(() => request.destroy(new Error("timeout")), options.timeoutMs);
    request.on("response", (response) => {
      clearTimeout(timer);
      response.resume();
      response.on("error", () => {});
      resolve(done(response.statusCode ?? null, null));
      request.destroy();
    });
    request.on("error", (error) => {
      clearTimeout(timer);
      const reason =
        error instanceof DestinationRefused
          ? `destination refused: ${error.message}`
          : error.message === "timeout"
            ? `no answer within ${options.timeoutMs / 1000} s`
            : `connection failed (${(error as { code?: string }).code ?? error.name})`;
      resolve(done(null, reason));
    });
    request.end(body);
  });
}
