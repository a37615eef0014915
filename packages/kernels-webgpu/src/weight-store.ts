// Weights on the GPU: dense or sparse uploads split into row chunks that fit the binding limit,
// cached per Float32Array (WeakMap; buffers destroyed when the array is collected, on invalidate or
// on dispose), and the registry of sparse layouts that replace a dense weight.

import { PruneError } from "@mama-prune/core";
import { type BackendEnv, limitError as envLimitError } from "./backend-config.ts";
import { f32ToF16Bits } from "./f16.ts";
import {
  type SparseWeight,
  type SparseWeightFormat,
  sliceSparseRows,
  sparseFromDense,
  sparseMaxBufferBytes,
} from "./sparse-weight.ts";

/** Rows [r0, r1) of a weight and the buffers that hold them. @internal */
export interface WeightChunk {
  readonly r0: number;
  readonly r1: number;
  readonly buffers: readonly GPUBuffer[];
}

/** A weight [n, k] on the GPU, dense or in a sparse layout, in row chunks. @internal */
export interface GpuWeight {
  readonly kind: "dense" | SparseWeightFormat;
  readonly n: number;
  readonly k: number;
  readonly chunks: readonly WeightChunk[];
}

/**
 * Destroy the buffers of an uncached or dropped weight.
 *
 * @example
 * destroyWeight(g);
 */
export function destroyWeight(g: GpuWeight): void {
  for (const c of g.chunks) for (const b of c.buffers) b.destroy();
}

/** The weights of one backend on its device. @internal */
export interface WeightStore {
  /** The GPU form of `w` [n, k]: cached, the registered sparse layout, or a fresh upload. */
  weightFor(w: Float32Array, n: number, k: number, where: string): GpuWeight;
  /** Forget the GPU copy of `w` and destroy its buffers. */
  dropCached(w: Float32Array): void;
  /** Run `w` with this (validated) sparse layout from now on. */
  registerSparse(w: Float32Array, sparse: SparseWeight, name: string): void;
  /** Run `w` dense again. */
  unregisterSparse(w: Float32Array): void;
  /** Weights whose buffers are cached. */
  cachedCount(): number;
  /** Destroy every cached buffer. */
  destroyAll(): void;
}

/**
 * The weight store of a backend.
 *
 * @example
 * const store = createWeightStore(env);
 * const g = store.weightFor(w, n, k, "webgpu.matmulTransB");
 */
