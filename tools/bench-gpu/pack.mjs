#!/usr/bin/env node
// `npm run bench:gpu:pack`: what the device machine needs beside the working tree, in ONE folder to
// name in the device tool's `carry` (it has no internet, so `npm ci` cannot run there, and the whole
// node_modules — about 830 MiB with every platform's binaries — is far over the tool's 64 MiB):
//
//   .gpu-carry/node.xz               this machine's Node binary (x86-64 Linux, glibc; the image there may
//                                    have no Node at all), xz-compressed
//   .gpu-carry/node_modules.tar.xz   node_modules cut to what `npm run bench:gpu` loads at run time: the
//                                    workspace links, tsx + esbuild, webgpu (Dawn), onnxruntime-node (the
//                                    native backend), @huggingface/tokenizers, and what they depend on,
//                                    Linux x86-64 binaries only
//   .gpu-carry/libvulkan1_*.deb      the Vulkan loader Dawn opens (libvulkan.so.1), from apt (amd64);
//                                    unpacked there with `dpkg -x` (see the device README)
//   .gpu-carry/MANIFEST.txt          what is in it, the sizes, and the device command line
//
// Run it here once (after `npm ci`); then ONE device run, carry [".gpu-carry"], command
// `bash tools/bench-gpu/device.sh $OUT/bench-gpu` (tools/bench-gpu/main.mjs's header says more).
//   node tools/bench-gpu/pack.mjs [--out .gpu-carry] [--no-node] [--no-vulkan]
import { spawnSync } from "node:child_process";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { parseArgs } from "node:util";

const ROOT = join(dirname(new URL(import.meta.url).pathname), "..", "..");
const { values } = parseArgs({
  options: {
    out: { type: "string", default: ".gpu-carry" },
    "no-node": { type: "boolean", default: false },
    "no-vulkan": { type: "boolean", default: false },
  },
});
const OUT = join(ROOT, values.out);
const MiB = 1024 * 1024;
const TARGET = "linux-x64"; // the device machine's processor and OS (see the device README)

/** Packages loaded at run time by bench:gpu's processes (the rest of node_modules is build and lint tooling). */
const ROOTS = ["tsx", "webgpu", "onnxruntime-node", "@huggingface/tokenizers"];

function sh(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 64 * MiB, ...opts });
  if (r.status !== 0)
    throw new Error(`${cmd} ${args.join(" ")} failed (${r.status}): ${r.stderr || r.error}`);
  return r.stdout;
}

/** The folder of package `name` as Node resolves it from the package folder `from` (nested node_modules first). */
function resolvePkg(name, from) {
  for (let d = from; ; d = dirname(d)) {
    const p = join(d, "node_modules", name);
    if (existsSync(join(p, "package.json"))) return p;
    if (d === ROOT || d === dirname(d)) return undefined;
  }
}

/** node_modules paths (relative to the repo root) of the run-time closure: every dependency of ROOTS and of the workspace packages. */
function closure() {
  const seen = new Set();
  const queue = [];
  const add = (dir) => {
    const rel = relative(ROOT, dir);
    if (seen.has(rel)) return;
    seen.add(rel);
    queue.push(dir);
  };
  for (const name of ROOTS) {
    const p = resolvePkg(name, ROOT);
    if (p === undefined)
      throw new Error(`pack: ${name} is not installed here. Expected it in node_modules (npm ci), got none.`);
    add(p);
  }
  // The workspace packages: their links in node_modules/@mama-prune travel as links (to packages/, which
  // travels as tracked files); their own dependencies are walked from the package folders.
  const scope = join(ROOT, "node_modules", "@mama-prune");
  const links = readdirSync(scope).map((n) => join(scope, n));
  const pkgDirs = links.map((l) => join(scope, readlinkSync(l)));
  while (queue.length > 0 || pkgDirs.length > 0) {
    const dir = queue.length > 0 ? queue.shift() : pkgDirs.shift();
    const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
    const deps = { ...pkg.dependencies, ...pkg.optionalDependencies, ...pkg.peerDependencies };
    for (const name of Object.keys(deps)) {
      if (name.startsWith("@mama-prune/")) continue;
      const p = resolvePkg(name, dir);
      if (p !== undefined) add(p); // an optional dependency of another platform is simply absent
    }
  }
  return { packages: [...seen].sort(), links: links.map((l) => relative(ROOT, l)) };
}

