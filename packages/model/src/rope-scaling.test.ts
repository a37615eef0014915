import { isPruneError, type PruneErrorCode } from "@mama-prune/core";
import { describe, expect, it } from "vitest";
import { parseLlamaConfig } from "./config.ts";
import { parseRopeScaling, ropeInverseFrequencies } from "./rope-scaling.ts";

function expectError(fn: () => unknown, code: PruneErrorCode, pattern: RegExp): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(isPruneError(err, code), String(err)).toBe(true);
  expect((err as Error).message).toMatch(pattern);
}

function expectRel(actual: number, expected: number, tol: number): void {
  expect(Math.abs(actual - expected) / Math.abs(expected), `${actual} vs ${expected}`).toBeLessThan(tol);
}

describe("ropeInverseFrequencies: the llama3 rule against hand-computed values", () => {
  // Llama 3.2 1B: head_dim 64, θ = 500000, factor 32, low_freq_factor 1, high_freq_factor 4,
  // original_max_position_embeddings 8192. Plain inv_freq[i] = 500000^(−2i/64) = 500000^(−i/32),
  // wavelen = 2π / inv_freq = 2π · 500000^(i/32). Thresholds: high-frequency wavelen < 8192/4 = 2048,
  // low-frequency wavelen > 8192/1 = 8192. With ln 500000 = 13.1223634:
  //   wavelen < 2048  ⇔ i/32 · 13.1223634 < ln(2048/2π) = 5.786737  ⇔ i < 14.11 → i ≤ 14 unchanged;
  //   wavelen > 8192  ⇔ i/32 · 13.1223634 > ln(8192/2π) = 7.173031  ⇔ i > 17.49 → i ≥ 18 divided by 32;
  //   i = 15, 16, 17 blended: s = (8192/wavelen − 1)/(4 − 1), inv' = (1 − s)·inv/32 + s·inv.
  // Values:
  //   i = 0:  inv = 1, wavelen 6.283 → 1.
  //   i = 10: inv = e^(−10/32·13.1223634) = e^(−4.1007386) = 0.016560440, wavelen 379.41 → unchanged.
  //   i = 14: inv = e^(−5.7410340) = 0.0032114460, wavelen 1956.50 (< 2048) → unchanged.
  //   i = 15: inv = e^(−6.1511078) = 0.0021311195, wavelen 2948.303, 8192/2948.303 = 2.778548,
  //           s = 1.778548/3 = 0.5928493, inv' = inv·((1 − s)/32 + s) = inv·0.6055727 = 0.0012905479.
  //   i = 16: inv = 500000^(−1/2) = 1/707.10678 = 0.0014142136, wavelen = 2π·707.10678 = 4442.8829,
  //           8192/4442.8829 = 1.8438478, s = 0.8438478/3 = 0.2812826,
  //           inv' = inv·(0.7187174/32 + 0.2812826) = inv·0.3037425 = 0.00042955680.
  //   i = 17: inv = e^(−6.9712554) = 0.00093847387, wavelen 6695.109, 8192/6695.109 = 1.2235797,
  //           s = 0.0745266, inv' = inv·(0.9254734/32 + 0.0745266) = inv·0.1034476 = 0.000097082878.
  //   i = 18: inv = e^(−7.3813292) = 0.00062277242, wavelen 10089.06 (> 8192) → inv/32 = 0.000019461638.
  //   i = 31: inv = e^(−12.7122896) = 0.0000030138582, wavelen 2084765 → inv/32 = 0.000000094183067.
  const inv = ropeInverseFrequencies({
    headDim: 64,
    ropeTheta: 500000,
    ropeScaling: {
      type: "llama3",
      factor: 32,
      lowFreqFactor: 1,
      highFreqFactor: 4,
      originalMaxPositionEmbeddings: 8192,
    },
  });
  const HAND: [number, number][] = [
    [0, 1],
    [10, 0.01656044],
    [14, 0.003211446],
    [15, 0.0012905479],
    [16, 0.0004295568],
    [17, 0.000097082878],
    [18, 0.000019461638],
    [31, 0.000000094183067],
  ];
  for (const [i, want] of HAND) {
    it(`inv_freq[${i}] = ${want}`, () => {
      expect(inv.length).toBe(32);
      expectRel(inv[i]!, want, 2e-6);
    });
  }

  it("leaves the high-frequency regime bit-identical to plain RoPE and divides the low one by exactly 32", () => {
    const plain = ropeInverseFrequencies({ headDim: 64, ropeTheta: 500000 });
    for (let i = 0; i <= 14; i++) expect(inv[i]).toBe(plain[i]);
    for (let i = 18; i < 32; i++) expect(inv[i]).toBe(Math.fround(plain[i]! / 32));
    // The blend is strictly between the two regimes' rules.
    for (let i = 15; i <= 17; i++) {
      expect(inv[i]!).toBeLessThan(plain[i]!);
      expect(inv[i]!).toBeGreaterThan(plain[i]! / 32);
    }
  });
});

