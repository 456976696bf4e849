// Writes the OpenAPI document the server serves at /api/v1/openapi.json to a file, for the
// linters (`npm run lint:openapi`) and openapi-typescript. Same generator, same defaults.
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { buildOpenApiDocument } from "@repo/api";

const out = process.argv[2] ?? "dist/openapi.json";
mkdirSync(path.dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify(buildOpenApiDocument("sb-access-token"), null, 2)}\n`);
