// The only module that knows how the SPA talks to the server.
import type { AppRouter, RouterOutputs } from "@repo/api";
import { MutationCache, QueryCache, QueryClient, type Query } from "@tanstack/react-query";
import { httpBatchLink } from "@trpc/client";
import { createTRPCReact, getQueryKey } from "@trpc/react-query";
import { isNotAuthenticated } from "./errors.js";
import { setSessionNotice } from "./session.js";

export const trpc = createTRPCReact<AppRouter>();

type Outputs = RouterOutputs;
export type KeyListItem = Outputs["keys"]["list"]["data"][number];
export type KeyDetail = Outputs["keys"]["byId"]["data"];
export type KeyUsage = Outputs["keys"]["usage"]["data"];
export type Allowance = Outputs["keys"]["allowance"];
export type AuditEvent = Outputs["audit"]["list"]["events"][number];
export type User = NonNullable<Outputs["auth"]["me"]["user"]>;
export type RouterOutputsOf = Outputs;

const meKey = () => getQueryKey(trpc.auth.me, undefined, "query");

function isMeQuery(query: Query): boolean {
  const [path] = query.queryKey as [unknown];
  return Array.isArray(path) && path[0] === "auth" && path[1] === "me";
}

/** Forgets everything cached for the previous account, except "who is signed in". */
export function clearAccountData(client: QueryClient) {
  client.removeQueries({ predicate: (query) => !isMeQuery(query) });
}

export function setSignedInUser(client: QueryClient, user: User | null) {
  client.setQueryData(meKey(), { user });
}

export function createQueryClient() {
  // Any call answered with `not_authenticated` means the session ended (expired, signed out in
  // another tab, revoked by an operator): show the sign-in page at once, with a reason.
  const onError = (error: unknown) => {
    if (!isNotAuthenticated(error)) return;
    const current = client.getQueryData<{ user: User | null }>(meKey());
    if (current?.user) setSessionNotice("expired");
    setSignedInUser(client, null);
  };
  const client: QueryClient = new QueryClient({
    queryCache: new QueryCache({ onError }),
    mutationCache: new MutationCache({ onError }),
    defaultOptions: {
      queries: { staleTime: 10_000, retry: false, refetchOnWindowFocus: true },
    },
  });
  return client;
}

export function createTrpcClient() {
  return trpc.createClient({
    // httpBatchLink, not the streaming link: sign-in and sign-out set cookies, which only a
    // non-streamed response can carry.
    links: [httpBatchLink({ url: "/trpc", maxItems: 10 })],
  });
}