describe("ropeInverseFrequencies: plain, linear, dynamic", () => {
  it("plain RoPE is bit-identical to the formula llama.ts used before (f32: 1/θ^(2i/d))", () => {
    for (const [hd, theta] of [
      [8, 10000],
      [64, 500000],
      [128, 1000000],
      [64, 10000],
    ] as const) {
      const got = ropeInverseFrequencies({ headDim: hd, ropeTheta: theta });
      const old = new Float32Array(hd / 2);
      for (let i = 0; i < hd / 2; i++)
        old[i] = Math.fround(1 / Math.fround(theta ** Math.fround((2 * i) / hd)));
      expect(Array.from(got)).toEqual(Array.from(old));
    }
    // θ = 10000, d = 4: 1/10000^0 = 1, 1/10000^(1/2) = 0.01.
    expect(Array.from(ropeInverseFrequencies({ headDim: 4, ropeTheta: 10000 }))).toEqual([
      1,
      Math.fround(0.01),
    ]);
  });

  it("linear divides every frequency by the factor; dynamic keeps plain RoPE (below its threshold)", () => {
    const plain = ropeInverseFrequencies({ headDim: 16, ropeTheta: 10000 });
    const lin = ropeInverseFrequencies({
      headDim: 16,
      ropeTheta: 10000,
      ropeScaling: { type: "linear", factor: 4 },
    });
    expect(Array.from(lin)).toEqual(Array.from(plain, (x) => x / 4)); // ÷4 is exact in binary
    const dyn = ropeInverseFrequencies({
      headDim: 16,
      ropeTheta: 10000,
      ropeScaling: { type: "dynamic", factor: 4, originalMaxPositionEmbeddings: 2048 },
    });
    expect(Array.from(dyn)).toEqual(Array.from(plain));
  });

  it("refuses an odd head dim or a non-positive θ", () => {
    expect(() => ropeInverseFrequencies({ headDim: 7, ropeTheta: 10000 })).toThrow(RangeError);
    expect(() => ropeInverseFrequencies({ headDim: 8, ropeTheta: 0 })).toThrow(RangeError);
  });
});

