import { scorerConformance } from "@mama-prune/scoring/conformance";
import { describe, it } from "vitest";
import { sqrtActivation } from "./acme-scorer.ts";

describe("acme/sqrt-activation conformance", () => {
  for (const c of scorerConformance(sqrtActivation())) it(c.name, c.run);
});
