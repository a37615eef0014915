// ---- Sparsity: the one type, its one validation, parsing and labels ----

import { PruneError } from "./errors.ts";

/** N:M structure: N **zeros** in every M consecutive input columns of each row (2:4 = 50 %). */
export interface NmPattern {
  /** Weights pruned per group (NVIDIA's hardware 2:4 counts the kept ones instead; both mean 50 % for 2:4). */
  readonly n: number;
  /** Group length in consecutive input columns. */
  readonly m: number;
}

/** A sparsity level: the fraction of weights set to zero in [0, 1), or an N:M pattern with 1 ≤ N < M. */
export type Sparsity = number | NmPattern;

/** Options of {@link validateSparsity}. */
export interface ValidateSparsityOptions {
  /** Name of the option in messages (`"<where>: option <option> …"`); default: the word "sparsity". */
  readonly option?: string;
  /** Accept only a fraction (`"fraction"`), only N:M (`"n:m"`), or either (default `"any"`). */
  readonly accept?: "any" | "fraction" | "n:m";
  /**
   * `"closed"` widens the range to [0, 1] and 0 ≤ N ≤ M, for low-level primitives (e.g. SparseGPT)
   * where "prune nothing" and "prune everything" are meaningful edge cases. Everything user-facing
   * (pipeline, masks, recipes, CLI) uses the default `"open"` range.
   */
  readonly range?: "open" | "closed";
}

/**
 * True when `value` is an object with numeric `n` and `m` (not validated: see {@link validateSparsity}).
 *
 * @example
 * isNmPattern({ n: 2, m: 4 }); // true
 * isNmPattern(0.5); // false
 */
export function isNmPattern(value: unknown): value is NmPattern {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { n?: unknown }).n === "number" &&
    typeof (value as { m?: unknown }).m === "number"
  );
}

function shown(v: unknown): string {
  if (typeof v === "string") return JSON.stringify(v.slice(0, 40));
  if (typeof v === "object" && v !== null) {
    try {
      return (JSON.stringify(v) ?? "an object").slice(0, 60);
    } catch {
      return "an object";
    }
  }
  return String(v).slice(0, 40);
}

/**
 * THE sparsity validation of MAMA Prune: a fraction must be a finite number in [0, 1); an N:M
 * pattern must have integers with 1 ≤ N < M (so `0:4`, which prunes nothing, and `4:4` are refused).
 * Returns the value (an N:M pattern as a fresh `{ n, m }` without other keys).
 *
 * @param where prefix of the error message (a function, tensor, flag or recipe key path).
 * @throws PruneError `SPARSITY_INVALID` naming `where` (and `options.option`), what was expected and
 *   what was got.
 * @example
 * validateSparsity(0.5, "prune", { option: "sparsity" }); // 0.5
 * validateSparsity({ n: 0, m: 4 }, "--sparsity"); // throws SPARSITY_INVALID: … Expected integers 1 <= n < m …
 */
export function validateSparsity(
  value: unknown,
  where: string,
  options: ValidateSparsityOptions = {},
): Sparsity {
  const label = options.option === undefined ? "sparsity" : `option ${options.option}`;
  const accept = options.accept ?? "any";
  const closed = options.range === "closed";
  if (typeof value === "number" && accept !== "n:m") {
    if (!Number.isFinite(value) || value < 0 || (closed ? value > 1 : value >= 1)) {
      throw new PruneError(
        "SPARSITY_INVALID",
        `${where}: ${label} is out of range. Expected a number in ${closed ? "[0, 1]" : "[0, 1)"}, got ${shown(value)}.`,
      );
    }
    return value;
  }
  if (isNmPattern(value) && accept !== "fraction") {
    const { n, m } = value;
    const ok = closed
      ? Number.isInteger(n) && Number.isInteger(m) && m >= 1 && n >= 0 && n <= m
      : Number.isInteger(n) && Number.isInteger(m) && n >= 1 && n < m;
    if (!ok) {
      throw new PruneError(
        "SPARSITY_INVALID",
        `${where}: ${label} is an invalid N:M pattern. Expected integers ${closed ? "0 <= n <= m, m >= 1" : "1 <= n < m"} (n zeros in every m consecutive weights), got n=${shown(n)}, m=${shown(m)}.`,
      );
    }
    return { n, m };
  }
  const expected =
    accept === "fraction"
      ? `a number in ${closed ? "[0, 1]" : "[0, 1)"}`
      : accept === "n:m"
        ? "an N:M pattern { n, m }"
        : `a number in ${closed ? "[0, 1]" : "[0, 1)"} or an N:M pattern { n, m }`;
  throw new PruneError(
    "SPARSITY_INVALID",
    `${where}: ${label} has the wrong type. Expected ${expected}, got ${shown(value)}.`,
  );
}