describe("parseRopeScaling / parseLlamaConfig rope_scaling", () => {
  // The model-relevant keys of meta-llama/Llama-3.2-1B's config.json, verbatim.
  const LLAMA32 = {
    architectures: ["LlamaForCausalLM"],
    attention_bias: false,
    attention_dropout: 0.0,
    bos_token_id: 128000,
    eos_token_id: 128001,
    head_dim: 64,
    hidden_act: "silu",
    hidden_size: 2048,
    initializer_range: 0.02,
    intermediate_size: 8192,
    max_position_embeddings: 131072,
    mlp_bias: false,
    model_type: "llama",
    num_attention_heads: 32,
    num_hidden_layers: 16,
    num_key_value_heads: 8,
    pretraining_tp: 1,
    rms_norm_eps: 1e-5,
    rope_scaling: {
      factor: 32.0,
      high_freq_factor: 4.0,
      low_freq_factor: 1.0,
      original_max_position_embeddings: 8192,
      rope_type: "llama3",
    },
    rope_theta: 500000.0,
    tie_word_embeddings: true,
    torch_dtype: "bfloat16",
    transformers_version: "4.45.0.dev0",
    use_cache: true,
    vocab_size: 128256,
  };

  it("parses Llama 3.2 1B's config.json", () => {
    const c = parseLlamaConfig(LLAMA32);
    expect(c.ropeScaling).toEqual({
      type: "llama3",
      factor: 32,
      lowFreqFactor: 1,
      highFreqFactor: 4,
      originalMaxPositionEmbeddings: 8192,
    });
    expect([c.headDim, c.numKvHeads, c.ropeTheta, c.maxPositionEmbeddings, c.tieWordEmbeddings]).toEqual([
      64,
      8,
      500000,
      131072,
      true,
    ]);
  });

  it("reads the legacy `type` key, maps default/null to none, and caps dynamic's length", () => {
    expect(parseRopeScaling({ type: "linear", factor: 2 }, "c.json", 4096)).toEqual({
      type: "linear",
      factor: 2,
    });
    expect(parseRopeScaling({ rope_type: "default" }, "c.json", 4096)).toBeUndefined();
    expect(parseRopeScaling(null, "c.json", 4096)).toBeUndefined();
    const base = { ...LLAMA32, max_position_embeddings: 4096 };
    expect(parseLlamaConfig({ ...base, rope_scaling: null }).ropeScaling).toBeUndefined();
    expect("ropeScaling" in parseLlamaConfig({ ...base, rope_scaling: undefined })).toBe(false);
    const dyn = parseLlamaConfig({ ...base, rope_scaling: { type: "dynamic", factor: 2 } });
    expect([dyn.ropeScaling?.type, dyn.maxPositionEmbeddings]).toEqual(["dynamic", 4096]);
    const dyn2 = parseLlamaConfig({
      ...base,
      rope_scaling: { rope_type: "dynamic", factor: 2, original_max_position_embeddings: 2048 },
    });
    expect(dyn2.maxPositionEmbeddings).toBe(2048);
  });

  it("names an unknown rope_type, the key and the file", () => {
    expectError(
      () => parseLlamaConfig({ ...LLAMA32, rope_scaling: { rope_type: "yarn", factor: 4 } }, "m/config.json"),
      "ARCH_UNSUPPORTED",
      /m\/config\.json: unsupported "rope_scaling\.rope_type" "yarn"\. Expected one of default, linear, dynamic, llama3/,
    );
    expectError(
      () => parseRopeScaling({ type: "longrope" }, "x/config.json", 4096),
      "ARCH_UNSUPPORTED",
      /x\/config\.json: unsupported "rope_scaling\.type" "longrope"/,
    );
  });

  it("names missing or invalid keys", () => {
    expectError(
      () => parseRopeScaling({ factor: 2 }, "c.json", 4096),
      "CONFIG_INVALID",
      /missing required key "rope_scaling\.rope_type"/,
    );
    expectError(
      () => parseRopeScaling({ rope_type: "linear" }, "c.json", 4096),
      "CONFIG_INVALID",
      /c\.json: missing required key "rope_scaling\.factor"/,
    );
    expectError(
      () => parseRopeScaling({ rope_type: "linear", factor: -1 }, "c.json", 4096),
      "CONFIG_INVALID",
      /"rope_scaling\.factor".*got -1/,
    );
    const { original_max_position_embeddings: _, ...noOrig } = LLAMA32.rope_scaling;
    expectError(
      () => parseLlamaConfig({ ...LLAMA32, rope_scaling: noOrig }),
      "CONFIG_INVALID",
      /rope_scaling\.original_max_position_embeddings/,
    );
    expectError(
      () =>
        parseLlamaConfig({
          ...LLAMA32,
          rope_scaling: { ...LLAMA32.rope_scaling, low_freq_factor: 4, high_freq_factor: 4 },
        }),
      "CONFIG_INVALID",
      /rope_scaling\.high_freq_factor.*greater than low_freq_factor \(4\)/,
    );
    expectError(() => parseRopeScaling([1], "c.json", 4096), "CONFIG_INVALID", /"rope_scaling"/);
  });
});
