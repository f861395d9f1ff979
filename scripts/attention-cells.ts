// Writes notebooks/attention.mpnb from the cell list below (the notebook is the source users open; this script
// keeps it reproducible). Run: npx tsx scripts/attention-cells.ts
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { newCodeCell, serializeNotebook, type CellData } from '../src/kernel/notebook/nbformat';

const md = (source: string): CellData => ({ kind: 'markdown', source, language: 'markdown', id: '', outputs: [], executionCount: null, metadata: {} });

const cells: CellData[] = [
  md(`# Geometric Guidance Encoder attention

Renders guidance maps of the demo head, runs the Geometric Guidance Encoders over them and opens the **attention
explorer**: pick a condition (depth / normal / render), a head or the mean of the heads, and a map; click a pixel to see
where its query attends. Without your own checkpoints this uses the *untrained demo weights* (labelled as such):
point \`bundle\` at a folder made by \`importGGE\` from MagicPortrait's \`guidance_encoder_*.pth\` to see the trained
attention.`),
  newCodeCell(`// Parameters (override from the CLI with -p name=value)
const frameCount = 8;
const size = 256;
const bundle = 'demo';`, { tags: ['parameters'] }),
  newCodeCell(`const head = mp.flame.demoHead();
const guidance = await mp.renderGuidance(mp.demo.drivingSequence(head, { frames: frameCount }), { size });
await display(guidance);`),
  newCodeCell(`// Features (their sum feeds the denoising UNet) and attention; cached, so re-running returns at once.
const enc = await mp.gge(guidance, { bundle });
console.log(\`\${enc.types.join(' + ')}: \${enc.frames} frames, \${enc.channels}×\${enc.grid.height}×\${enc.grid.width} features\${enc.label ? \` (\${enc.label})\` : ''}\`);`),
  newCodeCell(`await display(enc.attention);`),
  md(`The same rows the explorer shows, from code: \`rows[(head·Q + q)·cells + key]\`, each row sums to 1.`),
  newCodeCell(`const r = await enc.attentionRows('depth', 0, [{ x: size / 2, y: size / 2 }], 'input');
const cells = r.grid.width * r.grid.height;
const mean = new Float32Array(cells);
for (let h = 0; h < r.heads; h++) for (let k = 0; k < cells; k++) mean[k] += r.rows[h * cells + k] / r.heads;
const peak = mean.indexOf(Math.max(...mean));
console.log(\`query cell \${r.queries[0].x},\${r.queries[0].y} attends most to cell \${peak % r.grid.width},\${Math.floor(peak / r.grid.width)}\`);`),
];

// Stable cell ids, so regenerating the notebook does not churn its diff.
cells.forEach((c, i) => (c.id = `cell-${String(i + 1).padStart(2, '0')}`));
writeFileSync(join(__dirname, '..', 'notebooks', 'attention.mpnb'), serializeNotebook({ metadata: {}, cells }));
console.log(`wrote notebooks/attention.mpnb (${cells.length} cells)`);
