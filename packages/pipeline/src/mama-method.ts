// ---- The MAMA method as a value: its measured defaults and its per-linear procedure ----

import { mama, type ScorerPlugin } from "@mama-prune/scoring";
import {
  type MamaMethodOptions,
  mamaLinearProcedure,
  mamaSettings,
  type RefitSolver,
} from "./mama-linear.ts";
import {
  defineMethod,
  type LinearProcedure,
  type MethodEnvironment,
  type PruneMethodDefinition,
  type Redistribution,
  type UnstructuredGroup,
} from "./method.ts";
import type { StatsNeeds } from "./stats.ts";

/**
 * MAMA's measured defaults (results/mama-defaults.md, tuned on a held-out slice of the CALIBRATION
 * split, never on the evaluation split; regenerate with `npm run tune -w @mama-prune-examples/mama`).
 * Options a run gives are laid over these (unset keys keep the defaults). Movement is OFF unless a run
 * asks for it (`useMovement: true`); a pre-trained checkpoint alone never turns it on.
 */
export const MAMA_PIPELINE_DEFAULTS: Readonly<{
  scorer: MamaMethodOptions;
  redistribution: Redistribution;
}> = {
  scorer: {
    magnitudeWeight: 0,
    activationWeight: 0,
    obsWeight: 1,
    movementWeight: 0.25,
    normalize: "rank",
    group: "row",
    useActivations: true,
    useMovement: false,
    steps: 8,
    schedule: "linear",
    refit: true,
    refine: "swap",
    refineLevels: "nm",
    refineMaxCols: 256,
    // Refit toward αX + (1 − α)X̃, X the dense model's input (results/mama-dense-target.md: α = 0.35
    // chosen on the calibration side, stories260K seeds 0, 1).
    target: "dense",
    targetBlend: 0.35,
    // N:M only: permute o_proj's and down_proj's input channels (with their producers' rows, the same
    // function) before pruning them (results/mama-nm-tuning.md: better on every model and every paired
    // calibration seed of the tuning side at 2:4; no effect at unstructured levels).
    permute: "channels",
  },
  redistribution: "refit",
};

/** Options of {@link createMamaMethod}. */
export interface CreateMamaMethodOptions {
  /** The refit solver (default `refitKept`: direct where cheap, PCG on the backend on wide layers). */
  readonly refit?: RefitSolver;
  /** Name (default `"mama"`) and label (default `"MAMA"`), e.g. for a variant registered beside it. */
  readonly name?: string;
  readonly label?: string;
  /** Defaults laid under a run's options (default {@link MAMA_PIPELINE_DEFAULTS}`.scorer`). */
  readonly defaults?: MamaMethodOptions;
}

/**
 * The MAMA method: per linear, gradual score → mask → exact refit steps (see `mamaLinearProcedure`),
 * with the refit solver pluggable (an iterative solver for wide layers slots in here).
 *
 * @example
 * const method = createMamaMethod({ refit: mySolver }); // prune({ method, … })
 */
export function createMamaMethod(
  options: CreateMamaMethodOptions = {},
): PruneMethodDefinition<MamaMethodOptions> {
  const defaults = options.defaults ?? MAMA_PIPELINE_DEFAULTS.scorer;
  const solver = options.refit;
  return defineMethod<MamaMethodOptions>({
    name: options.name ?? "mama",
    label: options.label ?? "MAMA",
    description:
      "MAMA: gradual kept-set OBS saliency (+ optional |W|, |W|·‖X‖, movement) → mask → exact refit, per linear; N:M masks then refined by exact swaps",
    // The one-shot term mix: declares the statistics the run collects (activation norms, W⁰), and is
    // the scorer used when a run overrides the redistribution.
    scorer: (env: MethodEnvironment<MamaMethodOptions>): ScorerPlugin => {
      const s = mamaSettings(env.optionsGiven ? env.options : undefined, defaults);
      const oneShot = s.magnitudeWeight + s.activationWeight + s.movementWeight > 0;
      return mama({
        magnitudeWeight: oneShot ? s.magnitudeWeight : 1,
        activationWeight: s.activationWeight,
        movementWeight: s.movementWeight,
        useActivations: s.activationWeight > 0,
        useMovement: s.movementWeight > 0,
        useSampleWeights: s.useSampleWeights,
        normalize: s.normalize,
        group: s.group,
      });
    },
    group: (env: MethodEnvironment<MamaMethodOptions>): UnstructuredGroup =>
      mamaSettings(env.optionsGiven ? env.options : undefined, defaults).group,
    redistribution: "refit",
    defaultOptions: defaults,
    // The dense target needs the cross-Gram (or, where cheaper, the product statistic): the run then
    // carries the dense stream (nothing otherwise).
    stats: (env: MethodEnvironment<MamaMethodOptions>): StatsNeeds => {
      const s = mamaSettings(env.optionsGiven ? env.options : undefined, defaults);
      if (s.target !== "dense") return {};
      return s.denseTargetStatistic === "auto"
        ? { crossGram: true, targetProduct: true }
        : { crossGram: true };
    },
    // N:M channel permutation of o_proj / down_proj (the pipeline moves the producers' rows too).
    permute: (env: MethodEnvironment<MamaMethodOptions>): "none" | "channels" =>
      mamaSettings(env.optionsGiven ? env.options : undefined, defaults).permute,
    linear: (env: MethodEnvironment<MamaMethodOptions>): LinearProcedure =>
      mamaLinearProcedure(mamaSettings(env.optionsGiven ? env.options : undefined, defaults), solver),
  });
}
