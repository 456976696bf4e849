import { TRPCClientError } from "@trpc/client";

export interface ReadableError {
  code: string;
  message: string;
  /** The first failing field, when the server named one. */
  field: string | undefined;
  /** Messages per field (`allowed_ips.2` → "…"), for errors shown next to their inputs. */
  fields: Record<string, string>;
  /** What the person can do about it, when there is something. */
  hint: string | undefined;
}

interface ErrorData {
  appCode?: string;
  httpStatus?: number;
  details?: {
    field?: string;
    issues?: { field?: string; message: string }[];
  } | null;
}

const HINTS: Record<string, string> = {
  key_limit_reached:
    "Revoked and expired keys do not count. Close this dialog, revoke a key from the list, then create the new one.",
  too_many_attempts: "Wait a minute before trying again.",
  not_authenticated: "Sign in again to continue.",
  service_unavailable: "The service is briefly unavailable. Try again in a few seconds.",
};

/** Turns whatever a call failed with into words for a person, never raw JSON. */
export function readError(error: unknown): ReadableError {
  if (error instanceof TRPCClientError) {
    const data = (error as TRPCClientError<never>).data as ErrorData | undefined;
    const code = data?.appCode;
    if (!code) {
      // No envelope: the request never reached the API (offline, proxy down, HTML error page).
      return {
        code: "network",
        message: "Could not reach the server. Check your connection and try again.",
        field: undefined,
        fields: {},
        hint: undefined,
      };
    }
    const fields: Record<string, string> = {};
    for (const issue of data.details?.issues ?? []) {
      if (issue.field && !(issue.field in fields)) fields[issue.field] = issue.message;
    }
    const field = data.details?.field;
    if (field && !(field in fields)) fields[field] = error.message;
    const firstIssue = data.details?.issues?.[0]?.message;
    return {
      code,
      message: code === "validation_error" && firstIssue ? firstIssue : error.message,
      field,
      fields,
      hint: HINTS[code],
    };
  }
  return {
    code: "network",
    message: "Could not reach the server. Check your connection and try again.",
    field: undefined,
    fields: {},
    hint: undefined,
  };
}

export function isNotAuthenticated(error: unknown): boolean {
  return (
    error instanceof TRPCClientError &&
    (error.data as ErrorData | undefined)?.appCode === "not_authenticated"
  );
}

/** The message for one field: exact match, or the first issue below it (`allowed_ips.1`). */
export function fieldError(error: ReadableError | undefined, field: string): string | undefined {
  if (!error) return undefined;
  const exact = error.fields[field];
  if (exact) return exact;
  const nested = Object.keys(error.fields).find((key) => key.startsWith(`${field}.`));
  return nested ? error.fields[nested] : undefined;
}
