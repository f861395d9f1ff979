/**
 * The official inference configuration, `configs/inference/inference.yaml` (reference-pipeline.md §7, §8.1, §11):
 * parsed with the `yaml` package (YAML 1.2, line numbers for every message) and validated key by key — every key of the
 * official file is required (inference.py reads them all) except `data.guidance_process_size`; a wrong type, a bad
 * value and an unknown key are errors naming the key and its line, all of them at once.
 *
 *   exp_name, width, height, seed, num_inference_steps, guidance_scale, enable_zero_snr, weight_dtype,
 *   base_model_path, vae_model_path, ckpt_dir, motion_module_path, guidance_types,
 *   data: { ref_image_path, guidance_data_folder, frame_range, [guidance_process_size] },
 *   noise_scheduler_kwargs: { num_train_timesteps, beta_start, beta_end, beta_schedule, steps_offset, clip_sample },
 *   unet_additional_kwargs: { use_inflated_groupnorm, unet_use_cross_frame_attention, unet_use_temporal_attention,
 *     use_motion_module, motion_module_resolutions, motion_module_mid_block, motion_module_decoder_only,
 *     motion_module_type, motion_module_kwargs: { num_attention_heads, num_transformer_block, attention_block_types,
 *     temporal_position_encoding, temporal_position_encoding_max_len, temporal_attention_dim_div } },
 *   guidance_encoder_kwargs: { guidance_embedding_channels, guidance_input_channels, block_out_channels },
 *   enable_xformers_memory_efficient_attention
 *
 * `checkAgainstBundle` then says where the configuration asks for a model other than the bundle holds (the ONNX graphs
 * are built for one architecture), and `schedulerFromConfig` gives the DDIM settings inference.py builds.
 */
import { readFileSync } from 'node:fs';
import { LineCounter, isMap, isSeq, parseDocument, type Document, type Node as YamlNode } from 'yaml';
import { MagicPortraitError } from '../errors';
import type { DiffusionArch } from './graph/config';
import type { DDIMConfig } from './scheduler';

export type GuidanceKind = 'depth' | 'normal' | 'render';

export interface InferenceConfig {
  exp_name: string | null;
  width: number;
  height: number;
  data: { ref_image_path: string; guidance_data_folder: string; frame_range: [number, number] | null; guidance_process_size?: number | null };
  seed: number;
  base_model_path: string;
  vae_model_path: string;
  ckpt_dir: string;
  motion_module_path: string;
  num_inference_steps: number;
  guidance_scale: number;
  enable_zero_snr: boolean;
  weight_dtype: string;
  guidance_types: GuidanceKind[];
  noise_scheduler_kwargs: { num_train_timesteps: number; beta_start: number; beta_end: number; beta_schedule: 'linear' | 'scaled_linear'; steps_offset: number; clip_sample: boolean };
  unet_additional_kwargs: {
    use_inflated_groupnorm: boolean;
    unet_use_cross_frame_attention: boolean;
    unet_use_temporal_attention: boolean;
    use_motion_module: boolean;
    motion_module_resolutions: number[];
    motion_module_mid_block: boolean;
    motion_module_decoder_only: boolean;
    motion_module_type: string;
    motion_module_kwargs: {
      num_attention_heads: number;
      num_transformer_block: number;
      attention_block_types: string[];
      temporal_position_encoding: boolean;
      temporal_position_encoding_max_len: number;
      temporal_attention_dim_div: number;
    };
  };
  guidance_encoder_kwargs: { guidance_embedding_channels: number; guidance_input_channels: number; block_out_channels: number[] };
  enable_xformers_memory_efficient_attention: boolean;
}

// ------------------------------------------------------------------------------------------------------------------
// Schema

type Leaf =
  | { t: 'string'; nullable?: boolean }
  | { t: 'int'; min?: number; multipleOf?: number; nullable?: boolean }
  | { t: 'number'; min?: number; exclusiveMin?: number }
  | { t: 'bool' }
  | { t: 'enum'; values: readonly string[] }
  | { t: 'ints'; length?: number; min?: number; nullable?: boolean }
  | { t: 'strings'; values?: readonly string[]; unique?: boolean; nonEmpty?: boolean };
type Field = (Leaf | { t: 'map'; fields: Schema }) & { optional?: boolean };
type Schema = Record<string, Field>;

