// AssemblyScript (see ../wasm-arena.ts). DECA's `util.vertex_normals` for the guidance renderer (guidance-maps.ts
// `vertexNormals` documents the convention): per face, add (v2−v1)×(v0−v1) to v1, (v0−v2)×(v1−v2) to v2 and
// (v1−v0)×(v2−v0) to v0, accumulated in float64 from the float32 vertices, then `n / max(|n|, 1e-6)` to float32.

/**
 * @param verts f32[3V] world vertices
 * @param faces i32[3F]
 * @param acc f64[3V] scratch
 * @param out f32[3V] unit normals
 */
export function vertexNormals(verts: usize, nv: i32, faces: usize, nf: i32, acc: usize, out: usize): void {
  memory.fill(acc, 0, <usize>nv * 24);
  for (let f = 0; f < nf; f++) {
    const fp = faces + <usize>f * 12;
    const a = <usize>load<i32>(fp) * 12, b = <usize>load<i32>(fp + 4) * 12, c = <usize>load<i32>(fp + 8) * 12;
    const ax = <f64>load<f32>(verts + a), ay = <f64>load<f32>(verts + a + 4), az = <f64>load<f32>(verts + a + 8);
    const bx = <f64>load<f32>(verts + b), by = <f64>load<f32>(verts + b + 4), bz = <f64>load<f32>(verts + b + 8);
    const cx = <f64>load<f32>(verts + c), cy = <f64>load<f32>(verts + c + 4), cz = <f64>load<f32>(verts + c + 8);
    // all three corner terms are the same vector (twice the area times the face normal), up to rounding
    let ux = cx - bx, uy = cy - by, uz = cz - bz, vx = ax - bx, vy = ay - by, vz = az - bz;
    accumulate(acc + (b << 1), uy * vz - uz * vy, uz * vx - ux * vz, ux * vy - uy * vx);
    ux = ax - cx; uy = ay - cy; uz = az - cz; vx = bx - cx; vy = by - cy; vz = bz - cz;
    accumulate(acc + (c << 1), uy * vz - uz * vy, uz * vx - ux * vz, ux * vy - uy * vx);
    ux = bx - ax; uy = by - ay; uz = bz - az; vx = cx - ax; vy = cy - ay; vz = cz - az;
    accumulate(acc + (a << 1), uy * vz - uz * vy, uz * vx - ux * vz, ux * vy - uy * vx);
  }
  for (let k: usize = 0, n = <usize>nv * 3; k < n; k += 3) {
    const x = load<f64>(acc + (k << 3)), y = load<f64>(acc + (k << 3) + 8), z = load<f64>(acc + (k << 3) + 16);
    const len = max(Math.sqrt(x * x + y * y + z * z), 1e-6);
    store<f32>(out + (k << 2), <f32>(x / len));
    store<f32>(out + (k << 2) + 4, <f32>(y / len));
    store<f32>(out + (k << 2) + 8, <f32>(z / len));
  }
}

@inline function accumulate(p: usize, x: f64, y: f64, z: f64): void {
  store<f64>(p, load<f64>(p) + x);
  store<f64>(p + 8, load<f64>(p + 8) + y);
  store<f64>(p + 16, load<f64>(p + 16) + z);
}
