import { isPruneError } from "@mama-prune/core";
import { describe, expect, it } from "vitest";
import { calibrationWindows, splitCalibrationText } from "./calibration.ts";

describe("splitCalibrationText", () => {
  it("puts the last paragraphs in the calibration split, disjoint from the evaluation split", () => {
    const paras = Array.from({ length: 20 }, (_, i) => `paragraph ${i}`);
    const s = splitCalibrationText(`${paras.join("\n\n")}\n\n  \n\n`);
    expect(s.calibrationParagraphs).toBe(3); // round(0.15 · 20)
    expect(s.evaluationParagraphs).toBe(17);
    expect(s.calibration).toBe(paras.slice(17).join("\n\n"));
    expect(s.evaluation).toBe(paras.slice(0, 17).join("\n\n"));
    const ev = new Set(s.evaluation.split("\n\n"));
    for (const p of s.calibration.split("\n\n")) expect(ev.has(p)).toBe(false);
  });

  it("rejects texts without two paragraphs and bad fractions", () => {
    for (const t of ["", "one paragraph only", "\n\n \n\n"]) {
      let err: unknown;
      try {
        splitCalibrationText(t);
      } catch (e) {
        err = e;
      }
      expect(isPruneError(err, "CALIBRATION_INVALID")).toBe(true);
    }
    expect(() => splitCalibrationText("a\n\nb", { calibrationFraction: 1 })).toThrow(RangeError);
  });
});

describe("calibrationWindows", () => {
  it("draws seeded windows that are slices of the stream", () => {
    const stream = Int32Array.from({ length: 100 }, (_, i) => i * 3);
    const a = calibrationWindows(stream, { nsamples: 5, seqlen: 10, seed: 0 });
    const b = calibrationWindows(stream, { nsamples: 5, seqlen: 10, seed: 0 });
    const c = calibrationWindows(stream, { nsamples: 5, seqlen: 10, seed: 1 });
    expect(Array.from(a.tokens)).toEqual(Array.from(b.tokens));
    expect(a.starts).not.toEqual(c.starts);
    a.starts.forEach((s, k) => {
      expect(s).toBeGreaterThanOrEqual(0);
      expect(s).toBeLessThanOrEqual(90);
      expect(Array.from(a.tokens.subarray(k * 10, k * 10 + 10))).toEqual(
        Array.from(stream.subarray(s, s + 10)),
      );
    });
    // Prefix property: the first 3 of 5 windows are a draw of 3.
    const three = calibrationWindows(stream, { nsamples: 3, seqlen: 10, seed: 0 });
    expect(Array.from(three.tokens)).toEqual(Array.from(a.tokens.subarray(0, 30)));
  });

  it("puts BOS first when asked", () => {
    const w = calibrationWindows(new Int32Array([5, 6, 7]), { nsamples: 2, seqlen: 3, seed: 4, bosId: 1 });
    for (let k = 0; k < 2; k++) expect(w.tokens[k * 3]).toBe(1);
  });

  it("rejects a stream shorter than one window (e.g. an empty calibration text)", () => {
    let err: unknown;
    try {
      calibrationWindows(new Int32Array(0), { nsamples: 4, seqlen: 8 });
    } catch (e) {
      err = e;
    }
    expect(isPruneError(err, "CALIBRATION_INVALID")).toBe(true);
    expect((err as Error).message).toContain("calibration token stream");
    expect(() => calibrationWindows(new Int32Array(10), { nsamples: 0 })).toThrow(RangeError);
  });
});
