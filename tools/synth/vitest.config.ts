import { defineProject, type UserWorkspaceConfig } from "vitest/config";

// The synth tool's tests (tools/synth/*.test.ts), a project of the root vitest config; sibling
// packages resolve from TypeScript source as in tools/vitest.shared.ts.
const config: UserWorkspaceConfig = defineProject({
  resolve: { conditions: ["@mama-prune/source"] },
  ssr: { resolve: { conditions: ["@mama-prune/source"] } },
  test: { name: "tools-synth", include: ["*.test.ts"], testTimeout: 120_000 },
});
export default config;
