// Shared by `npm run demo` and `npm test`: on a fresh clone (or after the lockfile changed), run `npm ci`
// so the two README commands work with nothing installed by hand.
import { spawnSync } from "node:child_process";
import { existsSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root. */
export const root = join(dirname(fileURLToPath(import.meta.url)), "..");

/** Install dependencies when node_modules is missing or older than package-lock.json. */
export function ensureInstalled(who) {
  const lock = join(root, "package-lock.json");
  const marker = join(root, "node_modules", ".package-lock.json");
  const stale = !existsSync(marker) || statSync(marker).mtimeMs < statSync(lock).mtimeMs;
  if (!stale) return;
  console.log(`${who}: installing dependencies (npm ci) …`);
  const r = spawnSync("npm", ["ci", "--no-audit", "--no-fund", "--loglevel=error"], {
    cwd: root,
    stdio: "inherit",
  });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

/** Where Debian's chromium ships SwiftShader's Vulkan driver (a CPU WebGPU adapter for Dawn). */
export const SWIFTSHADER_ICD = "/usr/lib/chromium/vk_swiftshader_icd.json";

/** Environment for child processes: point Dawn at SwiftShader when it is installed and nothing else is set. */
export function gpuEnv() {
  if (process.env.VK_ICD_FILENAMES || !existsSync(SWIFTSHADER_ICD)) return {};
  return { VK_ICD_FILENAMES: SWIFTSHADER_ICD };
}
