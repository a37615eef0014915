import { defineProject } from "vitest/config";
import project from "./vitest.config.ts";

// `npm run test:gpu`: only the GPU tests (they skip themselves when no adapter exists).
export default defineProject({
  ...project,
  test: { ...project.test, include: ["src/**/*.gpu.test.ts", "test/**/*.gpu.test.ts"] },
});
