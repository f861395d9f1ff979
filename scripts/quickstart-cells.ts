// Writes notebooks/quickstart.mpnb from the cell list below (the notebook is the source users open; this script
// keeps it reproducible). Run: npx tsx scripts/quickstart-cells.ts
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { newCodeCell, serializeNotebook, type CellData } from '../src/kernel/notebook/nbformat';

const md = (source: string): CellData => ({ kind: 'markdown', source, language: 'markdown', id: '', outputs: [], executionCount: null, metadata: {} });

const cells: CellData[] = [
  md(`# MagicPortrait quickstart

Each cell runs one stage of the pipeline in the **MagicPortrait** kernel (TypeScript; the \`mp\` object holds the stages).
Out of the box it uses the built-in *demo head* and untrained demo weights, so it runs without any downloads; point the
parameters at your own portrait, driving video and checkpoints to run the real method.`),
  newCodeCell(`// Parameters (override from the CLI with -p name=value)
const frameCount = 48;
const size = 128;`, { tags: ['parameters'] }),
  newCodeCell(`console.log(\`MagicPortrait kernel \${mp.version} on Node \${process.version}\`);`),
  md(`## The head model
The built-in demo head has FLAME's structure (shape and expression blendshapes, 5 joints with skinning weights, a
68-landmark embedding with a dynamic contour, UVs). Drag to orbit; the sliders re-pose it live. Point \`mp.flame.load\`
at a FLAME 2020 folder to use the real model.`),
  newCodeCell(`const head = mp.flame.demoHead();
await display(mp.flame.view(head, { title: 'Built-in demo head' }));`),
  newCodeCell(`// A synthetic driving sequence with live progress.
const progress = mp.progress('Generating frames', frameCount, 'frames');
const frames = [];
for (let k = 0; k < frameCount; k++) {
  const data = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      const i = 3 * (y * size + x);
      const r = Math.hypot(x - size / 2 - (size / 4) * Math.cos((2 * Math.PI * k) / frameCount), y - size / 2);
      data[i] = r < size / 5 ? 230 : 20;
      data[i + 1] = (x * 2) & 255;
      data[i + 2] = (y * 2) & 255;
    }
  frames.push({ width: size, height: size, channels: 3 as const, data });
  progress.tick();
  await mp.sleep(5);
}
progress.finish();
frames.length`),
  newCodeCell(`await display(mp.frames([{ name: 'synthetic', frames }], { title: 'Synthetic sequence', fps: 24 }));`),
];

// Stable cell ids, so regenerating the notebook does not churn its diff.
cells.forEach((c, i) => (c.id = `cell-${String(i + 1).padStart(2, '0')}`));
writeFileSync(join(__dirname, '..', 'notebooks', 'quickstart.mpnb'), serializeNotebook({ metadata: {}, cells }));
console.log(`wrote notebooks/quickstart.mpnb (${cells.length} cells)`);
