import { describe, expect, it } from "vitest";
import { loadBundled } from "../test/fixtures/bundled.ts";

// The RoPE tables now come from ropeInverseFrequencies(config). For the bundled llama2.c model
// (plain RoPE, θ = 10000) every logit must stay bit for bit what it was before that change: the
// digests below were recorded with the previous llama.ts (commit c9c6983), whose buildRope computed
// inv_freq inline. A single flipped bit in any logit changes the digest. They were recorded with the
// plain-JS attention loops, so the model is loaded with `attention: "js"`; the default backend
// attention rounds scores to float32 and is compared with these logits within a tolerance.
async function sha256Hex(a: Float32Array): Promise<string> {
  const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes.slice()));
  return Array.from(d, (b) => b.toString(16).padStart(2, "0")).join("");
}

const { model, tokenizer } = await loadBundled({ attention: "js" });
const { model: backendModel } = await loadBundled();

describe("RoPE wiring on the bundled stories260K model", () => {
  it("keeps the full-window logits bit-identical (2 windows × 200 tokens)", async () => {
    const ids = tokenizer.encode(
      "Once upon a time, there was a little girl named Lily. She loved to play outside in the sun. ".repeat(
        20,
      ),
      { bos: true },
    );
    const toks = ids.subarray(0, 400);
    expect(toks.length).toBe(400);
    const logits = await model.forward(toks, 2, 200);
    expect(await sha256Hex(logits)).toBe("815a9fc62c5fbbd3e0e4e08dcd78cd313fc1f5aaa9ff2c80eab7a8a5336c8012");
    expect(model.attention).toBe("js");
    expect(backendModel.attention).toBe("backend");
    const viaBackend = await backendModel.forward(toks, 2, 200);
    let maxDiff = 0;
    let maxAbs = 0;
    for (let i = 0; i < logits.length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(viaBackend[i]! - logits[i]!));
      maxAbs = Math.max(maxAbs, Math.abs(logits[i]!));
    }
    expect(maxAbs).toBeGreaterThan(1);
    expect(maxDiff / maxAbs).toBeLessThan(2e-6);
  });

  it("keeps the KV-cache (incremental) logits bit-identical up to position 511", async () => {
    const seq = model.createSequence();
    const prompt = tokenizer.encode("The cat sat on the mat.", { bos: true });
    const out: number[] = [];
    let logits = await seq.append(prompt);
    out.push(...logits);
    // Feed fixed tokens up to the last position so the table rebuilds at every growth step.
    while (seq.length < 512) {
      const n = Math.min(97, 512 - seq.length);
      logits = await seq.append(Int32Array.from({ length: n }, (_, i) => (i * 37 + seq.length) % 512));
      out.push(...logits);
    }
    expect(await sha256Hex(Float32Array.from(out))).toBe(
      "43d411b04bd28de783047cd222a84ed9cbb9355cb52b3e45e006fcbd6ec97f63",
    );
  });
});