const SCHEMA: Schema = {
  exp_name: { t: 'string', nullable: true },
  width: { t: 'int', min: 8, multipleOf: 8 },
  height: { t: 'int', min: 8, multipleOf: 8 },
  data: {
    t: 'map',
    fields: {
      ref_image_path: { t: 'string' },
      guidance_data_folder: { t: 'string' },
      frame_range: { t: 'ints', length: 2, nullable: true },
      guidance_process_size: { t: 'int', min: 1, nullable: true, optional: true },
    },
  },
  seed: { t: 'int' },
  base_model_path: { t: 'string' },
  vae_model_path: { t: 'string' },
  ckpt_dir: { t: 'string' },
  motion_module_path: { t: 'string' },
  num_inference_steps: { t: 'int', min: 1 },
  guidance_scale: { t: 'number' },
  enable_zero_snr: { t: 'bool' },
  weight_dtype: { t: 'string' },
  guidance_types: { t: 'strings', values: ['depth', 'normal', 'render'], unique: true, nonEmpty: true },
  noise_scheduler_kwargs: {
    t: 'map',
    fields: {
      num_train_timesteps: { t: 'int', min: 2 },
      beta_start: { t: 'number', exclusiveMin: 0 },
      beta_end: { t: 'number', exclusiveMin: 0 },
      beta_schedule: { t: 'enum', values: ['linear', 'scaled_linear'] },
      steps_offset: { t: 'int', min: 0 },
      clip_sample: { t: 'bool' },
    },
  },
  unet_additional_kwargs: {
    t: 'map',
    fields: {
      use_inflated_groupnorm: { t: 'bool' },
      unet_use_cross_frame_attention: { t: 'bool' },
      unet_use_temporal_attention: { t: 'bool' },
      use_motion_module: { t: 'bool' },
      motion_module_resolutions: { t: 'ints', min: 1 },
      motion_module_mid_block: { t: 'bool' },
      motion_module_decoder_only: { t: 'bool' },
      motion_module_type: { t: 'string' },
      motion_module_kwargs: {
        t: 'map',
        fields: {
          num_attention_heads: { t: 'int', min: 1 },
          num_transformer_block: { t: 'int', min: 1 },
          attention_block_types: { t: 'strings', nonEmpty: true },
          temporal_position_encoding: { t: 'bool' },
          temporal_position_encoding_max_len: { t: 'int', min: 1 },
          temporal_attention_dim_div: { t: 'int', min: 1 },
        },
      },
    },
  },
  guidance_encoder_kwargs: {
    t: 'map',
    fields: {
      guidance_embedding_channels: { t: 'int', min: 1 },
      guidance_input_channels: { t: 'int', min: 1 },
      block_out_channels: { t: 'ints', min: 1 },
    },
  },
  enable_xformers_memory_efficient_attention: { t: 'bool' },
};

/** Every key path of the schema (for docs and tests). */
export function inferenceConfigKeys(schema: Schema = SCHEMA, prefix = ''): string[] {
  return Object.entries(schema).flatMap(([k, f]) => (f.t === 'map' ? [`${prefix}${k}`, ...inferenceConfigKeys(f.fields, `${prefix}${k}.`)] : [`${prefix}${k}`]));
}

const typeName = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'a mapping' : typeof v === 'string' ? `the string ${JSON.stringify(v)}` : `${typeof v} ${JSON.stringify(v)}`);

function checkLeaf(f: Leaf, v: unknown): string | null {
  if (v === null && 'nullable' in f && f.nullable) return null;
  switch (f.t) {
    case 'string':
      return typeof v === 'string' ? null : `must be a string${f.nullable ? ' or null' : ''}, got ${typeName(v)}`;
    case 'int':
      if (typeof v !== 'number' || !Number.isInteger(v)) return `must be an integer${f.nullable ? ' or null' : ''}, got ${typeName(v)}`;
      if (f.min !== undefined && v < f.min) return `must be ≥ ${f.min}, got ${v}`;
      if (f.multipleOf && v % f.multipleOf) return `must be a multiple of ${f.multipleOf}, got ${v}`;
      return null;
    case 'number':
      if (typeof v !== 'number' || !Number.isFinite(v)) return `must be a number, got ${typeName(v)}`;
      if (f.exclusiveMin !== undefined && !(v > f.exclusiveMin)) return `must be > ${f.exclusiveMin}, got ${v}`;
      return null;
    case 'bool':
      return typeof v === 'boolean' ? null : `must be true or false, got ${typeName(v)}`;
    case 'enum':
      return typeof v === 'string' && f.values.includes(v) ? null : `must be one of ${f.values.map((x) => `'${x}'`).join(', ')}, got ${typeName(v)}`;
    case 'ints':
      if (!Array.isArray(v) || !v.every((x) => typeof x === 'number' && Number.isInteger(x))) return `must be a list of integers${f.nullable ? ' or null' : ''}, got ${typeName(v)}`;
      // an empty list is falsy in Python: `if not frame_range` takes every frame, as null does
      if (f.length !== undefined && v.length !== f.length && !(f.nullable && v.length === 0)) return `must have ${f.length} integers, got ${v.length}`;
      if (f.min !== undefined && v.some((x) => x < f.min!)) return `must hold integers ≥ ${f.min}, got ${JSON.stringify(v)}`;
      return null;
    case 'strings':
      if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) return `must be a list of strings, got ${typeName(v)}`;
      if (f.nonEmpty && !v.length) return 'must not be empty';
      if (f.values) {
        const bad = v.filter((x) => !f.values!.includes(x));
        if (bad.length) return `may only hold ${f.values.map((x) => `'${x}'`).join(', ')}; got ${bad.map((x) => `'${x}'`).join(', ')}`;
      }
      if (f.unique && new Set(v).size !== v.length) return `lists a value twice: ${JSON.stringify(v)}`;
      return null;
  }
}