/**
 * Parse a sparsity as written by people: a fraction (`"0.5"`), a percentage (`"50%"`) or N:M
 * (`"2:4"`, spaces allowed), then {@link validateSparsity} it. A number is validated as is.
 *
 * @throws PruneError `SPARSITY_INVALID` naming `where` for anything else (including `"0:4"`).
 * @example
 * parseSparsity("2:4"); // { n: 2, m: 4 }
 * parseSparsity("0.5"); // 0.5
 * parseSparsity("70%"); // 0.7
 */
export function parseSparsity(text: string | number, where = "sparsity"): Sparsity {
  if (typeof text === "number") return validateSparsity(text, where);
  if (typeof text === "string") {
    const nm = /^\s*(\d+)\s*:\s*(\d+)\s*$/.exec(text);
    if (nm !== null) return validateSparsity({ n: Number(nm[1]), m: Number(nm[2]) }, where);
    const t = text.trim();
    const pct = t.endsWith("%");
    const body = pct ? t.slice(0, -1).trim() : t;
    const x = body === "" || !/^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(body) ? Number.NaN : Number(body);
    if (Number.isFinite(x)) return validateSparsity(pct ? x / 100 : x, where);
  }
  throw new PruneError(
    "SPARSITY_INVALID",
    `${where}: sparsity is not a sparsity level. Expected a fraction in [0, 1) ("0.5", "50%") or N:M ("2:4"), got ${shown(text)}.`,
  );
}

/**
 * A sparsity as written in tables and file names: numbers as given (`"0.5"`), N:M as `"N:M"`.
 *
 * @example
 * sparsityLabel({ n: 2, m: 4 }); // "2:4"
 * sparsityLabel(0.5); // "0.5"
 */
export function sparsityLabel(s: Sparsity): string {
  return typeof s === "number" ? String(s) : `${s.n}:${s.m}`;
}

/**
 * The fraction of zeros a sparsity asks for (N/M for N:M).
 *
 * @example
 * sparsityFraction({ n: 2, m: 4 }); // 0.5
 */
export function sparsityFraction(s: Sparsity): number {
  return typeof s === "number" ? s : s.n / s.m;
}

/**
 * How many weights an N:M pattern prunes in one group of `width` consecutive input columns: N for a
 * full group of M, and floor(N·width/M) for a tail group shorter than M (the last columns of a row
 * whose width is not a multiple of M) — the fraction closest to N/M that does not exceed it. Every
 * N:M mask (selection, SparseGPT's adaptive mask, checks) uses this one rule.
 *
 * @throws RangeError when `width` is not an integer in [0, M].
 * @example
 * nmGroupPruned({ n: 2, m: 4 }, 4); // 2
 * nmGroupPruned({ n: 4, m: 8 }, 3); // 1 (floor(12 / 8))
 */
export function nmGroupPruned(pattern: NmPattern, width: number): number {
  const { n, m } = pattern;
  if (!Number.isInteger(width) || width < 0 || width > m) {
    throw new RangeError(`nmGroupPruned: width must be an integer in [0, ${m}], got ${String(width)}`);
  }
  return width === m ? n : Math.floor((n * width) / m);
}

/**
 * Zeros an N:M pattern gives one row of `cols` input columns: N per full group of M plus
 * {@link nmGroupPruned} of the tail group (`cols % M` columns).
 *
 * @example
 * nmRowPruned({ n: 4, m: 8 }, 172); // 21·4 + floor(4·4/8) = 86
 */
export function nmRowPruned(pattern: NmPattern, cols: number): number {
  const tail = cols % pattern.m;
  return Math.floor(cols / pattern.m) * pattern.n + nmGroupPruned(pattern, tail);
}

/**
 * Entries of `w` equal to zero (+0 and −0; NaN is not zero), read as 32-bit words without a branch
 * per entry: about 7× the `w[i] === 0` loop on half-zero weights, whose branch is mispredicted half
 * the time.
 *
 * @example
 * countZeros(new Float32Array([0, -0, 1, Number.NaN])); // 2
 */
export function countZeros(w: Float32Array): number {
  const u = new Uint32Array(w.buffer, w.byteOffset, w.length);
  let nonzero = 0;
  // (bits without the sign) + 0x7fffffff reaches 2³¹ exactly when the bits are not ±0.
  for (let i = 0; i < u.length; i++) nonzero += ((u[i]! & 0x7fffffff) + 0x7fffffff) >>> 31;
  return u.length - nonzero;
}
