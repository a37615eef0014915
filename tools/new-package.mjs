#!/usr/bin/env node
// Scaffold a new published package: node tools/new-package.mjs <name> "<description>" [dep ...] [--node]
// Creates packages/<name>/ with package.json, deno.json, tsconfig.json, tsup.config.ts,
// vitest.config.ts, README.md and src/index.ts. `--node` adds a ./node subpath (Node-only code).
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const args = process.argv.slice(2);
const hasNode = args.includes("--node");
const [name, description, ...deps] = args.filter((a) => a !== "--node");
if (!name || !description) {
  console.error('usage: node tools/new-package.mjs <name> "<description>" [dep ...] [--node]');
  process.exit(2);
}
const dir = join("packages", name);
if (existsSync(dir)) {
  console.error(`${dir} already exists`);
  process.exit(1);
}
mkdirSync(join(dir, "src"), { recursive: true });
if (hasNode) mkdirSync(join(dir, "src", "node"), { recursive: true });

const scope = "@mama-prune";
const entry = (file) => ({
  [`${scope}/source`]: `./src/${file}.ts`,
  types: `./dist/${file}.d.ts`,
  default: `./dist/${file}.js`,
});
const exportsMap = { ".": entry("index") };
if (hasNode) exportsMap["./node"] = entry("node/index");
exportsMap["./package.json"] = "./package.json";

const pkg = {
  name: `${scope}/${name}`,
  version: "0.1.0",
  description,
  license: "MIT",
  homepage: `https://github.com/mama-prune/mama-prune/tree/main/packages/${name}#readme`,
  bugs: { url: "https://github.com/mama-prune/mama-prune/issues" },
  type: "module",
  sideEffects: false,
  exports: exportsMap,
  files: ["dist", "src", "!src/**/*.test.ts", "!src/**/*.bench.ts", "!src/**/*.gpu.test.ts"],
  engines: { node: ">=20.19" },
  repository: {
    type: "git",
    url: "git+https://github.com/mama-prune/mama-prune.git",
    directory: `packages/${name}`,
  },
  publishConfig: { access: "public" },
  scripts: {
    build: "tsup",
    typecheck: "tsc -p tsconfig.json",
    test: "vitest run",
    bench: "vitest bench --run",
    lint: "biome check .",
    "check:publish":
      "publint --strict && attw --pack . --profile esm-only --ignore-rules cjs-resolves-to-esm",
  },
  dependencies: Object.fromEntries(deps.map((d) => [`${scope}/${d}`, "^0.1.0"])),
  keywords: ["llm", "pruning", "sparsity", "mama-prune"],
};
writeFileSync(join(dir, "package.json"), `${JSON.stringify(pkg, null, 2)}\n`);

const denoExports = { ".": "./src/index.ts" };
if (hasNode) denoExports["./node"] = "./src/node/index.ts";
writeFileSync(
  join(dir, "deno.json"),
  `${JSON.stringify({ name: `${scope}/${name}`, version: "0.1.0", license: "MIT", exports: denoExports, publish: { include: ["src/**/*.ts", "README.md", "LICENSE"], exclude: ["src/**/*.test.ts", "src/**/*.bench.ts", "src/**/*.gpu.test.ts"] } }, null, 2)}\n`,
);
const tsconfig = { extends: "../../tsconfig.base.json", include: ["src", "test"] };
if (hasNode) tsconfig.compilerOptions = { types: ["node"] };
writeFileSync(join(dir, "tsconfig.json"), `${JSON.stringify(tsconfig, null, 2)}\n`);
const entries = hasNode
  ? `{ index: "src/index.ts", "node/index": "src/node/index.ts" }`
  : `{ index: "src/index.ts" }`;
writeFileSync(
  join(dir, "tsup.config.ts"),
  `import { defineConfig } from "tsup";\nimport { base } from "../../tools/tsup.base.ts";\n\nexport default defineConfig({ ...base, entry: ${entries}${hasNode ? "" : ""} });\n`,
);
writeFileSync(
  join(dir, "vitest.config.ts"),
  `import { sharedProject } from "../../tools/vitest.shared.ts";\n\nexport default sharedProject;\n`,
);
writeFileSync(
  join(dir, "README.md"),
  `# ${scope}/${name}\n\n${description}.\n\n\`\`\`sh\nnpm install ${scope}/${name}\n\`\`\`\n`,
);
writeFileSync(join(dir, "src", "index.ts"), `export {};\n`);
copyFileSync("LICENSE", join(dir, "LICENSE")); // run from the repository root, like every path here
if (hasNode) writeFileSync(join(dir, "src", "node", "index.ts"), `export {};\n`);
console.log(`created ${dir}`);
