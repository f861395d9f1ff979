/**
 * The diffusion graphs' primitives are the shared building blocks (state dicts, WeightLookup, conv2d, linear,
 * groupNorm, layerNorm, GEGLU feed-forward, token and head reshapes, up/down-sampling). This file used to hold a
 * temporary copy until `src/kernel/onnx/blocks.ts` landed; the diffusion-specific blocks (ResNet with time embedding,
 * reference-attention transformer, motion module, VAE) live in unet.ts / vae.ts.
 */
export * from '../../onnx/blocks';