function validate(doc: Document, lines: LineCounter, file: string): string[] {
  const errors: string[] = [];
  const where = (path: string[], key = false): string => {
    const node = doc.getIn(path, true) as YamlNode | undefined;
    let range = node && 'range' in node ? node.range : undefined;
    if (key && path.length) {
      const parent = path.length > 1 ? doc.getIn(path.slice(0, -1), true) : doc.contents;
      if (isMap(parent)) {
        const pair = parent.items.find((p) => (p.key as { value?: unknown })?.value === path.at(-1));
        range = (pair?.key as YamlNode | undefined)?.range ?? range;
      }
    }
    return range ? ` (line ${lines.linePos(range[0]).line})` : '';
  };
  const walk = (schema: Schema, value: unknown, path: string[]) => {
    const name = path.join('.') || 'the file';
    if (!value || typeof value !== 'object' || Array.isArray(value)) {
      errors.push(`${name}${where(path)} must be a mapping of keys, got ${typeName(value)}`);
      return;
    }
    const obj = value as Record<string, unknown>;
    for (const [k, f] of Object.entries(schema)) {
      const p = [...path, k];
      if (!(k in obj)) {
        if (!f.optional) errors.push(`missing key '${p.join('.')}'${path.length ? ` (in '${path.join('.')}' at ${where(path, true).slice(2, -1)})` : ''}`);
        continue;
      }
      if (f.t === 'map') walk(f.fields, obj[k], p);
      else {
        const why = checkLeaf(f, obj[k]);
        if (why) errors.push(`'${p.join('.')}'${where(p)} ${why}`);
      }
    }
    for (const k of Object.keys(obj))
      if (!(k in schema)) errors.push(`unknown key '${[...path, k].join('.')}'${where([...path, k], true)}: the official inference.yaml has no such key${path.length ? ` under '${path.join('.')}'` : ''} (known: ${Object.keys(schema).join(', ')})`);
  };
  walk(SCHEMA, doc.toJS(), []);
  void file;
  return errors;
}

/** Parses and validates an inference yaml's text. `file` names it in messages. */
export function parseInferenceConfig(text: string, file = 'inference.yaml'): InferenceConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length)
    throw new MagicPortraitError(`${file} is not valid YAML:\n  ${doc.errors.map((e) => `${e.message.split('\n')[0]}${e.linePos ? ` (line ${e.linePos[0].line})` : ''}`).join('\n  ')}`, 'bad-config');
  const errors = validate(doc, lines, file);
  if (errors.length) throw new MagicPortraitError(`${file}: ${errors.length} problem${errors.length > 1 ? 's' : ''} with the inference configuration:\n  ${errors.join('\n  ')}`, 'bad-config');
  const cfg = doc.toJS() as InferenceConfig;
  const fr = cfg.data.frame_range;
  if (fr && (fr as number[]).length === 0) cfg.data.frame_range = null;
  return cfg;
}

/** Reads and validates an inference yaml file. */
export function readInferenceConfig(path: string): InferenceConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new MagicPortraitError(`Cannot read the inference configuration ${path}: ${(e as Error).message}`, 'missing-file');
  }
  return parseInferenceConfig(text, path);
}

/** The DDIM settings inference.py builds from noise_scheduler_kwargs and enable_zero_snr (§7.5). */
export function schedulerFromConfig(cfg: InferenceConfig, file = 'inference.yaml'): Partial<DDIMConfig> {
  const k = cfg.noise_scheduler_kwargs;
  if (k.clip_sample) throw new MagicPortraitError(`${file}: noise_scheduler_kwargs.clip_sample: true is not supported here (the official configuration has false).`, 'unsupported');
  if (!(k.beta_end > k.beta_start)) throw new MagicPortraitError(`${file}: noise_scheduler_kwargs.beta_end (${k.beta_end}) must exceed beta_start (${k.beta_start}).`, 'bad-config');
  // the later switch to "scaled_linear" in inference.py happens after the scheduler is built: the yaml's value counts
  return {
    numTrainTimesteps: k.num_train_timesteps,
    betaStart: k.beta_start,
    betaEnd: k.beta_end,
    betaSchedule: k.beta_schedule,
    stepsOffset: k.steps_offset,
    ...(cfg.enable_zero_snr
      ? { rescaleBetasZeroSnr: true, timestepSpacing: 'trailing' as const, predictionType: 'v_prediction' as const }
      : { rescaleBetasZeroSnr: false, timestepSpacing: 'leading' as const, predictionType: 'epsilon' as const }),
  };
}

