/**
 * Feature detection for WebAssembly 128-bit SIMD (and, separately, for threads).
 */
import { encodeModule, op, V128 } from "./wasm-encoder.ts";

/**
 * True when this runtime compiles WebAssembly modules that use 128-bit SIMD (checked by validating a
 * tiny module with an f32x4 instruction; nothing is instantiated).
 *
 * @example
 * if (isWasmSimdSupported()) backend = await createWasmBackend();
 */
export function isWasmSimdSupported(): boolean {
  if (typeof WebAssembly !== "object" || typeof WebAssembly.validate !== "function") return false;
  try {
    const bytes = encodeModule({
      memory: { minPages: 1, maxPages: 1, shared: false },
      functions: [
        {
          name: "f",
          params: [],
          results: [],
          locals: [V128],
          body: [
            ...op.v128Const0(),
            ...op.v128Const0(),
            ...op.f32x4Add(),
            ...op.localSet(0),
            ...op.i32Const(0),
            ...op.v128Load32Splat(0),
            ...op.localSet(0),
          ],
        },
      ],
    });
    return WebAssembly.validate(bytes);
  } catch {
    return false;
  }
}

/**
 * True when shared WebAssembly memory is available (SharedArrayBuffer exposed and a shared
 * `WebAssembly.Memory` can be created): the precondition of the threaded backend. In browsers this
 * needs a cross-origin isolated page.
 *
 * @example
 * isWasmThreadsSupported(); // true in Node
 */
export function isWasmThreadsSupported(): boolean {
  if (typeof SharedArrayBuffer !== "function" || typeof WebAssembly !== "object") return false;
  try {
    const mem = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
    return mem.buffer instanceof SharedArrayBuffer;
  } catch {
    return false;
  }
}
