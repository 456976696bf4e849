import { isDatabaseUnavailable } from "@repo/db";
import { TRPCError } from "@trpc/server";
import { ApiError } from "./errors.js";

interface Issue {
  code?: string;
  path?: readonly PropertyKey[];
  keys?: readonly string[];
  message?: string;
}

/** Field-level details of a schema failure: which field, and what is wrong with it. */
function validationDetails(cause: unknown): Record<string, unknown> | undefined {
  const issues = (cause as { issues?: unknown } | undefined)?.issues;
  if (!Array.isArray(issues) || issues.length === 0) return undefined;
  const fields = (issues as Issue[]).slice(0, 10).map((issue) => {
    const path = (issue.path ?? []).map(String).join(".");
    const unknown = issue.code === "unrecognized_keys" && issue.keys?.length;
    return {
      field: unknown ? issue.keys!.map((k) => (path ? `${path}.${k}` : k)).join(", ") : path,
      message: unknown ? "Unknown field." : (issue.message ?? "Invalid value."),
    };
  });
  return { field: fields[0]?.field, issues: fields };
}

/**
 * Maps anything a procedure can throw onto the documented error table. Unknown errors become
 * `internal_error` with the generic message: their own message may carry SQL or internals.
 */
export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof TRPCError) {
    if (error.cause instanceof ApiError) return error.cause;
    switch (error.code) {
      case "BAD_REQUEST": {
        const details = validationDetails(error.cause);
        return new ApiError("validation_error", details ? { details } : {});
      }
      case "PARSE_ERROR":
        return new ApiError("invalid_json");
      case "NOT_FOUND":
        return new ApiError("not_found");
      case "METHOD_NOT_SUPPORTED":
        return new ApiError("method_not_allowed");
      case "PAYLOAD_TOO_LARGE":
        return new ApiError("payload_too_large");
      case "UNSUPPORTED_MEDIA_TYPE":
        return new ApiError("unsupported_media_type");
      default:
        break;
    }
    if (isDatabaseUnavailable(error.cause)) return unavailable();
    return new ApiError("internal_error");
  }
  if (isDatabaseUnavailable(error)) return unavailable();
  return new ApiError("internal_error");
}

function unavailable(): ApiError {
  return new ApiError("service_unavailable", { headers: { "retry-after": "5" } });
}
