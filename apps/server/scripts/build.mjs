// Bundles the server and the workspace packages it uses into dist/index.js. Packages from
// node_modules stay external (native and wasm modules load from their own folders).
import { build } from "esbuild";

await build({
  entryPoints: ["src/index.ts"],
  outfile: "dist/index.js",
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  sourcemap: true,
  logLevel: "warning",
  plugins: [
    {
      name: "external-node-modules",
      setup(build) {
        build.onResolve({ filter: /^[^./]/ }, (args) =>
          args.path.startsWith("@repo/") ? undefined : { path: args.path, external: true },
        );
      },
    },
  ],
});
