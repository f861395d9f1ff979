/**
 * Import rules of the code base, checked by dependency-cruiser in `npm test` (scripts/test.mjs) and on its own with
 * `npm run check:imports`. The layers, lowest first (CONTRIBUTING.md, "Layout"):
 *
 *   src/shared/            message types that cross a process boundary (kernel ↔ extension ↔ webviews); imports nothing
 *   base                   src/kernel/{io,onnx}/, src/kernel/{errors,version,settings,task,workers}.ts
 *   domain                 src/kernel/{data,diffusion,fit,flame,gge,metrics,models,perception,preview,render,train}/: pure,
 *                          they take { signal, onProgress } and return data
 *   runtime                src/kernel/runtime/: cell execution, display protocol, artifacts, IPC
 *   stage layer            src/kernel/pipeline/: the only code that touches the running cell
 *   top                    src/kernel/{mp,main,host}.ts, src/kernel/cli/, src/kernel/notebook/
 *
 * A layer imports only layers below it. The extension reaches the kernel through src/kernel/host.ts alone; the
 * webviews import types from src/shared/ alone.
 */
const DOMAIN = '^src/kernel/(data|diffusion|fit|flame|gge|metrics|models|perception|preview|render|train)/';
const BASE = '^src/kernel/(io|onnx)/|^src/kernel/(errors|version|settings|task|workers)\\.ts$';
const RUNTIME = '^src/kernel/runtime/';
const STAGES = '^src/kernel/pipeline/';
const TOP = '^src/kernel/(mp|main|host)\\.ts$|^src/kernel/(cli|notebook)/';

module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      severity: 'error',
      comment: 'Modules form no import cycle (type-only imports included).',
      from: {},
      to: { circular: true },
    },
    {
      name: 'base-stays-below-domain',
      severity: 'error',
      comment: 'io/ and onnx/ are the base every area builds on: they never import an area, the runtime, the stages or the top.',
      from: { path: BASE },
      to: { path: [DOMAIN, RUNTIME, STAGES, TOP] },
    },
    {
      name: 'domain-is-pure',
      severity: 'error',
      comment: 'Domain folders take { signal, onProgress } and return data: they never import the cell runtime, the stage layer or the top.',
      from: { path: DOMAIN },
      to: { path: [RUNTIME, STAGES, TOP] },
    },
    {
      name: 'runtime-stays-below-stages',
      severity: 'error',
      comment: 'The cell runtime knows no stage, no area and not the mp table (the kernel entry point wires them).',
      from: { path: RUNTIME },
      to: { path: [DOMAIN, STAGES, TOP] },
    },
    {
      name: 'stages-stay-below-top',
      severity: 'error',
      comment: 'Stages do not import the mp table, the entry points, the CLI or the notebook runner.',
      from: { path: STAGES },
      to: { path: TOP },
    },
    {
      name: 'kernel-not-to-host-or-browser',
      severity: 'error',
      comment: 'The kernel never imports vscode, the extension or webview code.',
      from: { path: '^src/(kernel|shared)/' },
      to: { path: ['^src/extension/', '^webviews/', '^vscode$'] },
    },
    {
      name: 'extension-through-host-api',
      severity: 'error',
      comment: 'The extension uses the kernel only through src/kernel/host.ts (and the shared message types).',
      from: { path: '^src/extension/' },
      to: { path: '^src/kernel/', pathNot: '^src/kernel/host\\.ts$' },
    },
    {
      name: 'webviews-import-shared-types-only',
      severity: 'error',
      comment: 'Renderers and panels run in the browser: from src/ they import types from src/shared/ alone.',
      from: { path: '^webviews/' },
      to: { path: '^src/', pathNot: '^src/shared/' },
    },
    {
      name: 'webviews-shared-is-type-only',
      severity: 'error',
      comment: 'What webviews take from src/shared/ is types (nothing of it is bundled into the browser code).',
      from: { path: '^webviews/' },
      to: { path: '^src/shared/', dependencyTypesNot: ['type-only'] },
    },
    {
      name: 'shared-is-a-leaf',
      severity: 'error',
      comment: 'src/shared/ holds plain message types: it imports nothing outside itself.',
      from: { path: '^src/shared/' },
      to: { pathNot: '^src/shared/' },
    },
    {
      name: 'not-to-tests',
      severity: 'error',
      comment: 'Shipped code never imports tests, benchmarks or scripts.',
      from: { path: '^(src|webviews)/' },
      to: { path: '^(test|bench|scripts)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: ['^src/kernel/render/assembly/', 'node_modules'] },
    // type-only imports count: a type cycle is a design cycle too
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'] },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
