import type { ApiDeps } from "./deps.js";
import type { SignedInUser } from "./auth/session.js";
import type { RequestMeta } from "./services/audit-log.js";

export interface Context {
  deps: ApiDeps;
  user: SignedInUser | null;
  sessionId: string | null;
  /** When this session's holder last proved who they are (for sudo mode). */
  authenticatedAt: Date | null;
  /** The raw Cookie header (for the second-factor challenge cookie). */
  cookieHeader: string | undefined;
  meta: RequestMeta;
  /** Queues a Set-Cookie header on the response. */
  setCookie(cookie: string): void;
}

export interface RequestLike {
  cookieHeader: string | undefined;
  ip: string;
  userAgent: string | undefined;
}

/**
 * Builds the context for one request: resolves the session cookie (refreshing or blanking
 * the cookie as Lucia decides) and records where the request came from.
 */
export async function createContext(
  deps: ApiDeps,
  request: RequestLike,
  setCookie: (cookie: string) => void,
): Promise<Context> {
  const token = deps.sessions.readToken(request.cookieHeader);
  const session = await deps.sessions.validate(token);
  if (session?.refreshedCookie) setCookie(session.refreshedCookie);
  // A cookie that names no live session is cleared so the browser stops sending it.
  if (token && !session) setCookie(deps.sessions.blankCookie());
  return {
    deps,
    user: session?.user ?? null,
    sessionId: session?.sessionId ?? null,
    authenticatedAt: session?.authenticatedAt ?? null,
    cookieHeader: request.cookieHeader,
    meta: { ip: request.ip, userAgent: request.userAgent },
    setCookie,
  };
}
