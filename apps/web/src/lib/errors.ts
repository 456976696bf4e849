import { TRPCClientError } from "@trpc/client";

export interface ReadableError {
  code: string;
  message: string;
  field: string | undefined;
}

/** Turns whatever a call failed with into words for a person, never raw JSON. */
export function readError(error: unknown): ReadableError {
  if (error instanceof TRPCClientError) {
    const data = (error as TRPCClientError<never>).data as
      | { appCode?: string; details?: { field?: string; issues?: { message: string }[] } | null }
      | undefined;
    const issue = data?.details?.issues?.[0]?.message;
    return {
      code: data?.appCode ?? "unknown",
      message: data?.appCode === "validation_error" && issue ? issue : error.message,
      field: data?.details?.field,
    };
  }
  return {
    code: "network",
    message: "Could not reach the server. Check your connection and try again.",
    field: undefined,
  };
}
