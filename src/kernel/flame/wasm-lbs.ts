// A WebAssembly SIMD kernel for the hot loop of the FLAME forward: per group of G vertices (G = 4 float32 lanes or
// 2 float64 lanes) and a block of nb batch items, accumulate the blendshapes (shape, expression and pose
// correctives in one packed basis) and apply linear blend skinning, writing the vertices out interleaved.
// The module is generated here byte by byte (no toolchain); everything outside the hot loop stays in TypeScript.
//
// Memory layout (byte offsets chosen by the caller, es = element size, K basis columns, J joints, B batch):
//   panel  M[g][k][c][lane]   K·48 bytes per group (3 v128 per column)
//   base   T[g][c][lane]      48 bytes per group (the template)
//   weight W[g][j][lane]      J·16 bytes per group
//   coeffs Q[k][b]            K·B·es bytes (transposed so that a batch block is contiguous)
//   affine A[b][j][12]        3×4 row-major [R | t] per joint, J·12·es bytes per batch item
//   output O[b][v][3]         Vpad·3·es bytes per batch item

const Op = {
  block: 0x02, loop: 0x03, end: 0x0b, br: 0x0c, brIf: 0x0d,
  localGet: 0x20, localSet: 0x21, localTee: 0x22,
  i32Const: 0x41, i32Ne: 0x47, i32Add: 0x6a, i32Mul: 0x6c, i32LtU: 0x49, i32GeU: 0x4f,
  f32Store: 0x38, f64Store: 0x39, simd: 0xfd, voidType: 0x40,
} as const;
const I32 = 0x7f;
const V128 = 0x7b;

function uleb(n: number, out: number[]): void {
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
}
function sleb(n: number, out: number[]): void {
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return;
    }
    out.push(b | 0x80);
  }
}

class Code {
  readonly b: number[] = [];
  op(...bytes: number[]): this { this.b.push(...bytes); return this; }
  get(i: number): this { this.b.push(Op.localGet); uleb(i, this.b); return this; }
  set(i: number): this { this.b.push(Op.localSet); uleb(i, this.b); return this; }
  tee(i: number): this { this.b.push(Op.localTee); uleb(i, this.b); return this; }
  i32(n: number): this { this.b.push(Op.i32Const); sleb(n, this.b); return this; }
  simd(code: number, ...imm: number[]): this { this.b.push(Op.simd); uleb(code, this.b); this.b.push(...imm); return this; }
  mem(align: number, offset: number): this { uleb(align, this.b); uleb(offset, this.b); return this; }
  /** i = i + n */
  inc(i: number, n: number): this { return this.get(i).i32(n).op(Op.i32Add).set(i); }
}

interface Flavour { es: number; lanes: number; splatLoad: number; add: number; mul: number; extract: number; store: number; align: number }
const F32: Flavour = { es: 4, lanes: 4, splatLoad: 0x09, add: 0xe4, mul: 0xe6, extract: 0x1f, store: Op.f32Store, align: 2 };
const F64: Flavour = { es: 8, lanes: 2, splatLoad: 0x0a, add: 0xf0, mul: 0xf2, extract: 0x21, store: Op.f64Store, align: 3 };

// Parameters of every kernel function (all i32).
const P = { g0: 0, g1: 1, K: 2, J: 3, B: 4, b0: 5, M: 6, T: 7, W: 8, Q: 9, A: 10, O: 11, Vpad: 12 } as const;
const NPARAM = 13;

