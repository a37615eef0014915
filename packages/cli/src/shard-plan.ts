// ---- The source checkpoint's sharding, to write a pruned copy sharded like it ----

import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import type { Checkpoint } from "@mama-prune/tensor-io";
import { HF_INDEX_FILE } from "@mama-prune/tensor-io";

/**
 * The 0-based shard of each tensor in the source (`pruneToCheckpoint({ shardOf })`): a sharded HF
 * folder's shards in file-name order (from its `model.safetensors.index.json`), one shard for a
 * single safetensors file or a folder with `model.safetensors`; undefined for llama2.c files (the
 * writer's size-based sharding). Tensors missing from the index go to the last shard.
 *
 * @example
 * const shardOf = await sourceShardOf("models/llama", ckpt); shardOf?.("model.norm.weight"); // 1
 */
export async function sourceShardOf(
  path: string,
  ckpt: Checkpoint,
): Promise<((name: string) => number) | undefined> {
  if (ckpt.format === "llama2c") return undefined;
  if (ckpt.format === "safetensors" || !(await isKind(path, "dir"))) return () => 0;
  let map: Record<string, unknown>;
  try {
    const index = JSON.parse(await readFile(join(path, HF_INDEX_FILE), "utf8")) as Record<string, unknown>;
    map = index["weight_map"] as Record<string, unknown>;
    if (typeof map !== "object" || map === null) return () => 0;
  } catch {
    return () => 0; // model.safetensors (the reader already refused a broken index)
  }
  // model.safetensors wins over an index when both exist (as the reader does).
  if (await isKind(join(path, "model.safetensors"), "file")) return () => 0;
  const files = [...new Set(Object.values(map).filter((f): f is string => typeof f === "string"))].sort();
  const shard = new Map<string, number>();
  for (const [name, f] of Object.entries(map)) if (typeof f === "string") shard.set(name, files.indexOf(f));
  const last = Math.max(0, files.length - 1);
  return (name) => shard.get(name) ?? last;
}

async function isKind(path: string, kind: "file" | "dir"): Promise<boolean> {
  const s = await stat(path).catch(() => undefined);
  return kind === "dir" ? s?.isDirectory() === true : s?.isFile() === true;
}
