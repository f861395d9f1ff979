/**
 * The example notebooks as the installed extension offers them: read from its `notebooks/` folder (every `*.mpnb` there
 * is an example, so a new notebook appears without a list to update), described from their own first Markdown cell,
 * and copied into a workspace with the shipped inputs they use (`inputs/…`). Also the starter of *New Notebook* and the
 * parameters-cell edit of *Choose Photo and Video…*. No vscode import: tested without VS Code.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { newCodeCell, parametersCellIndex, parseNotebook, type CellData, type NotebookData } from '../kernel/host';

export interface Example {
  /** File name without `.mpnb` (the id commands take). */
  id: string;
  file: string;
  /** The first Markdown heading. */
  title: string;
  /** The first sentence of the first paragraph after it, Markdown stripped. */
  description: string;
  /** Shipped input files the notebook uses (`inputs/<name>`), in order of appearance. */
  inputs: string[];
}

/** Shown first in the pick list; the rest follow by title. */
const FIRST = 'quickstart';
const INPUT_REF = /(?<![\w/.-])inputs\/([\w][\w.-]*)/g;

export function describeExample(file: string, nb: NotebookData = parseNotebook(readFileSync(file, 'utf8'), file)): Example {
  const id = basename(file, '.mpnb');
  const firstMd = nb.cells.find((c) => c.kind === 'markdown')?.source ?? '';
  const heading = /^#\s+(.+)$/m.exec(firstMd);
  const title = heading ? heading[1]!.trim() : id;
  const afterHeading = heading ? firstMd.slice(heading.index + heading[0].length) : firstMd;
  const paragraph = afterHeading.trim().split(/\n\s*\n/)[0] ?? '';
  const plain = paragraph.replace(/\s+/g, ' ').replace(/[*_`]/g, '').trim();
  const sentence = /^.*?[.!?](?=\s|$)/.exec(plain)?.[0] ?? plain;
  const inputs: string[] = [];
  for (const c of nb.cells) for (const m of c.source.matchAll(INPUT_REF)) if (!inputs.includes(m[1]!)) inputs.push(m[1]!);
  return { id, file, title, description: sentence.length > 200 ? `${sentence.slice(0, 197)}…` : sentence, inputs };
}

/** Every notebook in `dir` (not its subfolders), the quickstart first. */
export function listExamples(dir: string): Example[] {
  const files = readdirSync(dir).filter((f) => f.endsWith('.mpnb'));
  return files
    .map((f) => describeExample(join(dir, f)))
    .sort((a, b) => (a.id === FIRST ? -1 : b.id === FIRST ? 1 : a.title.localeCompare(b.title)));
}

export interface CopiedExample {
  /** The notebook's copy (`<dest>/<id>.mpnb`, or `<id>-2.mpnb`… when that exists). */
  notebook: string;
  /** Inputs copied to `<dest>/inputs/`. */
  copied: string[];
  /** Inputs already there with the same content. */
  present: string[];
  /** Inputs already there with other content: kept (the user's), so the example uses them. */
  kept: string[];
}

/** Copies the example and the shipped inputs it uses into `dest`; never overwrites a file. */
export function copyExample(example: Example, dest: string): CopiedExample {
  mkdirSync(dest, { recursive: true });
  let notebook = join(dest, `${example.id}.mpnb`);
  for (let k = 2; existsSync(notebook); k++) notebook = join(dest, `${example.id}-${k}.mpnb`);
  const result: CopiedExample = { notebook, copied: [], present: [], kept: [] };
  const source = join(example.file, '..', 'inputs');
  for (const name of example.inputs) {
    const from = join(source, name);
    if (!existsSync(from)) continue; // a path that merely looks like one of ours (e.g. in a comment)
    const to = join(dest, 'inputs', name);
    if (!existsSync(to)) {
      mkdirSync(join(dest, 'inputs'), { recursive: true });
      copyFileSync(from, to);
      result.copied.push(name);
    } else if (readFileSync(to).equals(readFileSync(from))) result.present.push(name);
    else result.kept.push(name);
  }
  copyFileSync(example.file, notebook); // last: the notebook appears once its inputs are in place
  return result;
}

/** What *MagicPortrait: New Notebook* opens: a title, a parameters cell and a first cell that runs without files. */
export function starterNotebook(): NotebookData {
  const md = (source: string): CellData => ({ kind: 'markdown', source, language: 'markdown', id: 'cell-01', outputs: [], executionCount: null, metadata: {} });
  const cells: CellData[] = [
    md(`# MagicPortrait notebook

Cells are TypeScript, run by the **MagicPortrait** kernel; \`mp\` holds the pipeline (\`mp.flame\`, \`mp.fit\`,
\`mp.renderGuidance\`, \`mp.preview\`, \`mp.sample\`, \`mp.metrics\`…). *MagicPortrait: Open Example Notebook…* copies a
complete example into your workspace.`),
    newCodeCell(`const reference = '';  // a portrait (JPEG/PNG); empty: the demo head's portrait
const driving = '';    // a driving video; empty: the demo motion`, { tags: ['parameters'] }),
    newCodeCell(`console.log(\`MagicPortrait kernel \${mp.version} on Node \${process.version}\`);
const head = mp.flame.demoHead();
const portrait = reference ? mp.image(reference) : await mp.demo.portrait(head);
await display(portrait);`),
  ];
  cells.forEach((c, i) => (c.id = `cell-${String(i + 1).padStart(2, '0')}`));
  return { metadata: {}, cells };
}

/** Parameter names examples use for the portrait and the driving video. */
export const PHOTO_PARAMETERS = ['reference', 'portrait'] as const;
export const VIDEO_PARAMETERS = ['driving', 'drivingVideo'] as const;

/**
 * `const NAME = …;` lines of a parameters cell with new values (JSON literals), the rest of each line (a comment) kept.
 * Returns the new source and the names that were found.
 */
export function setParameters(source: string, values: Record<string, unknown>): { source: string; set: string[] } {
  const set: string[] = [];
  const out = source.replace(/^(\s*(?:const|let|var)\s+([A-Za-z_$][\w$]*)\s*=\s*)([^;\n]*)(;?)/gm, (line, head: string, name: string, old: string, semi: string) => {
    if (!(name in values)) return line;
    set.push(name);
    return `${head}${literal(values[name], old.trim())}${semi || ';'}`;
  });
  return { source: out, set };
}

/** A JSON literal, single-quoted where the value it replaces was (the notebooks' style) and that needs no escapes. */
function literal(value: unknown, old: string): string {
  const json = JSON.stringify(value);
  if (typeof value === 'string' && old.startsWith("'") && !/['\\]/.test(value) && json === `"${value}"`) return `'${value}'`;
  return json;
}

/** The parameters cell of a notebook and the photo / video parameter names it declares. */
export function inputParameters(nb: NotebookData): { index: number; photo?: string; video?: string } | null {
  const index = parametersCellIndex(nb);
  if (index < 0) return null;
  const src = nb.cells[index]!.source;
  const declared = (name: string) => new RegExp(`^\\s*(?:const|let|var)\\s+${name}\\s*=`, 'm').test(src);
  const photo = PHOTO_PARAMETERS.find(declared);
  const video = VIDEO_PARAMETERS.find(declared);
  return { index, ...(photo ? { photo } : {}), ...(video ? { video } : {}) };
}
