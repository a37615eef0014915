import { existsSync } from "node:fs";
import { defineProject } from "vitest/config";
import { sharedProject } from "../../tools/vitest.shared.ts";

// Point Dawn at SwiftShader's CPU Vulkan driver when it is installed and nothing else was chosen.
const SWIFTSHADER = "/usr/lib/chromium/vk_swiftshader_icd.json";
const icd = process.env["VK_ICD_FILENAMES"] ?? (existsSync(SWIFTSHADER) ? SWIFTSHADER : undefined);

export default defineProject({
  ...sharedProject,
  test: { ...sharedProject.test, ...(icd === undefined ? {} : { env: { VK_ICD_FILENAMES: icd } }) },
});