/** Body of kernel_nb: locals after the params: i32 scratch, then v128s. */
function kernelBody(fl: Flavour, nb: number, unroll: number): { locals: number[][]; code: number[] } {
  const c = new Code();
  // i32 locals
  let n = NPARAM;
  const g = n++, mp = n++, mend = n++, qp = n++, wp = n++, ap = n++, jn = n++, op = n++, qs = n++;
  const nI32 = n - NPARAM;
  // v128 locals
  const acc: number[] = [];
  for (let i = 0; i < nb * 3; i++) acc.push(n++);
  const mx = n++, my = n++, mz = n++, s = n++, w = n++, tx = n++, ty = n++, tz = n++, ox = n++, oy = n++, oz = n++;
  const nV128 = n - NPARAM - nI32;
  const vload = (off: number) => c.simd(0x00).mem(4, off);
  const splat = (off: number) => c.simd(fl.splatLoad).mem(fl.align, off);
  const add = () => c.simd(fl.add);
  const mul = () => c.simd(fl.mul);

  c.get(P.g0).set(g);
  c.get(P.B).i32(fl.es).op(Op.i32Mul).set(qs);
  c.op(Op.block, Op.voidType); // $done
  c.op(Op.loop, Op.voidType); // $groups
  c.get(g).get(P.g1).op(Op.i32GeU).op(Op.brIf, 1);
  // accumulators = template of this group
  for (let comp = 0; comp < 3; comp++) {
    c.get(P.T).get(g).i32(48).op(Op.i32Mul).op(Op.i32Add);
    vload(comp * 16).set(acc[comp]);
    for (let i = 1; i < nb; i++) c.get(acc[comp]).set(acc[3 * i + comp]);
  }
  // mp = M + g·K·48, mend = mp + K·48, qp = Q + b0·es
  c.get(P.K).i32(48).op(Op.i32Mul).set(mend);
  c.get(P.M).get(g).get(mend).op(Op.i32Mul).op(Op.i32Add).tee(mp);
  c.get(mend).op(Op.i32Add).set(mend);
  c.get(P.Q).get(P.b0).i32(fl.es).op(Op.i32Mul).op(Op.i32Add).set(qp);
  c.op(Op.block, Op.voidType); // skip the k loop when K = 0
  c.get(mp).get(mend).op(Op.i32GeU).op(Op.brIf, 0);
  c.op(Op.loop, Op.voidType); // $k (K is a multiple of `unroll`)
  for (let u = 0; u < unroll; u++) {
    c.get(mp); vload(48 * u).set(mx);
    c.get(mp); vload(48 * u + 16).set(my);
    c.get(mp); vload(48 * u + 32).set(mz);
    for (let i = 0; i < nb; i++) {
      c.get(qp); splat(i * fl.es).set(s);
      const m3 = [mx, my, mz];
      for (let comp = 0; comp < 3; comp++) {
        c.get(acc[3 * i + comp]).get(m3[comp]).get(s); mul(); add(); c.set(acc[3 * i + comp]);
      }
    }
    c.get(qp).get(qs).op(Op.i32Add).set(qp);
  }
  c.inc(mp, 48 * unroll);
  c.get(mp).get(mend).op(Op.i32LtU).op(Op.brIf, 0);
  c.op(Op.end); // loop $k
  c.op(Op.end); // block skip
  // skinning: out = Σ_j w_j · (R_j p + t_j)
  for (let i = 0; i < nb; i++) {
    const [px, py, pz] = [acc[3 * i], acc[3 * i + 1], acc[3 * i + 2]];
    c.get(P.W).get(g).get(P.J).op(Op.i32Mul).i32(16).op(Op.i32Mul).op(Op.i32Add).set(wp);
    // ap = A + (b0 + i)·J·12·es
    c.get(P.A).get(P.b0).i32(i).op(Op.i32Add).get(P.J).op(Op.i32Mul).i32(12 * fl.es).op(Op.i32Mul).op(Op.i32Add).set(ap);
    c.get(P.J).set(jn);
    c.simd(0x0c, ...new Array(16).fill(0)).tee(ox).tee(oy).set(oz);
    c.op(Op.loop, Op.voidType); // $j (J ≥ 1)
    c.get(wp); vload(0).set(w);
    const t3 = [tx, ty, tz];
    for (let r = 0; r < 3; r++) {
      // t_r = a[r,0]·px + a[r,1]·py + a[r,2]·pz + a[r,3]
      c.get(ap); splat((4 * r) * fl.es); c.get(px); mul();
      c.get(ap); splat((4 * r + 1) * fl.es); c.get(py); mul(); add();
      c.get(ap); splat((4 * r + 2) * fl.es); c.get(pz); mul(); add();
      c.get(ap); splat((4 * r + 3) * fl.es); add();
      c.set(t3[r]);
    }
    const o3 = [ox, oy, oz];
    for (let r = 0; r < 3; r++) { c.get(o3[r]).get(w).get(t3[r]); mul(); add(); c.set(o3[r]); }
    c.inc(wp, 16).inc(ap, 12 * fl.es);
    c.get(jn).i32(-1).op(Op.i32Add).tee(jn).i32(0).op(Op.i32Ne).op(Op.brIf, 0);
    c.op(Op.end); // loop $j
    // op = O + ((b0+i)·Vpad + g·lanes)·3·es
    c.get(P.O).get(P.b0).i32(i).op(Op.i32Add).get(P.Vpad).op(Op.i32Mul)
      .get(g).i32(fl.lanes).op(Op.i32Mul).op(Op.i32Add).i32(3 * fl.es).op(Op.i32Mul).op(Op.i32Add).set(op);
    for (let l = 0; l < fl.lanes; l++) {
      for (let r = 0; r < 3; r++) {
        c.get(op).get(o3[r]).simd(fl.extract, l).op(fl.store).mem(fl.align, (3 * l + r) * fl.es);
      }
    }
  }
  c.inc(g, 1);
  c.op(Op.br, 0);
  c.op(Op.end); // loop $groups
  c.op(Op.end); // block $done
  c.op(Op.end); // function
  return { locals: [[nI32, I32], [nV128, V128]], code: c.b };
}

