import { defineProject } from "vitest/config";

/** Shared vitest project settings: resolve sibling packages from TypeScript source. */
export const sharedProject: ReturnType<typeof defineProject> = defineProject({
  resolve: { conditions: ["@mama-prune/source"] },
  ssr: { resolve: { conditions: ["@mama-prune/source"] } },
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    exclude: ["**/*.gpu.test.ts", "**/node_modules/**"],
    testTimeout: 60_000,
    benchmark: { include: ["src/**/*.bench.ts"] },
  },
});
