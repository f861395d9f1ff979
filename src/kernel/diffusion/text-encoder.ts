/**
 * The CLIP text encoder (SD 1.5 `text_encoder/`, HF `CLIPTextModel`; reference-pipeline.md §7.3) as a plain CPU
 * forward, run ONCE at import time for the fixed prompt: token + position embeddings → N pre-LayerNorm layers
 * (causal self-attention, quick_gelu MLP) → final LayerNorm; the last hidden state (1, 77, D), float32, all positions.
 * No attention mask besides the causal one (the reference passes none). ~6.5 GMAC at full size: seconds, once.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MagicPortraitError } from '../errors';
import { openSafetensors } from '../io/safetensors';
import { openTorchCheckpoint, type TensorStore } from '../io/torch-checkpoint';
import { toFloat32 } from '../io/ndarray';
import { ClipTokenizer } from './tokenizer';

export interface ClipTextConfig {
  hiddenSize: number;
  intermediateSize: number;
  layers: number;
  heads: number;
  maxPositions: number;
  eps: number;
  act: 'quick_gelu' | 'gelu';
}

function readConfig(dir: string): ClipTextConfig {
  const p = join(dir, 'config.json');
  if (!existsSync(p)) throw new MagicPortraitError(`Text encoder folder ${dir} has no config.json.`, 'missing-file');
  const c = JSON.parse(readFileSync(p, 'utf8')) as Record<string, unknown>;
  const num = (k: string, d?: number) => {
    const v = c[k] ?? d;
    if (typeof v !== 'number' || !(v > 0)) throw new MagicPortraitError(`${p}: ${k} is missing or not a positive number.`, 'bad-config');
    return v;
  };
  const act = String(c.hidden_act ?? 'quick_gelu');
  if (act !== 'quick_gelu' && act !== 'gelu') throw new MagicPortraitError(`${p}: hidden_act '${act}' is not supported (quick_gelu, gelu).`, 'bad-config');
  return {
    hiddenSize: num('hidden_size'),
    intermediateSize: num('intermediate_size'),
    layers: num('num_hidden_layers'),
    heads: num('num_attention_heads'),
    maxPositions: num('max_position_embeddings', 77),
    eps: num('layer_norm_eps', 1e-5),
    act,
  };
}

async function openWeights(dir: string): Promise<TensorStore & { close(): Promise<void> }> {
  for (const n of ['model.safetensors', 'pytorch_model.bin', 'model.fp16.safetensors', 'pytorch_model.fp16.bin']) {
    const p = join(dir, n);
    if (existsSync(p)) return n.endsWith('.safetensors') ? openSafetensors(p) : openTorchCheckpoint(p);
  }
  throw new MagicPortraitError(`Text encoder folder ${dir} has no model.safetensors or pytorch_model.bin.`, 'missing-file');
}

/** y (T×O) = x (T×I) · Wᵀ + b, W stored [O, I]. */
function linear(x: Float32Array, T: number, I: number, w: Float32Array, b: Float32Array, O: number): Float32Array {
  const y = new Float32Array(T * O);
  for (let t = 0; t < T; t++) {
    const xo = t * I;
    for (let o = 0; o < O; o++) {
      const wo = o * I;
      let s = 0;
      for (let i = 0; i < I; i++) s += x[xo + i]! * w[wo + i]!;
      y[t * O + o] = s + b[o]!;
    }
  }
  return y;
}

function layerNorm(x: Float32Array, T: number, D: number, g: Float32Array, b: Float32Array, eps: number): Float32Array {
  const y = new Float32Array(T * D);
  for (let t = 0; t < T; t++) {
    let m = 0;
    for (let i = 0; i < D; i++) m += x[t * D + i]!;
    m /= D;
    let v = 0;
    for (let i = 0; i < D; i++) v += (x[t * D + i]! - m) ** 2;
    const r = 1 / Math.sqrt(v / D + eps);
    for (let i = 0; i < D; i++) y[t * D + i] = (x[t * D + i]! - m) * r * g[i]! + b[i]!;
  }
  return y;
}

