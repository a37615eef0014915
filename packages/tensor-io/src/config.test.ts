import { isPruneError, type PruneError } from "@mama-prune/core";
import { describe, expect, it } from "vitest";
import { configJsonBytes, parseJsonObject } from "./config.ts";

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

function codeOf(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(isPruneError(e), String(e)).toBe(true);
    return `${(e as PruneError).code}: ${(e as Error).message}`;
  }
  throw new Error("nothing thrown");
}

describe("parseJsonObject", () => {
  it("parses an object and keeps __proto__ as data", () => {
    const o = parseJsonObject(enc('{"model_type":"llama","__proto__":{"x":1}}'), "config.json");
    expect(o["model_type"]).toBe("llama");
    expect(Object.getPrototypeOf(o)).toBe(Object.prototype);
  });

  it("names the file and uses the requested code for invalid content", () => {
    expect(codeOf(() => parseJsonObject(enc("[]"), "c.json"))).toBe(
      "CONFIG_INVALID: c.json: top level is not a JSON object. Expected an object, got an array.",
    );
    expect(codeOf(() => parseJsonObject(enc("null"), "c.json"))).toMatch(/got null\.$/);
    expect(
      codeOf(() => parseJsonObject(new Uint8Array([0x7b, 0xff, 0x7d]), "i.json", "TENSOR_IO_MALFORMED")),
    ).toMatch(/^TENSOR_IO_MALFORMED: i\.json: not valid UTF-8 JSON/);
    expect(codeOf(() => parseJsonObject(enc('{"a":'), "c.json"))).toMatch(
      /^CONFIG_INVALID: c\.json: not valid UTF-8 JSON/,
    );
  });
});

describe("configJsonBytes", () => {
  it("writes 2-space indented JSON with a trailing newline that parses back", () => {
    const cfg = { hidden_size: 64, architectures: ["LlamaForCausalLM"] };
    const text = new TextDecoder().decode(configJsonBytes(cfg));
    expect(text).toBe('{\n  "hidden_size": 64,\n  "architectures": [\n    "LlamaForCausalLM"\n  ]\n}\n');
    expect(parseJsonObject(configJsonBytes(cfg), "x")).toEqual(cfg);
  });
});
