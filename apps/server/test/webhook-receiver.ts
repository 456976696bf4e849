import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Webhook } from "standardwebhooks";

/** What one route of the receiver does with a delivery. */
export type Respond = (attempt: number) => number | "hang";

export interface Received {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  /** Which of the route's secrets verified it (standardwebhooks, an independent implementation). */
  verifiedWith: string[];
  status: number | "hang";
}

/**
 * A real webhook receiver on 127.0.0.1 (a port in this helper's range): every delivery is
 * checked with the `standardwebhooks` package against the secrets its route knows.
 */
export async function startReceiver() {
  const routes = new Map<string, { secrets: string[]; respond: Respond; attempts: number }>();
  const received: Received[] = [];
  const hanging = new Set<() => void>();
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const path = request.url ?? "/";
      const route = routes.get(path);
      const attempt = route ? ++route.attempts : 1;
      const status = route ? route.respond(attempt) : 404;
      const verifiedWith = (route?.secrets ?? []).filter((secret) => {
        try {
          new Webhook(secret).verify(body, request.headers as Record<string, string>);
          return true;
        } catch {
          return false;
        }
      });
      received.push({ path, headers: request.headers, body, verifiedWith, status });
      if (status === "hang") {
        hanging.add(() => response.destroy());
        return;
      }
      if (status >= 300 && status < 400) response.setHeader("location", redirectTo);
      response.statusCode = status;
      response.end("ok");
    });
  });
  let redirectTo = "http://127.0.0.1:1/";
  await listenInRange(server);
  const port = (server.address() as AddressInfo).port;
  let next = 0;
  return {
    port,
    received,
    /** Adds a route; returns its URL. */
    route(secrets: string[], respond: Respond = () => 200) {
      const path = `/hook/${++next}`;
      routes.set(path, { secrets, respond, attempts: 0 });
      return { url: `http://127.0.0.1:${port}${path}`, path };
    },
    setSecrets(path: string, secrets: string[]) {
      routes.get(path)!.secrets = secrets;
    },
    redirectTo(url: string) {
      redirectTo = url;
    },
    on(path: string) {
      return received.filter((r) => r.path === path);
    },
    async close() {
      for (const end of hanging) end();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Listens on a free port in 47000–47999 (this helper's range), never a shared one. */
async function listenInRange(server: Server) {
  for (let tries = 0; tries < 50; tries++) {
    const port = 47_000 + Math.floor(Math.random() * 1000);
    const ok = await new Promise<boolean>((resolve) => {
      server.once("error", () => resolve(false));
      server.listen(port, "127.0.0.1", () => resolve(true));
    });
    if (ok) return;
  }
  throw new Error("no free port in 47000-47999");
}
