import { formatDate } from "../../lib/time.js";
import { describeAccountEvent } from "../account/describe-account-event.js";

interface EventLike {
  action: string;
  details: unknown;
}

export interface EventDescription {
  title: string;
  /** Secondary facts, each a short phrase. */
  facts: string[];
  tone: "neutral" | "good" | "danger" | "warn";
}

function text(value: unknown): string | undefined {
  return typeof value === "string" && value.trim() ? value : undefined;
}

function list(value: unknown): string[] {
  return Array.isArray(value)
    ? value.filter((item): item is string => typeof item === "string")
    : [];
}

/** Audit events in words, from the action and the details the server recorded with it. */
export function describeEvent(event: EventLike): EventDescription {
  const details = (
    event.details && typeof event.details === "object" ? event.details : {}
  ) as Record<string, unknown>;
  const account = describeAccountEvent(event.action, details);
  if (account) return account;
  switch (event.action) {
    case "auth.sign_up":
      return { title: "Account created", facts: [], tone: "good" };
    case "auth.sign_in":
      return { title: "Signed in", facts: [], tone: "neutral" };
    case "auth.sign_in_failed":
      return {
        title: "Failed sign-in attempt",
        facts: details.reason === "wrong_password" ? ["Wrong password"] : [],
        tone: "warn",
      };
    case "auth.sign_out":
      return { title: "Signed out", facts: [], tone: "neutral" };
    case "account.tier_changed":
      return {
        title: `Tier changed from ${text(details.from) ?? "?"} to ${text(details.to) ?? "?"}`,
        facts: [],
        tone: "neutral",
      };
    case "key.created": {
      const facts: string[] = [];
      const name = text(details.name);
      if (name) facts.push(`“${name}”`);
      const scopes = list(details.scopes);
      if (scopes.length) facts.push(`Scopes: ${scopes.join(", ")}`);
      const expires = text(details.expires_at);
      facts.push(expires ? `Expires ${formatDate(expires)}` : "Never expires");
      const ips = list(details.allowed_ips);
      if (ips.length) facts.push(`Allowed IPs: ${ips.join(", ")}`);
      return { title: "Key created", facts, tone: "good" };
    }
    case "key.revoked": {
      const name = text(details.name);
      const reason = text(details.reason);
      return {
        title: "Key revoked",
        facts: [...(name ? [`“${name}”`] : []), reason ? `Reason: ${reason}` : "No reason given"],
        tone: "danger",
      };
    }
    case "key.downgraded": {
      const removed = list(details.scopes_removed);
      return {
        title: `Key moved from ${text(details.from) ?? "?"} to ${text(details.to) ?? "?"} tier`,
        facts: removed.length ? [`Scopes removed: ${removed.join(", ")}`] : [],
        tone: "warn",
      };
    }
    default:
      return { title: event.action, facts: [], tone: "neutral" };
  }
}
