import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { repoRoot, serverDir } from "./server-process.js";

const run = promisify(execFile);

describe("the nextTick queue entry held for the life of the process", () => {
  it("keeps later entries on the first entries' map after an idle full garbage collection", async () => {
    const { stdout } = await run(
      process.execPath,
      [
        "--expose-gc",
        "--allow-natives-syntax",
        "--import",
        "tsx",
        path.join(serverDir, "test/fixtures/tick-shape-probe.ts"),
      ],
      { cwd: serverDir, timeout: 30_000 },
    );
    const result = JSON.parse(stdout) as { kept: boolean; symbols: string[]; sameMap: boolean };
    expect(result.kept).toBe(true);
    // It is one of Node's tick entries (async id and trigger id), not some other resource.
    expect(result.symbols).toEqual(["Symbol(async_id_symbol)", "Symbol(trigger_async_id_symbol)"]);
    expect(result.sameMap).toBe(true);
  });

  it("is taken before anything else the server and the benchmark server load", () => {
    for (const entry of ["apps/server/src/index.ts", "bench/src/server.ts"]) {
      const source = readFileSync(path.join(repoRoot, entry), "utf8");
      const firstImport = /^import\s[^;]*;/m.exec(source)?.[0];
      expect(firstImport, entry).toMatch(/keep-tick-shape\.js"/);
    }
  });
});
