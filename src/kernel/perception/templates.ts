/**
 * Data tables for face alignment.
 */

/**
 * dlib's mean face shape for the 68-point landmarks 17–67 (eyebrows, nose, eyes, mouth), normalised to the unit
 * square; `get_face_chip_details` maps it to a chip of `size` with `padding` as (padding + v) / (2·padding + 1) · size.
 * The face descriptor network was trained on chips aligned to this template.
 */
export const DLIB_MEAN_FACE_X = [
  0.000213256, 0.0752622, 0.18113, 0.29077, 0.393397, 0.586856, 0.689483, 0.799124, 0.904991, 0.98004, 0.490127,
  0.490127, 0.490127, 0.490127, 0.36688, 0.426036, 0.490127, 0.554217, 0.613373, 0.121737, 0.187122, 0.265825,
  0.334606, 0.260918, 0.182743, 0.645647, 0.714428, 0.793132, 0.858516, 0.79751, 0.719335, 0.254149, 0.340985,
  0.428858, 0.490127, 0.551395, 0.639268, 0.726104, 0.642159, 0.556721, 0.490127, 0.423532, 0.338094, 0.290379,
  0.428096, 0.490127, 0.552157, 0.689874, 0.553364, 0.490127, 0.42689,
] as const;
export const DLIB_MEAN_FACE_Y = [
  0.106454, 0.038915, 0.0187482, 0.0344891, 0.0773906, 0.0773906, 0.0344891, 0.0187482, 0.038915, 0.106454, 0.203352,
  0.307009, 0.409805, 0.515625, 0.587326, 0.609345, 0.628106, 0.609345, 0.587326, 0.216423, 0.178758, 0.179852,
  0.231733, 0.245099, 0.244077, 0.231733, 0.179852, 0.178758, 0.216423, 0.244077, 0.245099, 0.780233, 0.745405,
  0.727388, 0.742578, 0.727388, 0.745405, 0.780233, 0.864805, 0.902192, 0.909281, 0.902192, 0.864805, 0.784792,
  0.778746, 0.785343, 0.778746, 0.784792, 0.824182, 0.831803, 0.824182,
] as const;

/**
 * The 68-point landmarks dlib's `get_face_chip_details` aligns with: nose (27–35), eyes (36–47), the outer mouth
 * corners and upper lip (48–54) and the inner upper lip (60–64). It skips the eyebrows and the lower lip, "really
 * mobile parts of the face" (dlib commit 24d09126c), so that raised brows or an open mouth do not move the chip.
 */
export const DLIB_CHIP_LANDMARKS68: readonly number[] = [...Array.from({ length: 28 }, (_, i) => 27 + i), 60, 61, 62, 63, 64];

/** 68-point index ranges (iBUG 300-W order). */
export const LM68 = {
  jaw: [0, 17],
  rightBrow: [17, 22],
  leftBrow: [22, 27],
  nose: [27, 36],
  rightEye: [36, 42],
  leftEye: [42, 48],
  mouth: [48, 68],
} as const;