function section(id: number, payload: number[], out: number[]): void {
  out.push(id);
  uleb(payload.length, out);
  out.push(...payload);
}
function name(s: string, out: number[]): void {
  const b = Buffer.from(s, 'utf8');
  uleb(b.length, out);
  out.push(...b);
}

export const MAX_BLOCK = 4;
/** The k loop is unrolled this many times: packed bases have a multiple of it columns (zero-padded). */
export const KERNEL_UNROLL = 1;

/** The module bytes: imports env.mem, exports k1..k{MAX_BLOCK} (kernels for batch blocks of 1..MAX_BLOCK). */
export function buildLbsModule(dtype: 'float32' | 'float64', unroll = KERNEL_UNROLL): Uint8Array {
  const fl = dtype === 'float32' ? F32 : F64;
  const out = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
  const types: number[] = [];
  uleb(1, types);
  types.push(0x60);
  uleb(NPARAM, types);
  for (let i = 0; i < NPARAM; i++) types.push(I32);
  uleb(0, types);
  section(1, types, out);
  const imports: number[] = [];
  uleb(1, imports);
  name('env', imports);
  name('mem', imports);
  imports.push(0x02, 0x00);
  uleb(1, imports);
  section(2, imports, out);
  const funcs: number[] = [];
  uleb(MAX_BLOCK, funcs);
  for (let i = 0; i < MAX_BLOCK; i++) uleb(0, funcs);
  section(3, funcs, out);
  const exps: number[] = [];
  uleb(MAX_BLOCK, exps);
  for (let i = 0; i < MAX_BLOCK; i++) { name(`k${i + 1}`, exps); exps.push(0x00); uleb(i, exps); }
  section(7, exps, out);
  const code: number[] = [];
  uleb(MAX_BLOCK, code);
  for (let nb = 1; nb <= MAX_BLOCK; nb++) {
    const { locals, code: body } = kernelBody(fl, nb, unroll);
    const fn: number[] = [];
    uleb(locals.length, fn);
    for (const [count, t] of locals) { uleb(count, fn); fn.push(t); }
    fn.push(...body);
    uleb(fn.length, code);
    code.push(...fn);
  }
  section(10, code, out);
  return Uint8Array.from(out);
}

export type LbsKernel = (
  g0: number, g1: number, K: number, J: number, B: number, b0: number,
  M: number, T: number, W: number, Q: number, A: number, O: number, Vpad: number,
) => void;

// The tsconfig has no DOM lib, so the few WebAssembly JS-API members used here are typed locally.
export interface WasmMemory { readonly buffer: ArrayBuffer; grow(pages: number): number }
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (mod: object, imports: object) => { exports: Record<string, unknown> };
  Memory: new (desc: { initial: number; maximum?: number }) => WasmMemory;
}
const wasmApi = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;

/** A new linear memory of at least `bytes` bytes (null without WebAssembly). */
export function newWasmMemory(bytes: number): WasmMemory {
  if (!wasmApi) throw new Error('WebAssembly is not available');
  return new wasmApi.Memory({ initial: Math.max(1, Math.ceil(bytes / 65536)) });
}

const moduleCache = new Map<string, object | null>();

/** The compiled module, or null where WebAssembly SIMD is unavailable. */
export function lbsModule(dtype: 'float32' | 'float64'): object | null {
  if (!moduleCache.has(dtype)) {
    let mod: object | null = null;
    try {
      const bytes = buildLbsModule(dtype);
      if (wasmApi && wasmApi.validate(bytes)) mod = new wasmApi.Module(bytes);
    } catch {
      mod = null;
    }
    moduleCache.set(dtype, mod);
  }
  return moduleCache.get(dtype) ?? null;
}

/** Instantiates the kernels over `memory`. */
export function lbsKernels(mod: object, memory: WasmMemory): LbsKernel[] {
  const inst = new wasmApi!.Instance(mod, { env: { mem: memory } });
  const ks: LbsKernel[] = [];
  for (let nb = 1; nb <= MAX_BLOCK; nb++) ks.push(inst.exports[`k${nb}`] as LbsKernel);
  return ks;
}
