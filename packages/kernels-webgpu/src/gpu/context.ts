// One device's shared state: effective limits, pipeline cache, buffer helpers, submission with the
// low-spin wait, and device-loss / error tracking. Internal to the package.

import { PruneError } from "@mama-prune/core";
import { createSettler, type Settler, type WaitMode } from "./settle.ts";

// GPUBufferUsage / GPUMapMode values (fixed by the WebGPU spec). Spelled out because Node has no
// WebGPU globals unless the caller installs them.
const USAGE_MAP_READ = 0x0001;
const USAGE_COPY_SRC = 0x0004;
const USAGE_COPY_DST = 0x0008;
const USAGE_UNIFORM = 0x0040;
const USAGE_STORAGE = 0x0080;
const MAP_MODE_READ = 0x0001;

/** The device limits the kernels respect (the smaller of the device's and any override). */
export interface GpuLimits {
  /** Largest storage buffer binding (and buffer) in bytes. */
  readonly maxStorageBufferBindingSize: number;
  /** Workgroup memory per workgroup in bytes. */
  readonly maxComputeWorkgroupStorageSize: number;
  /** Invocations per workgroup. */
  readonly maxComputeInvocationsPerWorkgroup: number;
  /** Workgroups per dispatch dimension. */
  readonly maxComputeWorkgroupsPerDimension: number;
}

/** Options shared by everything that creates a context. */
export interface GpuContextOptions {
  readonly limits?: Partial<GpuLimits>;
  readonly wait?: WaitMode;
  readonly sleepMs?: number;
}

function positiveInt(where: string, v: number): number {
  if (!Number.isInteger(v) || v <= 0) throw new RangeError(`${where} must be a positive integer, got ${v}`);
  return v;
}

/** Effective limits: the device's, lowered by `override` (never raised). */
export function effectiveLimits(device: GPUDevice, override: Partial<GpuLimits> = {}): GpuLimits {
  const d = device.limits;
  const pick = (key: keyof GpuLimits, devValue: number): number => {
    const o = override[key];
    return o === undefined ? devValue : Math.min(devValue, positiveInt(`limits.${key}`, o));
  };
  return {
    maxStorageBufferBindingSize: pick(
      "maxStorageBufferBindingSize",
      Math.min(d.maxStorageBufferBindingSize, d.maxBufferSize),
    ),
    maxComputeWorkgroupStorageSize: pick("maxComputeWorkgroupStorageSize", d.maxComputeWorkgroupStorageSize),
    maxComputeInvocationsPerWorkgroup: pick(
      "maxComputeInvocationsPerWorkgroup",
      d.maxComputeInvocationsPerWorkgroup,
    ),
    maxComputeWorkgroupsPerDimension: pick(
      "maxComputeWorkgroupsPerDimension",
      d.maxComputeWorkgroupsPerDimension,
    ),
  };
}

/** One compute pass: a pipeline, its buffers in binding order, and a workgroup count. */
export interface PassSpec {
  readonly pipeline: GPUComputePipeline;
  /** Buffers bound at @binding(0), (1), … of group 0. */
  readonly buffers: readonly GPUBuffer[];
  /** Workgroups [x, y]. */
  readonly workgroups: readonly [number, number];
}

const align4 = (n: number): number => Math.ceil(n / 4) * 4;

/** Device state shared by the backend and the kernel helpers. */
export class GpuContext {
  readonly device: GPUDevice;
  readonly limits: GpuLimits;
  readonly settler: Settler;
  private lostInfo: GPUDeviceLostInfo | undefined;
  private uncaptured: GPUError | undefined;
  private readonly pipelines = new Map<string, Promise<GPUComputePipeline>>();
  /** Counters for reports and tests. */
  readonly counters: { dispatches: number; submits: number; uploadedBytes: number; readBytes: number } = {
    dispatches: 0,
    submits: 0,
    uploadedBytes: 0,
    readBytes: 0,
  };

  constructor(device: GPUDevice, options: GpuContextOptions = {}) {
    this.device = device;
    this.limits = effectiveLimits(device, options.limits);
    const settlerOptions: { mode?: WaitMode; sleepMs?: number } = {};
    if (options.wait !== undefined) settlerOptions.mode = options.wait;
    if (options.sleepMs !== undefined) settlerOptions.sleepMs = options.sleepMs;
    this.settler = createSettler(settlerOptions);
    device.lost.then(
      (info) => {
        this.lostInfo = info;
      },
      () => {},
    );
    const onError = (e: Event): void => {
      this.uncaptured ??= (e as GPUUncapturedErrorEvent).error;
    };
    if (typeof device.addEventListener === "function") device.addEventListener("uncapturederror", onError);
    else (device as { onuncapturederror: unknown }).onuncapturederror = onError;
  }

  /** True once the device is lost (destroyed or removed). */
  get isLost(): boolean {
    return this.lostInfo !== undefined;
  }

  /** @throws PruneError GPU_DEVICE_LOST once the device is lost. */
  checkAlive(where: string): void {
    if (this.lostInfo !== undefined) {
      throw new PruneError(
        "GPU_DEVICE_LOST",
        `${where}: the GPU device was lost (${this.lostInfo.reason}: ${this.lostInfo.message || "no message"}). Expected a live device, got a lost one; create a new device and backend.`,
      );
    }
  }

