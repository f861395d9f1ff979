// The render module's WebAssembly instance and the memory it works in ("kernel" alone means the notebook process).
//
// The per-pixel loops (assembly/*.ts, AssemblyScript with SIMD) run in WebAssembly because V8 cannot vectorise
// JavaScript: the shading pass evaluates two float64 lanes per instruction and quantises four values at once; the
// rasteriser (assembly/raster.ts) walks its edge functions and takes its occlusion-tile maxima two lanes at a time.
// The binary is compiled from those sources by scripts/build-wasm.mjs and embedded (assembly/binary.ts); it is
// compiled by V8 once per thread and instantiated once per Rasterizer, each with its own memory.
//
// `KernelArena` hands out regions of that memory (a bump allocator: a renderer allocates its buffers once and
// keeps them). Growing a WebAssembly memory replaces its ArrayBuffer, so typed-array views are never kept across
// an `alloc`: holders keep byte offsets and ask for views (`f64(ptr, n)`…) when they need them, refreshing when
// `generation` changes.

import { RENDER_KERNEL_WASM } from './assembly/binary';

export interface RenderKernelExports {
  configure(
    width: number, height: number, pxCol: number, faces: number, uvFaces: number, uvGrid: number,
    tex: number, texSize: number, shL: number, planes: number, slotOf: number, slotFrame: number,
  ): void;
  shade(
    rowMin: number, rowMax: number, face: number, altFace: number, colLo: number, colHi: number,
    verts: number, depthAttr: number, normals: number,
    dOut: number, nOut: number, rOut: number, mOut: number, fD: number, fN: number, fR: number,
  ): void;
  vertexNormals(verts: number, nVerts: number, faces: number, nFaces: number, acc: number, out: number): void;
  // the rasteriser (assembly/raster.ts, wrapped by ../rasterizer.ts)
  rasterSetup(
    width: number, height: number, face: number, altFace: number, colLo: number, colHi: number, zz: number,
    bary: number, zbuf: number, pxCol: number, pyRow: number, tiles: number,
  ): void;
  rasterize(faces: number, nf: number, verts: number, vertsLen: number, wind: number, altOff: number, resolve: number): number;
  rasterRowMin(): number;
  rasterRowMax(): number;
}

// The parts of the WebAssembly JS API used here (the project's `lib` has no DOM, and @types/node declares only
// a namespace).
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: object };
  Memory: new (descriptor: { initial: number; maximum?: number }) => WasmMemory;
}
const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

let compiled: object | null = null;

/** The compiled module (once per thread). */
function kernelModule(): object {
  compiled ??= new wasm.Module(Buffer.from(RENDER_KERNEL_WASM, 'base64'));
  return compiled;
}

const PAGE = 65536;
/** The AssemblyScript module keeps no data in memory (no static segments, `--runtime stub`); this leaves room anyway. */
const RESERVED = 1024;

export class KernelArena {
  readonly memory: WasmMemory;
  readonly exports: RenderKernelExports;
  /** Bumped whenever the memory grows (every view taken before is then detached). */
  generation = 0;
  private top = RESERVED;

  constructor(initialBytes = 0) {
    this.memory = new wasm.Memory({ initial: Math.max(1, Math.ceil((initialBytes + RESERVED) / PAGE)) });
    const instance = new wasm.Instance(kernelModule(), { env: { memory: this.memory } });
    this.exports = instance.exports as unknown as RenderKernelExports;
  }

  /** A new zero-filled region of `bytes` bytes, 16-byte aligned; returns its byte offset. */
  alloc(bytes: number): number {
    const ptr = (this.top + 15) & ~15;
    const end = ptr + Math.max(0, Math.ceil(bytes));
    const have = this.memory.buffer.byteLength;
    if (end > have) {
      this.memory.grow(Math.ceil((end - have) / PAGE));
      this.generation++;
    }
    this.top = end;
    return ptr;
  }

  f64(ptr: number, length: number): Float64Array {
    return new Float64Array(this.memory.buffer, ptr, length);
  }
  f32(ptr: number, length: number): Float32Array {
    return new Float32Array(this.memory.buffer, ptr, length);
  }
  i32(ptr: number, length: number): Int32Array {
    return new Int32Array(this.memory.buffer, ptr, length);
  }
  u8(ptr: number, length: number): Uint8Array {
    return new Uint8Array(this.memory.buffer, ptr, length);
  }
}
