/**
 * timm's `tf_mobilenetv3_{small,large}_minimal_100` created with `features_only=True` (the SMIRK backbones,
 * reference-pipeline.md §3), as ONNX nodes with weights from a state dict.
 *
 * Facts from timm (`mobilenetv3.py: _gen_mobilenet_v3`, `_efficientnet_builder.py`, `_efficientnet_blocks.py`):
 * * "minimal" variants: ReLU everywhere, no squeeze-excite, 3×3 depthwise kernels; `tf_` variants: BatchNorm eps 1e-3
 *   and TF "same" padding (stride 2: total pad max((⌈n/s⌉−1)·s + k − n, 0), the odd pixel at the end; stride 1: the
 *   static symmetric (k−1)/2). Convolutions have no bias.
 * * stem `conv_stem` 3×3/2 → 16, `bn1`, ReLU; then `blocks.{stage}.{i}`:
 *   `ds` conv_dw → bn1 → ReLU → conv_pw → bn2 (no activation), `ir` conv_pw → bn1 → ReLU → conv_dw → bn2 → ReLU →
 *   conv_pwl → bn3, `cn` conv → bn1 → ReLU; ds/ir add the input when stride 1 and in == out channels.
 * * the expansion width of `ir` is make_divisible(in · e, 8).
 * * features_only keeps every block but no head (`conv_head`/`classifier` are absent from the state dict); the last
 *   feature map is the output of the final `cn` block (576 channels small, 960 large).
 */
import { floatAttr } from '../onnx/graph';
import { type BlockContext, param } from '../onnx/blocks';

export type MobileNetBlockType = 'ds' | 'ir' | 'cn';

export interface MobileNetBlock {
  type: MobileNetBlockType;
  kernel: number;
  stride: number;
  /** Expansion ratio (ir only; 1 otherwise). */
  exp: number;
  out: number;
}

export interface MobileNetV3Arch {
  name: string;
  stem: number;
  /** Stages of blocks (repeats expanded): keys `blocks.{stage}.{index}`. */
  stages: MobileNetBlock[][];
  /** BatchNorm epsilon (1e-3 for the tf_ variants). */
  bnEps: number;
}

/** timm's block notation, e.g. `ir_r3_k3_s2_e6_c160` → three blocks; only the first of the repeats has the stride. */
export function decodeBlockString(s: string): MobileNetBlock[] {
  const [type, ...ops] = s.split('_');
  if (type !== 'ds' && type !== 'ir' && type !== 'cn') throw new Error(`decodeBlockString: unknown block type in '${s}'`);
  const o: Record<string, number> = {};
  for (const op of ops) {
    const m = /^([a-z]+)([\d.]+)$/.exec(op);
    if (!m) throw new Error(`decodeBlockString: cannot read '${op}' in '${s}'`);
    o[m[1]!] = Number(m[2]);
  }
  const block: MobileNetBlock = { type, kernel: o.k ?? 1, stride: o.s ?? 1, exp: type === 'ir' ? o.e! : 1, out: o.c! };
  return Array.from({ length: o.r ?? 1 }, (_, i) => ({ ...block, stride: i === 0 ? block.stride : 1 }));
}

const arch = (name: string, stages: string[][]): MobileNetV3Arch => ({
  name,
  stem: 16,
  bnEps: 1e-3,
  stages: stages.map((st) => st.flatMap(decodeBlockString)),
});

export const TF_MOBILENETV3_SMALL_MINIMAL_100 = arch('tf_mobilenetv3_small_minimal_100', [
  ['ds_r1_k3_s2_e1_c16'],
  ['ir_r1_k3_s2_e4.5_c24', 'ir_r1_k3_s1_e3.67_c24'],
  ['ir_r1_k3_s2_e4_c40', 'ir_r2_k3_s1_e6_c40'],
  ['ir_r2_k3_s1_e3_c48'],
  ['ir_r3_k3_s2_e6_c96'],
  ['cn_r1_k1_s1_c576'],
]);

export const TF_MOBILENETV3_LARGE_MINIMAL_100 = arch('tf_mobilenetv3_large_minimal_100', [
  ['ds_r1_k3_s1_e1_c16'],
  ['ir_r1_k3_s2_e4_c24', 'ir_r1_k3_s1_e3_c24'],
  ['ir_r3_k3_s2_e3_c40'],
  ['ir_r1_k3_s2_e6_c80', 'ir_r1_k3_s1_e2.5_c80', 'ir_r2_k3_s1_e2.3_c80'],
  ['ir_r2_k3_s1_e6_c112'],
  ['ir_r3_k3_s2_e6_c160'],
  ['cn_r1_k1_s1_c960'],
]);

