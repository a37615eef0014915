// Pruned folders keep the input folder's side files and get pruning.json; eval of a folder reports
// the folder's checksum.
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { sha256Hex } from "@mama-prune/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  BUNDLED_TOKENIZER,
  createWorkspace,
  runCli,
  type Workspace,
  writeTinyModel,
} from "../test/fixtures/workspace.ts";
import { folderChecksum } from "./provenance.ts";
import { CLI_VERSION } from "./version.ts";

let ws: Workspace;
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const hashOf = async (p: string): Promise<string> => sha256Hex(new Uint8Array(await readFile(p)));

beforeAll(async () => {
  ws = await createWorkspace();
  await writeTinyModel(join(ws.dir, "hf"), {
    extraFiles: [
      { file: "tokenizer.bin", data: new Uint8Array(await readFile(BUNDLED_TOKENIZER)) },
      { file: "generation_config.json", data: enc('{"bos_token_id": 1, "max_length": 64}\n') },
      { file: "special_tokens_map.json", data: enc('{"bos_token": "<s>"}\n') },
    ],
  });
});
afterAll(async () => {
  await ws.cleanup();
});

describe("pruned folders: side files and pruning.json", () => {
  it("copies generation_config.json and special_tokens_map.json and records inputs and outputs with sha256", async () => {
    await writeFile(join(ws.dir, "p.yaml"), "method: { name: wanda, label: W }\nsparsity: 0.5\n");
    const r = await runCli(
      [
        "prune",
        "hf",
        "--recipe",
        "p.yaml",
        "--calibration",
        "text.txt",
        "--nsamples",
        "2",
        "--seqlen",
        "8",
        "--out",
        "hf-w",
        "--quiet",
      ],
      ws.dir,
    );
    expect(r.code).toBe(0);
    const out = join(ws.dir, "hf-w");
    expect((await readdir(out)).sort()).toEqual([
      "config.json",
      "generation_config.json",
      "model.safetensors",
      "pruning.json",
      "special_tokens_map.json",
      "tokenizer.bin",
      "tokenizer.json",
      "tokenizer_config.json",
    ]);
    expect(await readFile(join(out, "generation_config.json"), "utf8")).toBe(
      '{"bos_token_id": 1, "max_length": 64}\n',
    );
    expect(r.stdout).toMatch(/wrote .*hf-w \(model\.safetensors, .*pruning\.json\)/);

    const pj = JSON.parse(await readFile(join(out, "pruning.json"), "utf8"));
    expect(pj.tool).toEqual({ name: "@mama-prune/cli", version: CLI_VERSION });
    expect(pj.method).toMatchObject({
      name: "wanda",
      label: "W",
      scorer: "wanda",
      group: "row",
      redistribution: "none",
    });
    expect([pj.sparsity, pj.overallSparsity, pj.format]).toEqual([0.5, 0.5, "dense"]);
    expect(pj.recipe.content).toEqual({ method: { name: "wanda", label: "W" }, sparsity: 0.5 });
    expect(pj.calibration).toMatchObject({
      text: ws.text,
      nsamples: 2,
      seqlen: 8,
      seed: 0,
      defaulted: false,
    });
    // Every output file but pruning.json itself, with the sha256 of the bytes on disk (checked with
    // core's WebCrypto sha256, not the streaming hash that wrote the record).
    expect(Object.keys(pj.outputs).sort()).toEqual(
      (await readdir(out)).filter((f) => f !== "pruning.json").sort(),
    );
    for (const [f, o] of Object.entries(pj.outputs as Record<string, { sha256: string; bytes: number }>)) {
      expect(o.sha256).toBe(await hashOf(join(out, f)));
      expect(o.bytes).toBe((await readFile(join(out, f))).length);
    }
    // Inputs: every file of the model folder, the calibration text, the tokenizer, the recipe.
    const byRole = (role: string) => pj.inputs.filter((i: { role: string }) => i.role === role);
    expect(byRole("model").map((i: { name: string }) => i.name)).toEqual([
      "config.json",
      "generation_config.json",
      "model.safetensors",
      "special_tokens_map.json",
      "tokenizer.bin",
    ]);
    expect(byRole("calibration")[0].sha256).toBe(await hashOf(ws.text));
    expect(byRole("recipe")[0].sha256).toBe(await hashOf(join(ws.dir, "p.yaml")));
    expect(byRole("model")[2].sha256).toBe(await hashOf(join(ws.dir, "hf", "model.safetensors")));
    // The folder checksum: sha256 of "<sha256>  <file>\n" over the sorted *.safetensors files.
    const expected = `folder-sha256:${await sha256Hex(enc(`${await hashOf(join(out, "model.safetensors"))}  model.safetensors\n`))}`;
    expect(pj.folderChecksum).toBe(expected);
    expect(await folderChecksum(out)).toBe(expected);
  });

  it("eval of a folder reports the folder checksum instead of 'checksum unknown'", async () => {
    const r = await runCli(
      ["eval", "hf-w", "--text", "text.txt", "--seqlen", "8", "--windows", "2", "--json", "--quiet"],
      ws.dir,
    );
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    const pj = JSON.parse(await readFile(join(ws.dir, "hf-w", "pruning.json"), "utf8"));
    expect(j.model.checksum).toBe(pj.folderChecksum);
    expect(j.protocol).toContain(`model ${pj.folderChecksum};`);
    expect(j.protocol).not.toContain("checksum unknown");
  });

  it("pruning a pruned folder writes a fresh pruning.json (the old one is an input, not a copy)", async () => {
    const r = await runCli(
      ["prune", "hf-w", "--method", "magnitude", "--sparsity", "0.6", "--out", "hf-w-m", "--quiet"],
      ws.dir,
    );
    expect(r.code).toBe(0);
    const pj = JSON.parse(await readFile(join(ws.dir, "hf-w-m", "pruning.json"), "utf8"));
    expect(pj.method.name).toBe("magnitude");
    expect(pj.calibration).toBeNull();
    expect(pj.inputs.map((i: { name: string }) => i.name)).toContain("pruning.json");
    expect(await readdir(join(ws.dir, "hf-w-m"))).toContain("generation_config.json");
  });
});
