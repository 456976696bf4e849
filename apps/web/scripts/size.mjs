// Prints the initial JavaScript of the production build (the entry script and every chunk it
// preloads, as index.html references them) gzipped, and fails over the budget.
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const BUDGET_KB = 120;
const dist = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../dist");
const html = readFileSync(path.join(dist, "index.html"), "utf8");

const initial = new Set();
for (const match of html.matchAll(/<script[^>]*\bsrc="([^"]+\.js)"/g)) initial.add(match[1]);
for (const match of html.matchAll(/<link[^>]*rel="modulepreload"[^>]*href="([^"]+\.js)"/g)) {
  initial.add(match[1]);
}
if (initial.size === 0) {
  console.error("size: no script found in dist/index.html");
  process.exit(1);
}

let total = 0;
for (const src of initial) {
  const file = path.join(dist, src.replace(/^\//, ""));
  const gzipped = gzipSync(readFileSync(file), { level: 9 }).length;
  total += gzipped;
  console.log(`  ${src.padEnd(40)} ${(gzipped / 1000).toFixed(2).padStart(8)} kB gzip`);
}
const kb = total / 1000;
const verdict = kb <= BUDGET_KB ? "within" : "OVER";
console.log(`Initial JS: ${kb.toFixed(2)} kB gzipped (${verdict} the ${BUDGET_KB} kB budget)`);
if (kb > BUDGET_KB) process.exit(1);
