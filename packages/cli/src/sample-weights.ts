// ---- Per-window sample weights from a file (reward-weighted calibration, `--sample-weights`) ----

import { PruneError } from "@mama-prune/core";

/**
 * Parse a sample-weight file: a JSON array of numbers (`.json`, or any text starting with "["), a JSON
 * object with such an array under `weights` (what `mama-prune grpo` writes as `reward-calibration.json`), or
 * numbers separated by whitespace, commas or newlines (`.txt`; `#` starts a comment). One weight ≥ 0
 * per calibration window, in window order; checked: count = `nsamples` (when given), every weight
 * finite and ≥ 0, not all zero.
 *
 * @throws PruneError CALIBRATION_INVALID naming the file, what was expected and what was got.
 * @example
 * parseSampleWeights("1 0.5\n2", "w.txt", 3); // Float32Array [1, 0.5, 2]
 */
export function parseSampleWeights(text: string, source: string, nsamples?: number): Float32Array {
  const where = `--sample-weights ${source.slice(0, 200)}`;
  const body = text.trim();
  let values: unknown[];
  if (body.startsWith("[") || body.startsWith("{")) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch (e) {
      throw new PruneError(
        "CALIBRATION_INVALID",
        `${where}: not valid JSON. Expected an array of numbers, got a parse error (${(e as Error).message.slice(0, 120)}).`,
      );
    }
    if (typeof parsed === "object" && parsed !== null && !Array.isArray(parsed)) {
      parsed = (parsed as { weights?: unknown }).weights; // grpo's reward-calibration.json
    }
    if (!Array.isArray(parsed)) {
      throw new PruneError(
        "CALIBRATION_INVALID",
        `${where}: expected a JSON array of numbers (or an object with one under "weights"), got ${typeof parsed}.`,
      );
    }
    values = parsed;
  } else {
    values = body
      .split("\n")
      .map((l) => l.replace(/#.*$/, ""))
      .join(" ")
      .split(/[\s,]+/)
      .filter((t) => t !== "")
      .map((t) => (/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(t) ? Number(t) : t));
  }
  if (nsamples !== undefined && values.length !== nsamples) {
    throw new PruneError(
      "CALIBRATION_INVALID",
      `${where}: wrong number of weights. Expected one per calibration window (${nsamples}), got ${values.length}.`,
    );
  }
  const out = new Float32Array(values.length);
  let total = 0;
  for (let k = 0; k < values.length; k++) {
    const v = values[k];
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0) {
      throw new PruneError(
        "CALIBRATION_INVALID",
        `${where}: weight ${k} is invalid. Expected a finite number >= 0, got ${JSON.stringify(v)?.slice(0, 40)}.`,
      );
    }
    out[k] = v;
    total += v;
  }
  if (!(total > 0)) {
    throw new PruneError(
      "CALIBRATION_INVALID",
      `${where}: every weight is zero (or the file is empty). Expected at least one positive weight, got ${values.length} zeros.`,
    );
  }
  return out;
}
