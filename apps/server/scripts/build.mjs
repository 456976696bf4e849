// Bundles the server and the workspace packages it uses into dist/index.js. Packages from
// node_modules stay external (native and wasm modules load from their own folders).
// `node scripts/build.mjs <entry> <outfile>` bundles another entry the same way (the
// benchmark server, so that it measures the code that ships rather than tsx's transform).
import { build } from "esbuild";

const [entry = "src/index.ts", outfile = "dist/index.js"] = process.argv.slice(2);

await build({
  entryPoints: [entry],
  outfile,
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
