"""Golden values for the reference crop rules (reference-pipeline.md §1), computed with numpy / scikit-image.

Regenerate (from the repository root):
    /usr/bin/python3 test/perception/golden/crops.py > test/perception/fixtures/crops.json

Independent of our TypeScript: the similarity transforms come from numpy's SVD and skimage's estimate_transform,
the crops from skimage.transform.warp, the 512 identity-resize quirk from skimage.transform.resize.
"""
import json
import numpy as np
from skimage.transform import estimate_transform, warp, resize

rng = np.random.default_rng(7)


def transformation_from_points(points1, points2):
    points1 = points1.astype(np.float64)
    points2 = points2.astype(np.float64)
    c1 = np.mean(points1, axis=0)
    c2 = np.mean(points2, axis=0)
    points1 -= c1
    points2 -= c2
    s1 = np.std(points1)
    s2 = np.std(points2)
    points1 /= s1
    points2 /= s2
    U, S, Vt = np.linalg.svd(points1.T @ points2)
    R = (U @ Vt).T
    return np.hstack([(s2 / s1) * R, (c2.T - (s2 / s1) * R @ c1.T)[:, None]])


def synthetic_image(h, w):
    """Low-entropy RGB uint8 image: smooth gradients + a few rectangles."""
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([(x * 255 // (w - 1)), (y * 255 // (h - 1)), ((x + 2 * y) % 256)], axis=-1).astype(np.uint8)
    img[100:180, 150:300] = [200, 40, 90]
    img[300:420, 60:140] = [15, 220, 120]
    return img


out = {}

# §1.1 generation crop transform: a box → square corners → Procrustes to the 512 target; plus a rotated point set.
box = [181.25, 143.5, 437.75, 409.0]
side = max(box[2] - box[0], box[2] - box[0])
cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
h = 0.75 * side
corners = np.array([[cx - h, cy - h], [cx - h, cy + h], [cx + h, cy + h], [cx + h, cy - h]])
target = np.array([[80, 80], [80, 432], [432, 432], [432, 80]], dtype=np.float64)
out['generation'] = {'box': box, 'matrix': transformation_from_points(corners, target).tolist()}
p1 = rng.uniform(0, 500, size=(6, 2))
p2 = rng.uniform(0, 500, size=(6, 2))
out['procrustes'] = {'points1': p1.tolist(), 'points2': p2.tolist(), 'matrix': transformation_from_points(p1, p2).tolist()}
p3 = p1 * [1, -1] + [0, 600]  # mirrored: the optimum is a reflection
out['procrustes_reflect'] = {'points1': p1.tolist(), 'points2': p3.tolist(), 'matrix': transformation_from_points(p1, p3).tolist()}

img = synthetic_image(512, 512)
samples = rng.integers(0, 224, size=(300, 2)).tolist()

# §1.2 DECA crop from 68 landmarks.
lm = np.stack([rng.uniform(170, 350, 68), rng.uniform(150, 380, 68)], axis=1)
left, right, top, bottom = lm[:, 0].min(), lm[:, 0].max(), lm[:, 1].min(), lm[:, 1].max()
old_size = (right - left + bottom - top) / 2 * 1.1
center = np.array([right - (right - left) / 2.0, bottom - (bottom - top) / 2.0])
size = int(old_size * 1.3)
src = np.array([[center[0] - size / 2, center[1] - size / 2], [center[0] - size / 2, center[1] + size / 2], [center[0] + size / 2, center[1] - size / 2]])
dst = np.array([[0, 0], [0, 223], [223, 0]])
tform = estimate_transform('similarity', src, dst)
crop = warp(img / 255.0, tform.inverse, output_shape=(224, 224)).astype(np.float32)
out['deca'] = {
    'landmarks': lm.tolist(), 'size': size, 'tform': tform.params.tolist(),
    'samples': [[r, c, crop[r, c].tolist()] for r, c in samples],
}

# §1.3 SMIRK crop from dense landmarks, partly outside the image (zero fill).
lm2 = np.stack([rng.uniform(-40, 260, 478), rng.uniform(200, 530, 478)], axis=1)
left, right, top, bottom = lm2[:, 0].min(), lm2[:, 0].max(), lm2[:, 1].min(), lm2[:, 1].max()
old_size = (right - left + bottom - top) / 2
center = np.array([right - (right - left) / 2.0, bottom - (bottom - top) / 2.0])
size2 = int(old_size * 1.4)
src = np.array([[center[0] - size2 / 2, center[1] - size2 / 2], [center[0] - size2 / 2, center[1] + size2 / 2], [center[0] + size2 / 2, center[1] - size2 / 2]])
tform2 = estimate_transform('similarity', src, dst)
bgr = img[:, :, ::-1]
c2 = warp(bgr, tform2.inverse, output_shape=(224, 224), preserve_range=True).astype(np.uint8)
rgb = (c2[:, :, ::-1].astype(np.float32) / 255.0)
out['smirk'] = {
    'landmarks': lm2.tolist(), 'size': size2, 'tform': tform2.params.tolist(),
    'samples': [[r, c, rgb[r, c].tolist()] for r, c in samples],
}

# §1.2 step 2: 512×512 input → resize to 512 is an identity map but not a byte identity.
ramp = np.tile(np.arange(256, dtype=np.uint8), (512, 2))[:, :512]
ramp = np.stack([ramp] * 3, axis=-1)
rt = (resize(ramp, (512, 512), anti_aliasing=True) * 255).astype(np.uint8)
out['identity_resize_changed'] = sorted(int(v) for v in range(256) if rt[0, v, 0] != v)

print(json.dumps(out))
