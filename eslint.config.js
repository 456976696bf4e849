import js from "@eslint/js";
import reactHooks from "eslint-plugin-react-hooks";
import globals from "globals";
import tseslint from "typescript-eslint";

export default tseslint.config(
  {
    ignores: [
      "**/node_modules/**",
      "**/dist/**",
      "**/.turbo/**",
      "**/.data/**",
      "e2e/artifacts/**",
      "apps/server/test/generated/**",
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      globals: { ...globals.node },
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/consistent-type-imports": "error",
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-misused-promises": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
      // Configuration is read in one env module per runnable, nowhere else.
      "no-restricted-properties": [
        "error",
        { object: "process", property: "env", message: "Read configuration in env.ts." },
      ],
    },
  },
  {
    files: [
      "**/env.ts",
      "**/test/**",
      "**/*.test.ts",
      "**/*.test.tsx",
      "bench/**",
      "e2e/**",
      "**/*.config.ts",
      "**/scripts/**",
    ],
    rules: { "no-restricted-properties": "off" },
  },
  {
    files: ["**/test/**", "**/*.test.ts", "**/*.test.tsx"],
    rules: {
      "@typescript-eslint/no-unsafe-member-access": "off",
      "@typescript-eslint/no-unsafe-assignment": "off",
      "@typescript-eslint/no-unsafe-call": "off",
      "@typescript-eslint/no-unsafe-argument": "off",
      "@typescript-eslint/no-non-null-assertion": "off",
    },
  },
  {
    files: ["apps/web/**/*.{ts,tsx}"],
    languageOptions: { globals: { ...globals.browser } },
    plugins: { "react-hooks": reactHooks },
    rules: {
      ...reactHooks.configs.recommended.rules,
      "@typescript-eslint/no-restricted-imports": [
        "error",
        {
          paths: [
            {
              name: "@repo/api",
              message: "The web app imports types only.",
              allowTypeImports: true,
            },
            { name: "@repo/db", message: "The web app never touches the database." },
          ],
        },
      ],
    },
  },
  // The request path imports `Buffer` and `performance`: Node defines both globals as getters,
  // which optimized code calls at every use (1.6% of a data request's samples in `perf`; see
  // README, Benchmarks, "What is left, and Node's global getters").
  {
    files: ["apps/server/src/**/*.ts", "packages/gateway/src/**/*.ts", "packages/core/src/**/*.ts"],
    rules: {
      "no-restricted-globals": [
        "error",
        { name: "Buffer", message: 'Import it: import { Buffer } from "node:buffer".' },
        {
          name: "performance",
          message: 'Import it: import { performance } from "node:perf_hooks".',
        },
      ],
    },
  },
  // Layers import only downwards: db <- core <- {api, gateway} <- apps. The two planes never
  // import each other, so the data plane cannot grow a dependency on sessions or tRPC.
  {
    files: ["packages/core/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            { group: ["@repo/api*", "@repo/gateway*"], message: "core is below both planes." },
          ],
        },
      ],
    },
  },
  {
    files: ["packages/gateway/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: ["@repo/api*"],
              message: "The data plane does not import the management plane.",
            },
          ],
        },
      ],
    },
  },
  {
    files: ["packages/api/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: ["@repo/gateway*"],
              message: "The management plane does not import the data plane.",
            },
          ],
        },
      ],
    },
  },
  {
    files: ["**/*.js", "**/*.mjs"],
    ...tseslint.configs.disableTypeChecked,
  },
);
