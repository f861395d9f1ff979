/** The FLAME rig the kernel sends to the 3D viewer (and poses itself): plain typed arrays, no imports. */
export interface RigArrays {
  /** Template with the identity (shape coefficients) applied, V×3. */
  base: Float32Array;
  /** Expression basis, K×V×3 (component-major). */
  exprBasis: Float32Array;
  exprCount: number;
  /** Joints regressed from `base`, J×3. */
  joints: Float32Array;
  parents: Int32Array;
  /** Linear-blend-skinning weights, V×J. */
  weights: Float32Array;
}
