import { describe, expect, it } from "vitest";
import { buildKernelModule } from "./kernels.ts";
import { isWasmSimdSupported, isWasmThreadsSupported } from "./simd.ts";

describe("isWasmSimdSupported", () => {
  it("is true on Node 20 and agrees with validating the real kernel module", () => {
    expect(isWasmSimdSupported()).toBe(true);
    expect(WebAssembly.validate(buildKernelModule({ shared: false, maxPages: 65536 }))).toBe(true);
    expect(WebAssembly.validate(buildKernelModule({ shared: true, maxPages: 1024 }))).toBe(true);
  });
});

describe("isWasmThreadsSupported", () => {
  it("is true on Node 20", () => {
    expect(isWasmThreadsSupported()).toBe(true);
  });
});