/**
 * Where the configuration describes another model than the bundle's graphs (one line each; empty when they agree).
 * The structural switches must have the official values, which are the only ones the graphs implement.
 */
export function checkAgainstBundle(cfg: InferenceConfig, arch: DiffusionArch): string[] {
  const out: string[] = [];
  const eq = (key: string, got: unknown, want: unknown, why: string) => {
    if (JSON.stringify(got) !== JSON.stringify(want)) out.push(`${key} is ${JSON.stringify(got)}, ${why} ${JSON.stringify(want)}`);
  };
  const bundle = 'the bundle has';
  const g = cfg.guidance_encoder_kwargs;
  eq('guidance_types', [...cfg.guidance_types].sort(), [...arch.guidance.types].sort(), 'the bundle encodes');
  eq('guidance_encoder_kwargs.guidance_embedding_channels', g.guidance_embedding_channels, arch.unet.blockOutChannels[0], `${bundle} (the UNet's conv_in width)`);
  eq('guidance_encoder_kwargs.guidance_input_channels', g.guidance_input_channels, arch.guidance.inChannels, bundle);
  eq('guidance_encoder_kwargs.block_out_channels', g.block_out_channels, arch.guidance.blockOutChannels, bundle);
  const u = cfg.unet_additional_kwargs;
  const m = u.motion_module_kwargs;
  eq('unet_additional_kwargs.motion_module_kwargs.num_attention_heads', m.num_attention_heads, arch.unet.motion.heads, bundle);
  eq('unet_additional_kwargs.motion_module_kwargs.temporal_position_encoding_max_len', m.temporal_position_encoding_max_len, arch.unet.motion.maxLen, bundle);
  eq('unet_additional_kwargs.motion_module_resolutions', u.motion_module_resolutions, arch.unet.blockOutChannels.map((_, i) => 2 ** i), `${bundle} motion modules at every level,`);
  const official = 'the graphs implement only the official';
  eq('unet_additional_kwargs.use_inflated_groupnorm', u.use_inflated_groupnorm, true, official);
  eq('unet_additional_kwargs.unet_use_cross_frame_attention', u.unet_use_cross_frame_attention, false, official);
  eq('unet_additional_kwargs.unet_use_temporal_attention', u.unet_use_temporal_attention, false, official);
  eq('unet_additional_kwargs.use_motion_module', u.use_motion_module, true, official);
  eq('unet_additional_kwargs.motion_module_mid_block', u.motion_module_mid_block, true, official);
  eq('unet_additional_kwargs.motion_module_decoder_only', u.motion_module_decoder_only, false, official);
  eq('unet_additional_kwargs.motion_module_type', u.motion_module_type, 'Vanilla', official);
  eq('unet_additional_kwargs.motion_module_kwargs.num_transformer_block', m.num_transformer_block, 1, official);
  eq('unet_additional_kwargs.motion_module_kwargs.attention_block_types', m.attention_block_types, ['Temporal_Self', 'Temporal_Self'], official);
  eq('unet_additional_kwargs.motion_module_kwargs.temporal_position_encoding', m.temporal_position_encoding, true, official);
  eq('unet_additional_kwargs.motion_module_kwargs.temporal_attention_dim_div', m.temporal_attention_dim_div, 1, official);
  if (cfg.width !== arch.imageSize || cfg.height !== arch.imageSize)
    out.push(`width × height is ${cfg.width} × ${cfg.height}; the bundle's graphs generate ${arch.imageSize} × ${arch.imageSize}`);
  return out;
}

/** Keys inference.py reads but that change nothing in the numbers (said once when the run starts). */
export function ignoredSettings(cfg: InferenceConfig): string[] {
  const notes = [`weight_dtype '${cfg.weight_dtype}': inference.py overrides it with float32 everywhere (so does this port; the reference bank stays fp16)`];
  if (cfg.enable_xformers_memory_efficient_attention) notes.push('enable_xformers_memory_efficient_attention: true — an attention kernel choice; ONNX Runtime picks its own (numerically the same attention)');
  if (cfg.data.guidance_process_size) notes.push(`data.guidance_process_size ${cfg.data.guidance_process_size}: guidance is encoded frame by frame here anyway (the encoder is per frame, §6.3)`);
  return notes;
}
