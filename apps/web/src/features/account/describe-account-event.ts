import type { EventDescription } from "../activity/describe-event.js";

const METHODS: Record<string, string> = {
  password: "Password",
  "password+totp": "Password and authenticator code",
  "password+recovery_code": "Password and a recovery code",
  passkey: "Passkey",
};

const ENDED_BY: Record<string, string> = {
  user: "Signed out from the Security page",
  operator: "By an operator",
  password_change: "Because the password was changed",
  password_reset: "Because the password was reset",
};

/** Account-security audit events in words; undefined for any other action. */
export function describeAccountEvent(
  action: string,
  details: Record<string, unknown>,
): EventDescription | undefined {
  const name = typeof details.name === "string" ? `“${details.name}”` : undefined;
  switch (action) {
    case "auth.sign_in": {
      const facts: string[] = [];
      const method = typeof details.method === "string" ? METHODS[details.method] : undefined;
      if (method) facts.push(method);
      if (details.new_address === true) facts.push("New address for this account");
      return { title: "Signed in", facts, tone: details.new_address === true ? "warn" : "neutral" };
    }
    case "auth.second_factor_failed":
      return { title: "Wrong second-factor code or passkey", facts: [], tone: "warn" };
    case "auth.reauthenticated":
      return { title: "Confirmed identity for a sensitive change", facts: [], tone: "neutral" };
    case "account.totp_enabled":
      return { title: "Authenticator app turned on", facts: [], tone: "good" };
    case "account.totp_disabled":
      return { title: "Authenticator app turned off", facts: [], tone: "danger" };
    case "account.recovery_codes_regenerated":
      return { title: "New recovery codes generated", facts: [], tone: "warn" };
    case "account.recovery_code_used":
      return {
        title: "Signed in with a recovery code",
        facts: typeof details.remaining === "number" ? [`${details.remaining} left`] : [],
        tone: "warn",
      };
    case "account.passkey_added":
      return { title: "Passkey added", facts: name ? [name] : [], tone: "good" };
    case "account.passkey_removed":
      return { title: "Passkey removed", facts: name ? [name] : [], tone: "danger" };
    case "account.session_ended": {
      const count = typeof details.count === "number" ? details.count : 1;
      const by = typeof details.by === "string" ? ENDED_BY[details.by] : undefined;
      return {
        title: count === 1 ? "Session signed out" : `${count} sessions signed out`,
        facts: by ? [by] : [],
        tone: "neutral",
      };
    }
    case "account.password_changed":
      return { title: "Password changed", facts: [], tone: "warn" };
    case "account.email_changed": {
      const facts = [details.from, details.to].every((v) => typeof v === "string")
        ? [`${String(details.from)} → ${String(details.to)}`]
        : [];
      return { title: "Sign-in email changed", facts, tone: "warn" };
    }
    case "account.password_reset_issued":
      return { title: "Password-reset link issued by an operator", facts: [], tone: "warn" };
    case "account.password_reset":
      return { title: "Password reset with an operator's link", facts: [], tone: "warn" };
    case "account.second_factor_reset":
      return { title: "Second factors removed by an operator", facts: [], tone: "danger" };
    case "account.disabled":
      return { title: "Account disabled by an operator", facts: [], tone: "danger" };
    case "account.enabled":
      return { title: "Account enabled by an operator", facts: [], tone: "good" };
    default:
      return undefined;
  }
}