/** Runs the text encoder on token ids; returns (T, D) row-major. */
export async function clipTextForward(dir: string, ids: number[]): Promise<{ hidden: Float32Array; dim: number }> {
  const cfg = readConfig(dir);
  const store = await openWeights(dir);
  try {
    const prefix = store.keys().some((k) => k.startsWith('text_model.')) ? 'text_model.' : '';
    const D = cfg.hiddenSize;
    const get = async (k: string, shape: number[]) => {
      const key = prefix + k;
      const info = store.info(key); // throws missing-key naming the file
      if (info.shape.length !== shape.length || info.shape.some((d, i) => d !== shape[i]))
        throw new MagicPortraitError(`${store.file}: '${key}' has shape [${info.shape.join(', ')}], expected [${shape.join(', ')}].`, 'bad-shape');
      return toFloat32(await store.get(key));
    };
    const T = ids.length;
    if (T > cfg.maxPositions) throw new MagicPortraitError(`${T} tokens exceed the text encoder's ${cfg.maxPositions} positions.`, 'bad-input');
    const tokInfo = store.info(`${prefix}embeddings.token_embedding.weight`);
    const V = tokInfo.shape[0]!;
    const tok = await get('embeddings.token_embedding.weight', [V, D]);
    const pos = await get('embeddings.position_embedding.weight', [cfg.maxPositions, D]);
    let x: Float32Array = new Float32Array(T * D);
    for (let t = 0; t < T; t++) {
      const id = ids[t]!;
      if (!(id >= 0 && id < V)) throw new MagicPortraitError(`Token id ${id} is outside the text encoder's vocabulary of ${V}.`, 'bad-input');
      for (let i = 0; i < D; i++) x[t * D + i] = tok[id * D + i]! + pos[t * D + i]!;
    }
    const H = cfg.heads;
    const hd = D / H;
    const F = cfg.intermediateSize;
    const scale = 1 / Math.sqrt(hd);
    for (let l = 0; l < cfg.layers; l++) {
      const p = `encoder.layers.${l}`;
      const h = layerNorm(x, T, D, await get(`${p}.layer_norm1.weight`, [D]), await get(`${p}.layer_norm1.bias`, [D]), cfg.eps);
      const proj = async (n: string) => linear(h, T, D, await get(`${p}.self_attn.${n}.weight`, [D, D]), await get(`${p}.self_attn.${n}.bias`, [D]), D);
      const q = await proj('q_proj');
      const k = await proj('k_proj');
      const v = await proj('v_proj');
      const att = new Float32Array(T * D);
      const s = new Float64Array(T);
      for (let hh = 0; hh < H; hh++) {
        const o = hh * hd;
        for (let i = 0; i < T; i++) {
          let mx = -Infinity;
          for (let j = 0; j <= i; j++) {
            let d = 0;
            for (let c = 0; c < hd; c++) d += q[i * D + o + c]! * k[j * D + o + c]!;
            s[j] = d * scale;
            if (s[j]! > mx) mx = s[j]!;
          }
          let sum = 0;
          for (let j = 0; j <= i; j++) sum += s[j] = Math.exp(s[j]! - mx);
          for (let c = 0; c < hd; c++) {
            let a = 0;
            for (let j = 0; j <= i; j++) a += s[j]! * v[j * D + o + c]!;
            att[i * D + o + c] = a / sum;
          }
        }
      }
      const out = linear(att, T, D, await get(`${p}.self_attn.out_proj.weight`, [D, D]), await get(`${p}.self_attn.out_proj.bias`, [D]), D);
      for (let i = 0; i < x.length; i++) x[i]! += out[i]!;
      const h2 = layerNorm(x, T, D, await get(`${p}.layer_norm2.weight`, [D]), await get(`${p}.layer_norm2.bias`, [D]), cfg.eps);
      const m = linear(h2, T, D, await get(`${p}.mlp.fc1.weight`, [F, D]), await get(`${p}.mlp.fc1.bias`, [F]), F);
      for (let i = 0; i < m.length; i++) {
        const z = m[i]!;
        m[i] = cfg.act === 'quick_gelu' ? z / (1 + Math.exp(-1.702 * z)) : 0.5 * z * (1 + erf(z / Math.SQRT2));
      }
      const m2 = linear(m, T, F, await get(`${p}.mlp.fc2.weight`, [D, F]), await get(`${p}.mlp.fc2.bias`, [D]), D);
      for (let i = 0; i < x.length; i++) x[i]! += m2[i]!;
    }
    x = layerNorm(x, T, D, await get('final_layer_norm.weight', [D]), await get('final_layer_norm.bias', [D]), cfg.eps);
    return { hidden: x, dim: D };
  } finally {
    await store.close();
  }
}

/** Abramowitz–Stegun 7.1.26 (|error| < 1.5e-7), for hidden_act 'gelu'. */
function erf(x: number): number {
  const s = Math.sign(x);
  const a = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * a);
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-a * a);
  return s * y;
}

/** The prompt's (1, 77, D) embedding from an SD 1.5 folder (`tokenizer/`, `text_encoder/`). */
export async function encodePrompt(sd15Dir: string, prompt: string, maxLength = 77): Promise<{ ids: number[]; embeds: Float32Array; dim: number }> {
  const tok = ClipTokenizer.fromDir(join(sd15Dir, 'tokenizer'));
  const ids = tok.encode(prompt, maxLength);
  const { hidden, dim } = await clipTextForward(join(sd15Dir, 'text_encoder'), ids);
  return { ids, embeds: hidden, dim };
}