/** Folders of other platforms' binaries inside the packages kept (excluded from the tarball). */
function otherPlatforms() {
  const ex = [];
  const dawn = join(ROOT, "node_modules", "webgpu", "dist");
  for (const d of readdirSync(dawn)) if (d !== TARGET) ex.push(relative(ROOT, join(dawn, d)));
  if (!existsSync(join(dawn, TARGET, "dawn.node")))
    throw new Error(`pack: no webgpu/dist/${TARGET}/dawn.node here`);
  const ort = join(ROOT, "node_modules", "onnxruntime-node", "bin");
  for (const napi of readdirSync(ort)) {
    for (const os of readdirSync(join(ort, napi))) {
      for (const arch of readdirSync(join(ort, napi, os))) {
        if (`${os}-${arch}` !== TARGET) ex.push(relative(ROOT, join(ort, napi, os, arch)));
      }
    }
  }
  return ex;
}

function size(p) {
  return statSync(p).size;
}

/** Bytes of the files the device tool sends besides the carry: tracked + untracked-not-ignored files. */
function treeBytes() {
  const files = sh("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], { cwd: ROOT })
    .split("\0")
    .filter((f) => f !== "");
  let total = 0;
  for (const f of files) {
    const p = join(ROOT, f);
    if (existsSync(p) && !lstatSync(p).isSymbolicLink()) total += lstatSync(p).size;
  }
  return total;
}

rmSync(OUT, { recursive: true, force: true });
mkdirSync(OUT, { recursive: true });
const lines = [];
const log = (s) => {
  console.log(s);
  lines.push(s);
};

if (!values["no-node"]) {
  if (`${process.platform}-${process.arch}` !== TARGET)
    throw new Error(
      `pack: this Node is ${process.platform}-${process.arch}; the device needs ${TARGET}. Pass --no-node and bring one.`,
    );
  sh("sh", ["-c", `xz -6 -T2 -c "${process.execPath}" > "${join(OUT, "node.xz")}"`]);
  log(
    `node.xz: Node ${process.version} (${process.execPath}), ${(size(join(OUT, "node.xz")) / MiB).toFixed(1)} MiB`,
  );
}

const { packages, links } = closure();
const exclude = otherPlatforms();
const list = join(OUT, ".files");
writeFileSync(list, `${[...links, ...packages].join("\n")}\n`);
sh(
  "tar",
  [
    "-cJf",
    join(OUT, "node_modules.tar.xz"),
    ...exclude.map((e) => `--exclude=${e}`),
    "--exclude=*.map",
    "-T",
    list,
  ],
  { cwd: ROOT, env: { ...process.env, XZ_OPT: "-6 -T2" } },
);
rmSync(list);
log(
  `node_modules.tar.xz: ${links.length} workspace links + ${packages.length} packages (${packages.join(", ")}), ${TARGET} binaries only, ${(size(join(OUT, "node_modules.tar.xz")) / MiB).toFixed(1)} MiB`,
);

if (!values["no-vulkan"]) {
  // As the device README says for the GL/Vulkan loaders: amd64 packages from apt, unpacked there with dpkg -x.
  const lists = mkdtempSync(join(tmpdir(), "bench-gpu-apt-")); // apt's amd64 package lists, removed below
  const o = ["-oAPT::Architecture=amd64", "-oAPT::Architectures=amd64", `-oDir::State::Lists=${lists}`];
  try {
    mkdirSync(join(lists, "partial"), { recursive: true });
    sh("apt-get", [...o, "update"]);
    sh("apt-get", [...o, "download", "libvulkan1"], { cwd: OUT });
    for (const f of readdirSync(OUT).filter((f) => f.endsWith(".deb")))
      log(`${f}: the Vulkan loader, ${(size(join(OUT, f)) / 1024).toFixed(0)} KiB`);
  } catch (e) {
    log(
      `WARNING: libvulkan1 could not be downloaded (${String(e).split("\n")[0]}); the device must have libvulkan.so.1 itself`,
    );
  } finally {
    rmSync(lists, { recursive: true, force: true });
  }
}

const carry = readdirSync(OUT).reduce((a, f) => a + size(join(OUT, f)), 0);
const tree = treeBytes();
log(
  `carry ${(carry / MiB).toFixed(1)} MiB + working tree ${(tree / MiB).toFixed(1)} MiB = ${((carry + tree) / MiB).toFixed(1)} MiB of the device tool's 64 MiB`,
);
if (carry + tree > 64 * MiB) log("WARNING: over the device tool's 64 MiB: the call will be refused");
writeFileSync(
  join(OUT, "MANIFEST.txt"),
  `${lines.join("\n")}\n\nDevice tool: carry ["${values.out}"], timeout_s 600, command: bash tools/bench-gpu/device.sh $OUT/bench-gpu\n(see the header of tools/bench-gpu/main.mjs).\n`,
);