export function createWeightStore(env: BackendEnv): WeightStore {
  const { ctx, log, cacheWeights, auto, L, f16, maxTileRows } = env;
  const limitError = (where: string, what: string, bytes: number): PruneError =>
    envLimitError(env, where, what, bytes);
  const sparseOf = new WeakMap<Float32Array, { sparse: SparseWeight; name: string }>();
  const cache = new WeakMap<Float32Array, GpuWeight>();
  const live = new Set<GpuWeight>();
  const finalizer = new FinalizationRegistry<GpuWeight>((g) => {
    if (live.delete(g)) destroyWeight(g);
  });

  function uploadDense(w: Float32Array, n: number, k: number, where: string): GpuWeight {
    const elem = f16 ? 2 : 4;
    if (elem * k > L) throw limitError(where, "one weight row", elem * k);
    const rowsPerChunk = Math.min(n, maxTileRows, Math.max(1, Math.floor(L / (elem * k))));
    const chunks: WeightChunk[] = [];
    for (let r0 = 0; r0 < n; r0 += rowsPerChunk) {
      const r1 = Math.min(n, r0 + rowsPerChunk);
      const part = w.subarray(r0 * k, r1 * k); // (r1 − r0, k)
      chunks.push({ r0, r1, buffers: [ctx.upload(f16 ? f32ToF16Bits(part) : part, "w")] });
    }
    return { kind: "dense", n, k, chunks };
  }

  function sparseBuffers(sw: SparseWeight): GPUBuffer[] {
    if (sw.format === "csr") {
      return [
        ctx.upload(sw.rowPtr, "rowPtr"),
        ctx.upload(sw.colIdx, "colIdx"),
        ctx.upload(sw.values, "values"),
      ];
    }
    const mask = ctx.upload(sw.bitmask, "bitmask", 4); // one zero word of padding for maskWord()
    const vals = ctx.upload(sw.compressed, "compressed");
    if (sw.format === "sparse-24-bitmask") return [vals, mask];
    return [vals, mask, ctx.upload(Uint32Array.from(sw.rowOffsets), "rowOffsets")];
  }

  function uploadSparse(sw: SparseWeight, where: string): GpuWeight {
    const [n, k] = sw.shape;
    const chunks: WeightChunk[] = [];
    if (sparseMaxBufferBytes(sw) <= L) {
      chunks.push({ r0: 0, r1: n, buffers: sparseBuffers(sw) });
    } else {
      // Greedy row ranges whose buffers fit the binding limit.
      let r0 = 0;
      while (r0 < n) {
        let r1 = r0 + 1;
        if (sparseMaxBufferBytes(sliceSparseRows(sw, r0, r1)) > L)
          throw limitError(where, "one sparse weight row", sparseMaxBufferBytes(sliceSparseRows(sw, r0, r1)));
        let step = 1;
        while (r1 < n) {
          const next = Math.min(n, r1 + step);
          if (sparseMaxBufferBytes(sliceSparseRows(sw, r0, next)) > L) {
            if (step === 1) break;
            step = 1;
            continue;
          }
          r1 = next;
          step *= 2;
        }
        chunks.push({ r0, r1, buffers: sparseBuffers(sliceSparseRows(sw, r0, r1)) });
        r0 = r1;
      }
    }
    return { kind: sw.format, n, k, chunks };
  }

  function weightFor(w: Float32Array, n: number, k: number, where: string): GpuWeight {
    const hit = cacheWeights ? cache.get(w) : undefined;
    if (hit !== undefined) {
      if (hit.n === n && hit.k === k) return hit;
      throw new PruneError(
        "SHAPE_MISMATCH",
        `${where}: this weight array was used as [${hit.n}, ${hit.k}] before. Expected the same shape, got [${n}, ${k}].`,
      );
    }
    const reg = sparseOf.get(w);
    let g: GpuWeight;
    if (reg !== undefined) {
      const [rn, rk] = reg.sparse.shape;
      if (rn !== n || rk !== k) {
        throw new PruneError(
          "SHAPE_MISMATCH",
          `${where}: sparse weight "${reg.name}" has shape [${rn}, ${rk}]. Expected [${n}, ${k}] (n, k of the call), got [${rn}, ${rk}].`,
        );
      }
      g = uploadSparse(reg.sparse, where);
    } else if (auto !== undefined && n * k > 0 && zeroFraction(w) >= auto.minSparsity) {
      let sw: SparseWeight | undefined;
      try {
        sw = sparseFromDense(w, n, k, auto.format, where);
      } catch (e) {
        log.debug(`${where}: weight [${n}, ${k}] is not ${auto.format}; running it dense`, {
          error: String(e),
        });
      }
      g = sw === undefined ? uploadDense(w, n, k, where) : uploadSparse(sw, where);
    } else {
      g = uploadDense(w, n, k, where);
    }
    if (cacheWeights) {
      cache.set(w, g);
      live.add(g);
      finalizer.register(w, g, g);
    }
    return g;
  }

  function dropCached(w: Float32Array): void {
    const g = cache.get(w);
    if (g !== undefined) {
      cache.delete(w);
      if (live.delete(g)) destroyWeight(g);
      finalizer.unregister(g);
    }
  }

  return {
    weightFor,
    dropCached,
    registerSparse(w: Float32Array, sparse: SparseWeight, name: string): void {
      dropCached(w);
      sparseOf.set(w, { sparse, name });
    },
    unregisterSparse(w: Float32Array): void {
      if (sparseOf.delete(w)) dropCached(w);
    },
    cachedCount: () => live.size,
    destroyAll(): void {
      for (const g of live) destroyWeight(g);
      live.clear();
    },
  };
}

function zeroFraction(w: Float32Array): number {
  let z = 0;
  for (let i = 0; i < w.length; i++) if (w[i] === 0) z++;
  return z / w.length;
}
