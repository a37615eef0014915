// The paper's Table 2 on the bundled model, as one run of the mama-prune recipe table2.yaml (the
// pipeline's sweep): `npm start -w @mama-prune-examples/reproduce-table2` writes
// results/table2.{md,csv,json,svg} here and, from the same run, the paper-format summary
// results/table2-methods.{md,json} at the repository root (three decimals, the checks, measured sparsity).
import { fileURLToPath } from "node:url";
import type { SweepCommandResult } from "@mama-prune/cli";
import {
  backendArg,
  processIo,
  type ReproduceOptions,
  reproduceRecipe,
} from "@mama-prune-examples/reproduce-table1/reproduce";

export {
  backendArg,
  paperSummary,
  type ReproduceOptions,
} from "@mama-prune-examples/reproduce-table1/reproduce";

export const RECIPE: string = fileURLToPath(new URL("../table2.yaml", import.meta.url));

/** The expected shape from the anchors, checked rather than assumed (columns Wanda, SparseGPT, Magnitude, MAMA). */
export function table2Checks(r: SweepCommandResult): Record<string, boolean | string> {
  const col = (name: string): number => r.table.columns.indexOf(name);
  const ppl = (name: string, level: string): number =>
    r.table.values[r.table.levels.indexOf(level)]?.[col(name)] ?? Number.NaN;
  const levels = r.table.levels.filter((l) => l !== "0");
  const from50 = levels.filter((l) => !l.includes(":") && Number(l) >= 0.5);
  const list = (ls: readonly string[]): string => ls.join(", ") || "none";
  return {
    "SparseGPT <= Wanda < magnitude at every level >= 0.5": from50.every(
      (l) => ppl("SparseGPT", l) <= ppl("Wanda", l) && ppl("Wanda", l) < ppl("Magnitude", l),
    ),
    "levels where SparseGPT > Wanda": list(from50.filter((l) => ppl("SparseGPT", l) > ppl("Wanda", l))),
    "levels where MAMA < SparseGPT": list(levels.filter((l) => ppl("MAMA", l) < ppl("SparseGPT", l))),
    "levels where MAMA > SparseGPT": list(levels.filter((l) => ppl("MAMA", l) > ppl("SparseGPT", l))),
  };
}

/** Run table2.yaml once and write both the recipe's reports and the root summary (table2-methods.{md,json}). */
export async function reproduceTable2(o: ReproduceOptions = {}): Promise<SweepCommandResult> {
  return await reproduceRecipe(RECIPE, "table2-methods", table2Checks, o);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const r = await reproduceTable2({ backend: backendArg(process.argv, "reproduce-table2"), io: processIo() });
  process.stdout.write(r.markdown);
  process.stdout.write(`\nwrote ${r.files.join(", ")}, results/table2-methods.{md,json}\n`);
}
