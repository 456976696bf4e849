// `npm run lint:openapi`: writes the OpenAPI document from the same generator the server
// uses, then lints it with Redocly CLI (recommended rules) and Spectral (spectral:oas).
// Zero errors and zero warnings: Spectral fails on warnings itself; Redocly only fails on
// errors, so its JSON report's totals are checked here.
import { execFileSync } from "node:child_process";

const file = "dist/openapi.json";
const run = (command, args, options = {}) =>
  execFileSync(command, args, { stdio: ["ignore", "pipe", "inherit"], ...options }).toString();

run("npx", ["tsx", "scripts/write-openapi.ts", file]);
let report;
try {
  report = run("npx", ["redocly", "lint", file, "--config", "redocly.yaml", "--format=json"]);
} catch (error) {
  report = error.stdout.toString();
}
const { totals, problems } = JSON.parse(report);
for (const problem of problems) {
  console.error(`redocly ${problem.severity} ${problem.ruleId}: ${problem.message}`);
}
if (totals.errors + totals.warnings > 0) {
  console.error(`redocly: ${totals.errors} errors, ${totals.warnings} warnings`);
  process.exit(1);
}
console.log("redocly: 0 errors, 0 warnings");
execFileSync(
  "npx",
  ["spectral", "lint", file, "--ruleset", ".spectral.yaml", "--fail-severity=warn"],
  {
    stdio: "inherit",
  },
);
