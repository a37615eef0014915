import { describe, expect, it } from "vitest";
import { expectClose as close, ctxOf, m } from "../../test/helpers.ts";
import { magnitude, negativeMagnitude } from "./magnitude.ts";

describe("magnitude", () => {
  it("scores |W|", async () => {
    close(
      await magnitude().score(
        ctxOf(
          m([
            [-2, 0.5],
            [0, 3],
          ]),
        ),
      ),
      [2, 0.5, 0, 3],
    );
  });
});

describe("negativeMagnitude", () => {
  it("scores −|W| so the largest weights are pruned first, with +0 for zero weights", async () => {
    const s = await negativeMagnitude().score(
      ctxOf(
        m([
          [-2, 0.5],
          [0, 3],
        ]),
      ),
    );
    close(s, [-2, -0.5, 0, -3]);
    expect(Object.is(s[2], 0)).toBe(true);
  });
});
