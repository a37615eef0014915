// The paper's Table 1 on the bundled model, as one run of the mama-prune recipe table1.yaml (the
// pipeline's sweep): `npm start -w @mama-prune-examples/reproduce-table1` writes
// results/table1.{md,csv,json,svg} here and, from the same run, the paper-format summary
// results/table1-weights.{md,json} at the repository root (three decimals, the check, measured sparsity).
import { fileURLToPath } from "node:url";
import type { SweepCommandResult } from "@mama-prune/cli";
import { backendArg, processIo, type ReproduceOptions, reproduceRecipe } from "./reproduce.ts";

export { paperSummary, type ReproduceOptions } from "./reproduce.ts";

export const RECIPE: string = fileURLToPath(new URL("../table1.yaml", import.meta.url));

/** The paper's expected shape of Table 1, checked rather than assumed. */
export function table1Checks(r: SweepCommandResult): Record<string, boolean> {
  const at = (level: string, c: number): number =>
    r.table.values[r.table.levels.indexOf(level)]?.[c] ?? Number.NaN;
  return { "-weights collapses at 0.1 (ppl > 10 × dense)": at("0.1", 1) > 10 * r.dense };
}

/** Run table1.yaml once and write both the recipe's reports and the root summary (table1-weights.{md,json}). */
export async function reproduceTable1(o: ReproduceOptions = {}): Promise<SweepCommandResult> {
  return await reproduceRecipe(RECIPE, "table1-weights", table1Checks, o);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const r = await reproduceTable1({ backend: backendArg(process.argv, "reproduce-table1"), io: processIo() });
  process.stdout.write(r.markdown);
  process.stdout.write(`\nwrote ${r.files.join(", ")}, results/table1-weights.{md,json}\n`);
}
