// Measures iterations and accuracy of pcgRefit against the direct solve for tolerances, preconditioner
// ranks and warm starts (how the defaults were chosen). Run: npx tsx --conditions @mama-prune/source bench/pcg-tolerance.ts [rows cols]

import { pcgRefit } from "../src/pcg-refit.ts";
import { reconstructionError } from "../src/reconstruction-error.ts";
import { leastSquaresRefit } from "../src/refit.ts";
import { sparsegpt } from "../src/sparsegpt.ts";
import {
  activationLikeHessian,
  naiveBackend,
  nmMask,
  randomInputs,
  randomMask,
  randomWeight,
} from "../test/helpers.ts";

const [rows, cols] = [Number(process.argv[2] ?? 64), Number(process.argv[3] ?? 172)];
for (const kind of ["act4", "act8", "wishart"])
  for (const mk of ["50%", "2:4"]) {
    const w = randomWeight(rows, cols, 21);
    const h = kind.startsWith("act")
      ? activationLikeHessian(4 * cols, cols, 22, { strong: Number(kind.slice(3)) })
      : randomInputs(4 * cols, cols, 22, 0.3 / Math.sqrt(cols)).h;
    const mask = mk === "2:4" ? nmMask(w, 2, 4) : randomMask(rows, cols, 0.5, 23);
    const d = await leastSquaresRefit(w, h, mask);
    const eD = reconstructionError(w, d.weight, h);
    const obs = await sparsegpt(w, h, { mask });
    const line: string[] = [];
    for (const rank of [0, 16])
      for (const tol of [1e-6, 1e-7, 1e-8])
        for (const warm of [false, true]) {
          const r = await pcgRefit(w, h, mask, {
            backend: naiveBackend(),
            tolerance: tol,
            preconditionerRank: rank,
            ...(warm ? { initialWeight: obs.weight } : {}),
          });
          line.push(
            `r${rank} tol${tol}${warm ? " warm" : ""}: it ${r.iterations} rel ${((reconstructionError(w, r.weight, h) - eD) / eD).toExponential(1)}`,
          );
        }
    console.log(kind, mk, `obs rel ${((reconstructionError(w, obs.weight, h) - eD) / eD).toExponential(2)}`);
    console.log("  " + line.join("\n  "));
  }