  private checkErrors(where: string): void {
    const e = this.uncaptured;
    if (e !== undefined) {
      this.uncaptured = undefined;
      throw new PruneError(
        "BACKEND_WORKER_FAILED",
        `${where}: the GPU reported an error (${e.constructor.name}: ${e.message}). Expected none, got one; results of this call are not trustworthy.`,
      );
    }
  }

  /** Wait for a GPU promise with the low-spin waiter, mapping failures on a lost device to GPU_DEVICE_LOST. */
  async settle<T>(where: string, p: Promise<T>): Promise<T> {
    try {
      return await this.settler.settle(p);
    } catch (e) {
      // Loss is reported asynchronously; give the lost promise a turn before deciding.
      await new Promise((r) => setTimeout(r, 0));
      this.checkAlive(where);
      throw new PruneError("BACKEND_WORKER_FAILED", `${where}: a GPU operation failed: ${String(e)}`, {
        cause: e,
      });
    }
  }

  /** A compute pipeline for `code` (entry point "main"), compiled once per key. */
  pipeline(key: string, code: string): Promise<GPUComputePipeline> {
    let p = this.pipelines.get(key);
    if (p === undefined) {
      const module = this.device.createShaderModule({ code, label: key });
      p = this.settle(
        `pipeline ${key}`,
        this.device.createComputePipelineAsync({
          layout: "auto",
          label: key,
          compute: { module, entryPoint: "main" },
        }),
      );
      this.pipelines.set(key, p);
      p.catch(() => this.pipelines.delete(key));
    }
    return p;
  }

  /** A storage buffer holding `data` (padded to a multiple of 4 bytes; at least 4 bytes). */
  upload(data: ArrayBufferView, label: string, extraBytes = 0): GPUBuffer {
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const size = align4(Math.max(4, bytes.byteLength + extraBytes));
    const buf = this.device.createBuffer({
      size,
      usage: USAGE_STORAGE | USAGE_COPY_DST | USAGE_COPY_SRC,
      label,
    });
    const whole = bytes.byteLength - (bytes.byteLength % 4);
    if (whole > 0) this.device.queue.writeBuffer(buf, 0, bytes.buffer, bytes.byteOffset, whole);
    if (whole < bytes.byteLength) {
      const tail = new Uint8Array(4); // (4,)
      tail.set(bytes.subarray(whole));
      this.device.queue.writeBuffer(buf, whole, tail);
    }
    this.counters.uploadedBytes += bytes.byteLength;
    return buf;
  }

  /** An uninitialised storage buffer of `bytes` bytes (at least 4). */
  output(bytes: number, label: string): GPUBuffer {
    return this.device.createBuffer({
      size: align4(Math.max(4, bytes)),
      usage: USAGE_STORAGE | USAGE_COPY_SRC,
      label,
    });
  }

  /** A 16-byte uniform buffer of four u32. */
  params(a: number, b: number, c: number, d: number): GPUBuffer {
    const buf = this.device.createBuffer({
      size: 16,
      usage: USAGE_UNIFORM | USAGE_COPY_DST,
      label: "params",
    });
    this.device.queue.writeBuffer(buf, 0, new Uint32Array([a, b, c, d]));
    return buf;
  }

  /** Workgroup grid [x, y] for `total` workgroups within the per-dimension limit. */
  grid(total: number): [number, number] {
    const maxX = this.limits.maxComputeWorkgroupsPerDimension;
    if (total <= maxX) return [Math.max(1, total), 1];
    const y = Math.ceil(total / maxX);
    if (y > maxX) {
      throw new PruneError(
        "GPU_LIMIT_EXCEEDED",
        `dispatch: ${total} workgroups exceed the adapter's grid. Expected at most ${maxX}², got ${total}.`,
      );
    }
    return [Math.ceil(total / y), y];
  }

  /**
   * Encode `passes`, copy `result` (first `bytes` bytes) to a mappable buffer, submit, wait, and
   * return a copy of the bytes as float32.
   */
  async run(
    where: string,
    passes: readonly PassSpec[],
    result: GPUBuffer,
    bytes: number,
  ): Promise<Float32Array> {
    this.checkAlive(where);
    const enc = this.device.createCommandEncoder({ label: where });
    for (const pass of passes) {
      const layout = pass.pipeline.getBindGroupLayout(0);
      const group = this.device.createBindGroup({
        layout,
        entries: pass.buffers.map((buffer, binding) => ({ binding, resource: { buffer } })),
      });
      const cp = enc.beginComputePass();
      cp.setPipeline(pass.pipeline);
      cp.setBindGroup(0, group);
      cp.dispatchWorkgroups(pass.workgroups[0], pass.workgroups[1]);
      cp.end();
      this.counters.dispatches++;
    }
    const size = align4(Math.max(4, bytes));
    const staging = this.device.createBuffer({
      size,
      usage: USAGE_MAP_READ | USAGE_COPY_DST,
      label: "readback",
    });
    try {
      enc.copyBufferToBuffer(result, 0, staging, 0, size);
      this.device.queue.submit([enc.finish()]);
      this.counters.submits++;
      await this.settle(where, staging.mapAsync(MAP_MODE_READ, 0, size));
      const out = new Float32Array(staging.getMappedRange(0, size).slice(0, bytes)); // (bytes / 4,)
      staging.unmap();
      this.counters.readBytes += bytes;
      this.checkErrors(where);
      return out;
    } finally {
      staging.destroy();
    }
  }
}
