import { existsSync, readFileSync } from "node:fs";
import net from "node:net";
import { describe, expect, it } from "vitest";
import { PRIVATE_PORTS, privatePort } from "../src/testing.js";

/** The kernel's ephemeral range: where outgoing connections take their source ports. */
function ephemeralRange(): [number, number] {
  const file = "/proc/sys/net/ipv4/ip_local_port_range";
  // Linux's default when the file cannot be read.
  if (!existsSync(file)) return [32_768, 60_999];
  const [low, high] = readFileSync(file, "utf8").trim().split(/\s+/).map(Number);
  return [low!, high!];
}

describe("private ports for fault tests' own servers", () => {
  it("lie outside the ephemeral range, so no outgoing connection can take one first", () => {
    const [low, high] = ephemeralRange();
    expect(PRIVATE_PORTS.last < low || PRIVATE_PORTS.first > high).toBe(true);
  });

  it("are free when handed out, distinct, and within the range", async () => {
    const ports = [await privatePort(), await privatePort(), await privatePort()];
    expect(new Set(ports).size).toBe(3);
    for (const port of ports) {
      expect(port).toBeGreaterThanOrEqual(PRIVATE_PORTS.first);
      expect(port).toBeLessThanOrEqual(PRIVATE_PORTS.last);
      const server = net.createServer();
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen(port, "127.0.0.1", resolve);
      });
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
