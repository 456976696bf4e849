// Component tests talk to a fake server through the real tRPC client and query client: the
// handlers below answer in tRPC's wire format, errors shaped like the real error formatter's.
import { QueryClientProvider, type QueryClient } from "@tanstack/react-query";
import { render } from "@testing-library/react";
import { StrictMode, type ReactElement } from "react";
import { vi } from "vitest";
import { createQueryClient, createTrpcClient, trpc, type Allowance } from "../lib/trpc.js";

export class ApiFailure extends Error {
  constructor(
    readonly appCode: string,
    message: string,
    readonly details: Record<string, unknown> | null = null,
    readonly httpStatus = 400,
  ) {
    super(message);
  }
}

type Handler = (input: unknown) => unknown;
export interface Call {
  path: string;
  input: unknown;
}

function errorEnvelope(failure: ApiFailure, path: string) {
  return {
    error: {
      message: failure.message,
      code: -32600,
      data: {
        code: "BAD_REQUEST",
        httpStatus: failure.httpStatus,
        path,
        appCode: failure.appCode,
        details: failure.details,
      },
    },
  };
}

/** Replaces `fetch` with a fake tRPC server; returns the log of procedure calls. */
export function mockApi(handlers: Record<string, Handler>): Call[] {
  const calls: Call[] = [];
  vi.stubGlobal("fetch", async (url: string, init?: RequestInit) => {
    const parsed = new URL(url, "http://localhost");
    const paths = decodeURIComponent(parsed.pathname.replace(/^\/trpc\//, "")).split(",");
    const raw = init?.method === "POST" ? (init.body as string) : parsed.searchParams.get("input");
    const inputs = (raw ? JSON.parse(raw) : {}) as Record<string, unknown>;
    const results = await Promise.all(
      paths.map(async (path, index) => {
        const input = inputs[index];
        calls.push({ path, input });
        const handler = handlers[path];
        if (!handler) return errorEnvelope(new ApiFailure("not_found", `No ${path}`), path);
        try {
          return { result: { data: await handler(input) } };
        } catch (error) {
          if (error instanceof ApiFailure) return errorEnvelope(error, path);
          throw error;
        }
      }),
    );
    return new Response(JSON.stringify(results), {
      status: 200,
      headers: { "content-type": "application/json" },
    });
  });
  return calls;
}

export function renderWithApi(ui: ReactElement): ReturnType<typeof render> & {
  queryClient: QueryClient;
} {
  const queryClient = createQueryClient();
  const trpcClient = createTrpcClient();
  // StrictMode as in main.tsx: effects that do not survive a remount fail here, not in dev.
  const result = render(
    <StrictMode>
      <trpc.Provider client={trpcClient} queryClient={queryClient}>
        <QueryClientProvider client={queryClient}>{ui}</QueryClientProvider>
      </trpc.Provider>
    </StrictMode>,
  );
  return { ...result, queryClient };
}

export const FREE_ALLOWANCE: Allowance = {
  tier: "free",
  active_keys: 1,
  max_active_keys: 3,
  scopes: ["read:iocs", "read:articles"],
  rate_limit_per_minute: 10,
  rate_limit_per_day: 1000,
};

export function keyItem(overrides: Record<string, unknown> = {}) {
  return {
    id: "00000000-0000-4000-8000-000000000123",
    key_prefix: "sk_live_zIc8",
    name: "Production SIEM",
    tier: "free",
    scopes: ["read:iocs", "read:articles"],
    total_requests: 142587,
    last_used_at: null,
    created_at: "2026-01-15T10:00:00Z",
    expires_at: null,
    revoked_at: null,
    ...overrides,
  };
}
