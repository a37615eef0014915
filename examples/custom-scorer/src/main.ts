// Sweep the bundled model with a third-party scorer plugin loaded by package name from a recipe,
// through the mama-prune CLI: `npm start -w @mama-prune-examples/custom-scorer` writes
// results/custom-scorer.{md,csv,json,svg} next to this example.
import { fileURLToPath } from "node:url";
import { main } from "@mama-prune/cli";

export const RECIPE: string = fileURLToPath(new URL("../recipe.yaml", import.meta.url));

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.exitCode = await main(["sweep", "--recipe", RECIPE, ...process.argv.slice(2)], {
    stdout: (s) => process.stdout.write(s),
    stderr: (s) => process.stderr.write(s),
    isTTY: process.stderr.isTTY === true,
    cwd: process.cwd(),
  });
}
