import type { ScorerPlugin } from "../contract.ts";
import { magnitude, negativeMagnitude } from "./magnitude.ts";
import { mama } from "./mama.ts";
import { movement } from "./movement.ts";
import { ria } from "./ria.ts";
import { wanda } from "./wanda.ts";

/**
 * Fresh instances of every built-in scorer with default options, ready for `createScorerRegistry`.
 *
 * @example
 * createScorerRegistry(builtinScorers()).list().map((p) => p.name);
 * // ["magnitude", "negative-magnitude", "wanda", "movement", "ria", "mama"]
 */
export function builtinScorers(): ScorerPlugin[] {
  return [magnitude(), negativeMagnitude(), wanda(), movement(), ria(), mama()];
}
