import { paths } from "../../lib/router.js";

export interface AlertLike {
  type: string;
  data: Record<string, unknown>;
}

const text = (value: unknown) => (typeof value === "string" ? value : "");

/** One line for an alert in the bell, and the page it concerns. */
export function describeAlert(alert: AlertLike): {
  title: string;
  to: string;
  tone: "danger" | "warn" | "info";
} {
  const d = alert.data;
  const key = `${text(d.name) || "Key"} (${text(d.key_prefix)}…)`;
  const keyPage = typeof d.key_id === "string" ? paths.key(d.key_id) : paths.keys();
  switch (alert.type) {
    case "canary.triggered":
      return {
        title: `Canary “${text(d.name)}” used from ${text(d.address)} (${text(d.method)} ${text(d.path)})`,
        to: typeof d.canary_id === "string" ? paths.canary(d.canary_id) : paths.canaries(),
        tone: "danger",
      };
    case "key.revoked_key_used":
      return {
        title: `${text(d.state) === "expired" ? "Expired" : "Revoked"} key ${text(d.key_prefix)}… used from ${text(d.address)}`,
        to: keyPage,
        tone: "danger",
      };
    case "key.quota_warning":
      return {
        title: `${text(d.key_prefix)}… reached ${String(d.threshold_percent)}% of its daily limit`,
        to: keyPage,
        tone: "warn",
      };
    case "key.expiring":
      return {
        title: `${key} expires in ${String(d.days_left)} day${d.days_left === 1 ? "" : "s"}`,
        to: keyPage,
        tone: "warn",
      };
    case "key.expired":
      return { title: `${key} expired`, to: keyPage, tone: "warn" };
    case "key.created":
      return { title: `${key} created`, to: keyPage, tone: "info" };
    case "key.revoked":
      return { title: `${key} revoked`, to: keyPage, tone: "info" };
    case "key.rotated":
      return { title: `${key} rotated`, to: keyPage, tone: "info" };
    case "key.new_address":
      return {
        title: `${text(d.key_prefix)}… used from a new address ${text(d.address)}`,
        to: keyPage,
        tone: "warn",
      };
    case "account.second_factor_changed": {
      const factor =
        { totp: "Authenticator app", passkey: "Passkey", recovery_codes: "Recovery codes" }[
          text(d.method)
        ] ?? "Every second factor";
      const change =
        {
          added: "added",
          removed: "removed",
          regenerated: "regenerated",
          reset_by_operator: "reset by an operator",
        }[text(d.change)] ?? "changed";
      return { title: `${factor} ${change}`, to: paths.security(), tone: "warn" };
    }
    case "account.password_changed":
      return {
        title: `Password ${text(d.by) === "operator_reset" ? "reset" : "changed"} from ${text(d.address)}`,
        to: paths.security(),
        tone: "warn",
      };
    case "account.session_new_address":
      return {
        title: `Sign-in from a new address ${text(d.address)}`,
        to: paths.security(),
        tone: "warn",
      };
    case "webhook.endpoint_disabled":
      return {
        title: `Webhook ${text(d.url)} disabled: ${text(d.reason)}`,
        to: paths.webhooks(),
        tone: "danger",
      };
    default:
      return { title: alert.type, to: paths.activity(), tone: "info" };
  }
}

/** Labels of the event types, for subscriptions and preferences. */
export const EVENT_LABELS: Record<string, string> = {
  "key.created": "Key created",
  "key.rotated": "Key rotated",
  "key.revoked": "Key revoked",
  "key.expiring": "Key expiring (7 days, 1 day)",
  "key.expired": "Key expired",
  "key.quota_warning": "Daily quota at 80% / 100%",
  "key.revoked_key_used": "Revoked or expired key used",
  "key.new_address": "Key used from a new address",
  "canary.triggered": "Canary key used",
  "account.second_factor_changed": "Second factor changed",
  "account.password_changed": "Password changed",
  "account.session_new_address": "Sign-in from a new address",
};
