import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// The dev server proxies API calls to the Fastify server. `changeOrigin` stays false so the
// browser's Host and Origin reach the server unchanged and its origin check still applies.
const target = process.env.SERVER_URL ?? "http://localhost:3000";

export default defineConfig({
  plugins: [react()],
  server: {
    port: 5173,
    proxy: {
      "/trpc": { target, changeOrigin: false },
      "/api": { target, changeOrigin: false },
    },
  },
  build: { target: "es2022", sourcemap: false },
});
