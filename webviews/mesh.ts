/**
 * Mesh renderer: an interactive three.js view of a FLAME-structured head (orbit, shaded/wireframe, landmarks,
 * optional reference-image underlay) with sliders for the first expression components and the jaw / head pose
 * that re-pose the mesh in the renderer itself (blendshapes + LBS), so moving a slider is instant.
 */
import type { ActivationFunction } from 'vscode-notebook-renderer';
import * as THREE from 'three';
import { OrbitControls } from 'three/examples/jsm/controls/OrbitControls.js';
import { ArtifactLoader } from './shared/artifacts';
import type { ArtifactRef, MeshOutput } from '../src/shared/outputs';
import { BASE_CSS, errorBox, h, shadowMount } from './shared/dom';
import { poseRig, type Rig } from './shared/rig';

const CSS = `${BASE_CSS}
.mp-mesh { display: flex; gap: 10px; align-items: flex-start; flex-wrap: wrap; }
.mp-canvas { width: 420px; height: 420px; border: 1px solid var(--vscode-panel-border, #444); }
.mp-sliders { display: flex; flex-direction: column; gap: 3px; min-width: 260px; }
.mp-slider-row { display: flex; align-items: center; gap: 6px; }
.mp-slider-row label { width: 110px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.mp-slider-row output { width: 44px; text-align: right; font-variant-numeric: tabular-nums; }
.mp-toolbar { display: flex; gap: 6px; margin-bottom: 4px; }
`;

async function f32(loader: ArtifactLoader, ref: ArtifactRef): Promise<Float32Array> {
  const b = await loader.bytes(ref);
  return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
}

