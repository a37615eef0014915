import { isPruneError } from "@mama-prune/core";
import type { Tokenizer } from "@mama-prune/model";
import { describe, expect, it } from "vitest";
import { grpo } from "./grpo.ts";
import { sparsityOf } from "./masks.ts";
import { cloneParams, initLlamaParams, type LlamaParams, paramsToModel } from "./params.ts";
import { rewardWeightedCalibration } from "./reward-calibration.ts";
import { checkVerifier, containsWordVerifier, groupAdvantages, type VerifierPlugin } from "./verifier.ts";

const LETTERS = "abcdefghijklmnopqrstuvwx";

/** One character per token, no BOS/EOS: enough to drive generate() on a tiny random model. */
const letterTokenizer: Tokenizer = {
  vocabSize: 24,
  bosId: undefined,
  eosId: undefined,
  encode: (text) => Int32Array.from([...text].map((c) => LETTERS.indexOf(c))),
  decode: (ids) => Array.from(ids, (i) => LETTERS[i]!).join(""),
};

/** Reward = fraction of the letter "a" in the completion (dense, so a tiny run shows a trend). */
const countA: VerifierPlugin = {
  name: "fraction-of-a",
  apiVersion: 1,
  verify: (_p, c) => (c.length === 0 ? 0 : [...c].filter((x) => x === "a").length / c.length),
};

function tiny(seed: number): LlamaParams {
  return initLlamaParams({
    hiddenSize: 16,
    intermediateSize: 32,
    numLayers: 1,
    numHeads: 2,
    numKvHeads: 1,
    vocabSize: 24,
    maxPositionEmbeddings: 32,
    std: 0.2,
    seed,
  });
}

describe("groupAdvantages", () => {
  it("normalises by the group mean and population std", () => {
    const a = groupAdvantages([1, 0, 0, 1]);
    for (const [i, v] of [1, -1, -1, 1].entries()) expect(a[i]).toBeCloseTo(v, 5);
    const b = groupAdvantages([3, 1]);
    expect(b[0]).toBeCloseTo(1, 5);
    expect(Array.from(groupAdvantages([2, 2, 2]))).toEqual([0, 0, 0]);
  });
});

describe("containsWordVerifier", () => {
  it("rewards whole-word use only, case-insensitively", async () => {
    const v = containsWordVerifier("park");
    checkVerifier(v);
    expect(await v.verify("", "They went to the Park.")).toBe(1);
    expect(await v.verify("", "A parking lot.")).toBe(0);
    expect(() => containsWordVerifier("two words")).toThrow(RangeError);
  });

  it("checkVerifier refuses another apiVersion", () => {
    try {
      checkVerifier({ ...countA, apiVersion: 2 } as unknown as VerifierPlugin);
      expect.unreachable();
    } catch (e) {
      expect(isPruneError(e, "SCORER_API_UNSUPPORTED")).toBe(true);
    }
  });
});

describe("grpo", () => {
  it("raises the verified reward of a tiny model and keeps its zeros", async () => {
    const policy = tiny(1);
    // Prune a few weights so the masked path runs too.
    const q = policy.tensors.get("model.layers.0.self_attn.q_proj.weight")!;
    for (let i = 0; i < q.length; i += 3) q[i] = 0;
    const sBefore = sparsityOf(policy);
    const report = await grpo({
      policy,
      tokenizer: letterTokenizer,
      prompts: ["bc", "de"],
      verifier: countA,
      steps: 24,
      groupSize: 8,
      maxNewTokens: 8,
      lr: 3e-2,
      beta: 0.01,
      seed: 0,
    });
    const first = report.rewards.slice(0, 6).reduce((a, b) => a + b) / 6;
    const last = report.rewards.slice(-6).reduce((a, b) => a + b) / 6;
    expect(first).toBeLessThan(0.15); // ≈ 1/24 for a near-uniform random model
    expect(last).toBeGreaterThan(first + 0.15);
    expect(report.kls[0]).toBeCloseTo(0, 10); // policy = reference before the first update
    expect(report.kls.at(-1)!).toBeGreaterThan(0);
    expect(report.sparsityAfter).toBe(sBefore);
    expect(report.protocol).toMatch(/verifier fraction-of-a/);
  });

  it("is deterministic for a seed", async () => {
    const run = async () => {
      const p = tiny(2);
      const r = await grpo({
        policy: p,
        tokenizer: letterTokenizer,
        prompts: ["ab"],
        verifier: countA,
        steps: 2,
        groupSize: 3,
        maxNewTokens: 4,
        seed: 5,
      });
      return [r.rewards, Array.from(p.tensors.get("model.norm.weight")!)];
    };
    expect(await run()).toEqual(await run());
  });

  it("refuses bad options naming them", async () => {
    const p = tiny(3);
    const base = { policy: p, tokenizer: letterTokenizer, prompts: ["ab"], verifier: countA, steps: 1 };
    await expect(grpo({ ...base, groupSize: 1 })).rejects.toThrow(/groupSize/);
    await expect(grpo({ ...base, maxNewTokens: 40 })).rejects.toThrow(/exceeds the context 32/);
    const bad: VerifierPlugin = { name: "nan", apiVersion: 1, verify: () => Number.NaN };
    await expect(grpo({ ...base, verifier: bad, groupSize: 2, maxNewTokens: 2 })).rejects.toThrow(
      /verifier nan/,
    );
  });
});

describe("rewardWeightedCalibration", () => {
  it("refuses a prompt that leaves no room in the window", async () => {
    const model = await paramsToModel(tiny(4));
    await expect(
      rewardWeightedCalibration({
        model,
        tokenizer: letterTokenizer,
        prompts: ["abcdef"],
        verifier: countA,
        seqlen: 6,
      }),
    ).rejects.toThrow(/not fewer than seqlen 6/);
  });

  it("returns full windows whose weights follow the group-normalised rewards, mean 1", async () => {
    const model = await paramsToModel(cloneParams(tiny(4)));
    const cal = await rewardWeightedCalibration({
      model,
      tokenizer: letterTokenizer,
      prompts: ["ab", "cd"],
      verifier: countA,
      seqlen: 10,
      groupSize: 6,
      seed: 1,
    });
    expect(cal.nsamples).toBe(12); // no EOS in this tokenizer: every completion fills its window
    expect(cal.tokens.length).toBe(12 * 10);
    expect(cal.sampleWeights.reduce((a, b) => a + b, 0) / 12).toBeCloseTo(1, 5);
    for (let i = 0; i < 12; i++) {
      const text = letterTokenizer.decode(cal.tokens.subarray(i * 10 + 2, (i + 1) * 10));
      expect(cal.rewards[i]).toBeCloseTo(countA.verify("", text) as number, 12);
      expect(cal.sampleWeights[i]! >= 0).toBe(true);
    }
    // Within a group, a higher reward never gets a lower weight.
    for (let g = 0; g < 2; g++) {
      for (let i = g * 6; i < g * 6 + 6; i++) {
        for (let j = g * 6; j < g * 6 + 6; j++) {
          if (cal.rewards[i]! > cal.rewards[j]!)
            expect(cal.sampleWeights[i]!).toBeGreaterThanOrEqual(cal.sampleWeights[j]!);
        }
      }
    }
  });
});
