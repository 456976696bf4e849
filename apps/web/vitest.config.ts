import react from "@vitejs/plugin-react";
import { defineConfig } from "vitest/config";

export default defineConfig({
  plugins: [react()],
  test: {
    environment: "happy-dom",
    include: ["src/**/*.test.{ts,tsx}"],
    setupFiles: ["src/test/setup.ts"],
    restoreMocks: true,
    // A bound, not a timing: component tests render and type for real, and a loaded 2-core
    // machine took over the 5 s default.
    testTimeout: 30_000,
  },
});
