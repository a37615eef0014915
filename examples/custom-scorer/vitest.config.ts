import { defineProject } from "vitest/config";
import { sharedProject } from "../../tools/vitest.shared.ts";

// The CLI resolves plugins with Node's own resolver (createRequire), which ignores vite's conditions:
// the worker gets the @mama-prune/source condition too, so the recipe's package name resolves to
// src/plugin.ts in the repo (no build needed); the tarball test runs the compiled dist/plugin.js.
export default defineProject({
  ...sharedProject,
  test: { ...sharedProject.test, execArgv: ["--conditions=@mama-prune/source"] },
});
