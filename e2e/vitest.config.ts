import { defineConfig } from "vitest/config";

// One browser and one server per file; files run one after another so they do not compete for
// the machine (timeouts are generous: a cold Chromium start on a busy CI box is slow).
export default defineConfig({
  test: {
    include: ["src/**/*.test.ts"],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