/** timm's make_divisible: nearest multiple of 8 (at least 8), not more than 10 % below v. */
export function makeDivisible(v: number, divisor = 8): number {
  let n = Math.max(divisor, Math.floor((v + divisor / 2) / divisor) * divisor);
  if (n < 0.9 * v) n += divisor;
  return n;
}

/** Channels of the last feature map (timm's feature_info[-1]['num_chs']). */
export function mobileNetFeatureChannels(a: MobileNetV3Arch): number {
  return a.stages.at(-1)!.at(-1)!.out;
}

function batchNorm(ctx: BlockContext, x: string, key: string, c: number, eps: number): string {
  const p = (n: string) => param(ctx, `${key}.${n}`, [c]);
  return ctx.g.op('BatchNormalization', [x, p('weight'), p('bias'), p('running_mean'), p('running_var')], { epsilon: floatAttr(eps) });
}

/** Bias-free conv with TF "same" padding; `groups` = channels for depthwise. */
function sameConv(ctx: BlockContext, x: string, key: string, inCh: number, outCh: number, k: number, stride: number, groups = 1): string {
  const w = param(ctx, `${key}.weight`, [outCh, inCh / groups, k, k]);
  const attrs: Record<string, number | readonly number[] | string> = { kernel_shape: [k, k], strides: [stride, stride], dilations: [1, 1], group: groups };
  // stride 1, odd k: timm's static padding (k−1)/2 on every side; stride > 1: the dynamic TF padding, whose odd pixel
  // goes after (ONNX SAME_UPPER puts the extra pad at the end, exactly like timm's Conv2dSame).
  if (stride === 1) attrs.pads = [(k - 1) / 2, (k - 1) / 2, (k - 1) / 2, (k - 1) / 2];
  else attrs.auto_pad = 'SAME_UPPER';
  return ctx.g.op('Conv', [x, w], attrs);
}

const relu = (ctx: BlockContext, x: string) => ctx.g.op('Relu', [x]);

function block(ctx: BlockContext, x: string, key: string, b: MobileNetBlock, cin: number, eps: number): string {
  let h: string;
  if (b.type === 'cn') return relu(ctx, batchNorm(ctx, sameConv(ctx, x, `${key}.conv`, cin, b.out, b.kernel, b.stride), `${key}.bn1`, b.out, eps));
  if (b.type === 'ds') {
    h = relu(ctx, batchNorm(ctx, sameConv(ctx, x, `${key}.conv_dw`, cin, cin, b.kernel, b.stride, cin), `${key}.bn1`, cin, eps));
    h = batchNorm(ctx, sameConv(ctx, h, `${key}.conv_pw`, cin, b.out, 1, 1), `${key}.bn2`, b.out, eps);
  } else {
    const mid = makeDivisible(cin * b.exp);
    h = relu(ctx, batchNorm(ctx, sameConv(ctx, x, `${key}.conv_pw`, cin, mid, 1, 1), `${key}.bn1`, mid, eps));
    h = relu(ctx, batchNorm(ctx, sameConv(ctx, h, `${key}.conv_dw`, mid, mid, b.kernel, b.stride, mid), `${key}.bn2`, mid, eps));
    h = batchNorm(ctx, sameConv(ctx, h, `${key}.conv_pwl`, mid, b.out, 1, 1), `${key}.bn3`, b.out, eps);
  }
  return b.stride === 1 && cin === b.out ? ctx.g.op('Add', [h, x]) : h;
}

/**
 * The features_only trunk on `x` (N, 3, H, W) with keys under `prefix` (e.g. 'pose_encoder.encoder.'); returns the
 * last feature map (N, C, H/32, W/32) and C.
 */
export function buildMobileNetV3Features(ctx: BlockContext, x: string, prefix: string, a: MobileNetV3Arch): { out: string; channels: number } {
  let h = relu(ctx, batchNorm(ctx, sameConv(ctx, x, `${prefix}conv_stem`, 3, a.stem, 3, 2), `${prefix}bn1`, a.stem, a.bnEps));
  let cin = a.stem;
  a.stages.forEach((stage, s) =>
    stage.forEach((b, i) => {
      h = block(ctx, h, `${prefix}blocks.${s}.${i}`, b, cin, a.bnEps);
      cin = b.out;
    }),
  );
  return { out: h, channels: cin };
}
