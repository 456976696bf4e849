// The only module that knows how the SPA talks to the server.
import type { AppRouter } from "@repo/api";
import { QueryClient } from "@tanstack/react-query";
import { httpBatchLink } from "@trpc/client";
import { createTRPCReact } from "@trpc/react-query";

export const trpc = createTRPCReact<AppRouter>();

export function createQueryClient() {
  return new QueryClient({
    defaultOptions: {
      queries: { staleTime: 10_000, retry: false, refetchOnWindowFocus: true },
    },
  });
}

export function createTrpcClient() {
  return trpc.createClient({
    // httpBatchLink, not the streaming link: sign-in and sign-out set cookies, which only a
    // non-streamed response can carry.
    links: [httpBatchLink({ url: "/trpc", maxItems: 10 })],
  });
}
