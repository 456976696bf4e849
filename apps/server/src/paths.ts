import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

/**
 * The repository root: the nearest directory above this module whose package.json declares
 * the workspaces. Found from where the code is (src/ under tsx, dist/ when built, a test),
 * never from the working directory, so `npm start` (run at the root), `npm run dev` and
 * `npm run users` (run inside apps/server) agree on it.
 */
function findRepoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (true) {
    const manifest = path.join(dir, "package.json");
    if (existsSync(manifest)) {
      try {
        if ((JSON.parse(readFileSync(manifest, "utf8")) as { workspaces?: unknown }).workspaces) {
          return dir;
        }
      } catch {
        // not ours: keep looking
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) return process.cwd();
    dir = parent;
  }
}

export const repoRoot = findRepoRoot();

/** DATA_DIR as an absolute path: a relative one is taken from the repository root. */
export function resolveDataDir(value: string): string {
  return path.resolve(repoRoot, value);
}
