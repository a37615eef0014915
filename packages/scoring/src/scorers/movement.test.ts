import { isPruneError } from "@mama-prune/core";
import { describe, expect, it } from "vitest";
import { expectClose as close, ctxOf, m } from "../../test/helpers.ts";
import { movement } from "./movement.ts";

describe("movement", () => {
  const post = m([
    [2, 0.5],
    [-1, -3],
  ]);
  const pre = m([
    [1, 1],
    [-2, -1],
  ]);
  it("scores W¹·(W¹ − W⁰), sign-aware", async () => {
    // grew (2), shrank toward 0 (−0.25), shrank toward 0 from below (−1), grew more negative (6)
    close(await movement().score(ctxOf(post, { preWeight: pre })), [2, -0.25, -1, 6]);
  });
  it("scores −W·∂L/∂W from gradients", async () => {
    const g = m([
      [1, -2],
      [0.5, 0],
    ]);
    const p = movement({ source: "gradients" });
    expect(p.requires).toEqual(["gradients"]);
    const s = await p.score(ctxOf(post, { gradients: g }));
    close(s, [-2, 1, 0.5, 0]);
    expect(Object.is(s[3], 0)).toBe(true);
  });
  it("rejects a pre-weight of another shape", async () => {
    await expect(async () => movement().score(ctxOf(post, { preWeight: m([[1, 2, 3]]) }))).rejects.toSatisfy(
      (e) => isPruneError(e, "SHAPE_MISMATCH"),
    );
  });
});
