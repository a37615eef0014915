import { existsSync } from "node:fs";
import { defineProject } from "vitest/config";
import { sharedProject } from "../../tools/vitest.shared.ts";

// GPU tests (*.gpu.test.ts) run in the normal suite too: each file skips itself when no adapter is
// found. Point Dawn at SwiftShader's CPU Vulkan driver when it is installed and nothing else was
// chosen (CI installs it; on a machine with a GPU, unset or override VK_ICD_FILENAMES).
const SWIFTSHADER = "/usr/lib/chromium/vk_swiftshader_icd.json";
const icd = process.env["VK_ICD_FILENAMES"] ?? (existsSync(SWIFTSHADER) ? SWIFTSHADER : undefined);

export default defineProject({
  ...sharedProject,
  test: {
    ...sharedProject.test,
    exclude: ["**/node_modules/**"],
    ...(icd === undefined ? {} : { env: { VK_ICD_FILENAMES: icd } }),
  },
});