export const activate: ActivationFunction = (ctx) => {
  const loader = new ArtifactLoader(ctx);
  return {
    async renderOutputItem(item, element) {
      const root = shadowMount(element, CSS);
      const m = item.json() as MeshOutput;
      const title = h('div', { class: 'mp-title' }, m.title);
      if (m.label) title.append(h('span', { class: 'mp-label' }, m.label));
      root.append(title);
      let rig: Rig;
      let faces: Uint32Array;
      try {
        const [base, exprBasis, weights, facesBytes] = await Promise.all([
          f32(loader, m.arrays.base),
          f32(loader, m.arrays.exprBasis),
          f32(loader, m.arrays.weights),
          loader.bytes(m.arrays.faces),
        ]);
        faces = new Uint32Array(facesBytes.buffer, facesBytes.byteOffset, facesBytes.byteLength / 4);
        rig = { base, exprBasis, exprCount: m.exprCount, joints: Float32Array.from(m.joints), parents: Int32Array.from(m.parents), weights };
      } catch (e) {
        return errorBox(root, `Cannot load the mesh: ${(e as Error).message}`);
      }

      const canvasHost = h('div', { class: 'mp-canvas' });
      const sliders = h('div', { class: 'mp-sliders' });
      const wireBtn = h('button', { class: 'mp-wire' }, 'Wireframe');
      const lmkBtn = h('button', { class: 'mp-lmk' }, 'Landmarks');
      const resetBtn = h('button', { class: 'mp-reset' }, 'Reset');
      root.append(h('div', { class: 'mp-toolbar' }, wireBtn, lmkBtn, resetBtn), h('div', { class: 'mp-mesh' }, canvasHost, sliders));

      const renderer = new THREE.WebGLRenderer({ antialias: true, preserveDrawingBuffer: true });
      renderer.setPixelRatio(window.devicePixelRatio || 1);
      renderer.setSize(420, 420);
      canvasHost.append(renderer.domElement);
      renderer.domElement.classList.add('mp-mesh-canvas');
      const scene = new THREE.Scene();
      scene.background = new THREE.Color(0x1e1e1e);
      const camera = new THREE.PerspectiveCamera(30, 1, 0.01, 100);
      scene.add(new THREE.HemisphereLight(0xffffff, 0x404050, 1.2));
      const key = new THREE.DirectionalLight(0xffffff, 1.6);
      key.position.set(0.5, 0.6, 1);
      scene.add(key);

      const positions = new Float32Array(rig.base.length);
      const geometry = new THREE.BufferGeometry();
      geometry.setAttribute('position', new THREE.BufferAttribute(positions, 3));
      geometry.setIndex(new THREE.BufferAttribute(faces, 1));
      const material = new THREE.MeshStandardMaterial({ color: 0xd9b8a0, roughness: 0.7, metalness: 0, side: THREE.DoubleSide });
      const mesh = new THREE.Mesh(geometry, material);
      scene.add(mesh);
      const lmkCount = m.landmarks ? m.landmarks.faces.length : 0;
      const lmkPositions = new Float32Array(lmkCount * 3);
      const lmkGeom = new THREE.BufferGeometry();
      lmkGeom.setAttribute('position', new THREE.BufferAttribute(lmkPositions, 3));
      const lmkPoints = new THREE.Points(lmkGeom, new THREE.PointsMaterial({ color: 0x30e030, size: 4, sizeAttenuation: false, depthTest: false }));
      lmkPoints.visible = lmkCount > 0;
      scene.add(lmkPoints);

      const expr = m.expression.slice(0, m.exprCount);
      while (expr.length < Math.min(m.exprCount, 10)) expr.push(0);
      const pose = m.pose.slice();
      const initial = { expr: expr.slice(), pose: pose.slice() };
      const update = () => {
        poseRig(rig, expr, pose, positions);
        geometry.attributes.position!.needsUpdate = true;
        geometry.computeVertexNormals();
        if (m.landmarks)
          for (let l = 0; l < lmkCount; l++) {
            const f = m.landmarks.faces[l]!;
            for (let a = 0; a < 3; a++) {
              let s = 0;
              for (let c = 0; c < 3; c++) s += m.landmarks.bary[3 * l + c]! * positions[3 * faces[3 * f + c]! + a]!;
              lmkPositions[3 * l + a] = s;
            }
          }
        lmkGeom.attributes.position!.needsUpdate = true;
        renderer.render(scene, camera);
      };
      update();
      geometry.computeBoundingSphere();
      const bs = geometry.boundingSphere!;
      camera.position.set(bs.center.x, bs.center.y, bs.center.z + bs.radius * 4);
      const controls = new OrbitControls(camera, renderer.domElement);
      controls.target.copy(bs.center);
      controls.update();
      controls.addEventListener('change', () => renderer.render(scene, camera));
      // The first frame was drawn before the camera was placed.
      renderer.render(scene, camera);

      const rows: (() => void)[] = [];
      const addSlider = (label: string, get: () => number, set: (v: number) => void, min: number, max: number, cls: string) => {
        const input = h('input', { type: 'range', min: String(min), max: String(max), step: '0.01', value: String(get()), class: cls });
        const out = h('output', {}, get().toFixed(2));
        input.addEventListener('input', () => {
          set(Number(input.value));
          out.textContent = Number(input.value).toFixed(2);
          update();
        });
        rows.push(() => {
          input.value = String(get());
          out.textContent = get().toFixed(2);
        });
        sliders.append(h('div', { class: 'mp-slider-row' }, h('label', { title: label }, label), input, out));
      };
      const jaw = m.jawJoint ?? 2;
      addSlider('jaw (pose)', () => pose[3 * jaw]!, (v) => (pose[3 * jaw] = v), 0, 0.5, 'mp-slider-jaw');
      addSlider('head yaw', () => pose[1]!, (v) => (pose[1] = v), -0.8, 0.8, 'mp-slider-yaw');
      addSlider('head pitch', () => pose[0]!, (v) => (pose[0] = v), -0.5, 0.5, 'mp-slider-pitch');
      for (let k = 0; k < expr.length; k++)
        addSlider(m.exprNames?.[k] ?? `expression ${k + 1}`, () => expr[k]!, (v) => (expr[k] = v), -3, 3, `mp-slider-expr-${k}`);
      wireBtn.addEventListener('click', () => {
        material.wireframe = !material.wireframe;
        renderer.render(scene, camera);
      });
      lmkBtn.addEventListener('click', () => {
        lmkPoints.visible = !lmkPoints.visible && lmkCount > 0;
        renderer.render(scene, camera);
      });
      resetBtn.addEventListener('click', () => {
        expr.splice(0, expr.length, ...initial.expr);
        pose.splice(0, pose.length, ...initial.pose);
        rows.forEach((r) => r());
        update();
      });
    },
  };
};
