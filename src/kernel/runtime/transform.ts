/**
 * Turns a TypeScript cell into a script with REPL semantics:
 * - top-level declarations (const/let/var, function, class, import) become assignments to globals, so they persist
 *   across cells and re-running `const x = …` simply replaces x;
 * - the body runs inside an async function, so top-level `await` works;
 * - the value of a trailing expression statement is returned (and displayed, as a REPL does);
 * - a source map lets stack traces point at the cell's own lines.
 */
import ts from 'typescript';

export interface TransformedCell {
  /** JavaScript to run with `vm.runInThisContext`; evaluates to a Promise of the cell's value. */
  code: string;
  /** Top-level names the cell declares (for completion and diagnostics). */
  declared: string[];
  /** Maps a (line, column) of `code` (1-based line, 0-based column) to the cell's own line, or null. */
  mapLine(line: number, column: number): number | null;
  /** True when the cell ends with an expression whose value should be displayed. */
  returnsValue: boolean;
}

/** Runtime helper names the transformed code calls; the executor installs them on globalThis. */
export const IMPORT_HELPER = '__mp_import';

const PREFIX = '(async () => {';

export function transformCell(source: string, fileName = 'cell.ts'): TransformedCell {
  const declared: string[] = [];
  let returnsValue = false;
  const transformer: ts.TransformerFactory<ts.SourceFile> = (context) => (sf) => {
    const f = context.factory;
    const hoisted: ts.Statement[] = [];
    const body: ts.Statement[] = [];
    const statements = sf.statements;
    statements.forEach((stmt, index) => {
      const isLast = index === statements.length - 1;
      if (ts.isImportDeclaration(stmt)) {
        body.push(...rewriteImport(f, stmt, declared));
      } else if (ts.isVariableStatement(stmt) && !hasDeclareModifier(stmt)) {
        for (const decl of stmt.declarationList.declarations) {
          collectBindingNames(decl.name, declared);
          const init = decl.initializer ?? f.createIdentifier('undefined');
          if (!decl.initializer && !(stmt.declarationList.flags & (ts.NodeFlags.Let | ts.NodeFlags.Const))) continue;
          body.push(
            ts.setTextRange(
              f.createExpressionStatement(f.createParenthesizedExpression(f.createAssignment(bindingToTarget(f, decl.name), init))),
              decl,
            ),
          );
        }
      } else if (ts.isFunctionDeclaration(stmt) && stmt.name && stmt.body) {
        declared.push(stmt.name.text);
        const fn = f.createFunctionExpression(
          stmt.modifiers?.filter((m) => m.kind === ts.SyntaxKind.AsyncKeyword) as ts.Modifier[] | undefined,
          stmt.asteriskToken,
          stmt.name,
          stmt.typeParameters,
          stmt.parameters,
          stmt.type,
          stmt.body,
        );
        // Functions are hoisted, as in a normal script: callable from earlier lines of the same cell.
        hoisted.push(ts.setTextRange(f.createExpressionStatement(f.createAssignment(f.createIdentifier(stmt.name.text), fn)), stmt));
      } else if (ts.isClassDeclaration(stmt) && stmt.name) {
        declared.push(stmt.name.text);
        const cls = f.createClassExpression(
          stmt.modifiers?.filter((m) => m.kind !== ts.SyntaxKind.ExportKeyword && m.kind !== ts.SyntaxKind.DefaultKeyword) as
            | ts.ModifierLike[]
            | undefined,
          stmt.name,
          stmt.typeParameters,
          stmt.heritageClauses,
          stmt.members,
        );
        body.push(ts.setTextRange(f.createExpressionStatement(f.createAssignment(f.createIdentifier(stmt.name.text), cls)), stmt));
      } else if (ts.isExportAssignment(stmt)) {
        body.push(f.createExpressionStatement(stmt.expression));
      } else if (isLast && ts.isExpressionStatement(stmt)) {
        returnsValue = true;
        body.push(ts.setTextRange(f.createReturnStatement(stmt.expression), stmt));
      } else {
        body.push(stmt);
      }
    });
    return f.updateSourceFile(sf, [...hoisted, ...body]);
  };

  const out = ts.transpileModule(source, {
    fileName,
    reportDiagnostics: true,
    compilerOptions: {
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.ESNext,
      sourceMap: true,
      inlineSources: false,
      removeComments: false,
      useDefineForClassFields: true,
    },
    transformers: { before: [dynamicImports, transformer] },
  });
  const syntaxErrors = (out.diagnostics ?? []).filter((d) => d.category === ts.DiagnosticCategory.Error && isSyntaxError(d));
  if (syntaxErrors.length) throw cellSyntaxError(syntaxErrors[0]!, source);

  // The module emit may add `export {};`; a cell is not a module.
  const js = out.outputText.replace(/^export \{\};?\s*$/m, '').replace(/\/\/# sourceMappingURL=.*$/m, '');
  const map = decodeSourceMap(out.sourceMapText ?? '');
  const code = `${PREFIX}${js}\n})()`;
  return {
    code,
    declared,
    returnsValue,
    mapLine: (line, column) => {
      // Line 1 carries the wrapper prefix before the cell's first line.
      const col = line === 1 ? Math.max(0, column - PREFIX.length) : column;
      return map(line - 1, col);
    },
  };
}

/**
 * `import(x)` anywhere in the cell → `__mp_import(x)`: a script run by `vm` has no module loader of its own, so a bare
 * dynamic import would fail ("A dynamic import callback was not specified").
 */
const dynamicImports: ts.TransformerFactory<ts.SourceFile> = (context) => (sf) => {
  const f = context.factory;
  const visit = (node: ts.Node): ts.Node => {
    if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const args = ts.visitNodes(node.arguments, visit) as ts.NodeArray<ts.Expression>;
      return f.updateCallExpression(node, f.createIdentifier(IMPORT_HELPER), undefined, args.slice(0, 1));
    }
    return ts.visitEachChild(node, visit, context);
  };
  return ts.visitNode(sf, visit) as ts.SourceFile;
};

function hasDeclareModifier(stmt: ts.VariableStatement): boolean {
  return !!stmt.modifiers?.some((m) => m.kind === ts.SyntaxKind.DeclareKeyword);
}

function collectBindingNames(name: ts.BindingName, out: string[]): void {
  if (ts.isIdentifier(name)) out.push(name.text);
  else for (const el of name.elements) if (!ts.isOmittedExpression(el)) collectBindingNames(el.name, out);
}

/** A binding pattern as an assignment target: `{a, b: [c], ...d}` → the same shape as an expression. */
function bindingToTarget(f: ts.NodeFactory, name: ts.BindingName): ts.Expression {
  if (ts.isIdentifier(name)) return f.createIdentifier(name.text);
  if (ts.isObjectBindingPattern(name)) {
    return f.createObjectLiteralExpression(
      name.elements.map((el) => {
        const target = bindingToTarget(f, el.name);
        const withDefault = el.initializer ? f.createAssignment(target, el.initializer) : target;
        if (el.dotDotDotToken) return f.createSpreadAssignment(target);
        if (!el.propertyName && ts.isIdentifier(el.name))
          return el.initializer
            ? f.createShorthandPropertyAssignment(el.name.text, el.initializer)
            : f.createShorthandPropertyAssignment(el.name.text);
        const key = el.propertyName ?? f.createIdentifier((el.name as ts.Identifier).text);
        return f.createPropertyAssignment(key as ts.PropertyName, withDefault);
      }),
    );
  }
  return f.createArrayLiteralExpression(
    name.elements.map((el) => {
      if (ts.isOmittedExpression(el)) return f.createOmittedExpression();
      const target = bindingToTarget(f, el.name);
      if (el.dotDotDotToken) return f.createSpreadElement(target);
      return el.initializer ? f.createAssignment(target, el.initializer) : target;
    }),
  );
}

/** `import x, {a as b} from 'm'` → `({default: x, a: b} = await __mp_import('m'))`. */
function rewriteImport(f: ts.NodeFactory, stmt: ts.ImportDeclaration, declared: string[]): ts.Statement[] {
  const spec = (stmt.moduleSpecifier as ts.StringLiteral).text;
  const load = f.createAwaitExpression(f.createCallExpression(f.createIdentifier(IMPORT_HELPER), undefined, [f.createStringLiteral(spec)]));
  const clause = stmt.importClause;
  if (!clause) return [f.createExpressionStatement(load)];
  if (clause.isTypeOnly) return [];
  const props: ts.ObjectLiteralElementLike[] = [];
  const out: ts.Statement[] = [];
  if (clause.name) {
    declared.push(clause.name.text);
    props.push(f.createPropertyAssignment('default', f.createIdentifier(clause.name.text)));
  }
  const nb = clause.namedBindings;
  if (nb && ts.isNamespaceImport(nb)) {
    declared.push(nb.name.text);
    out.push(f.createExpressionStatement(f.createAssignment(f.createIdentifier(nb.name.text), load)));
  } else if (nb) {
    for (const el of nb.elements) {
      if (el.isTypeOnly) continue;
      declared.push(el.name.text);
      props.push(f.createPropertyAssignment(el.propertyName ?? el.name.text, f.createIdentifier(el.name.text)));
    }
  }
  if (props.length)
    out.push(
      f.createExpressionStatement(
        f.createParenthesizedExpression(f.createAssignment(f.createObjectLiteralExpression(props), load)),
      ),
    );
  return out.map((s) => ts.setTextRange(s, stmt));
}

function isSyntaxError(d: ts.Diagnostic): boolean {
  // transpileModule reports only syntactic diagnostics plus a few option checks; 'return' outside a function is
  // ours (we add it), and 'await' at top level is allowed by the wrapper.
  return ![1108, 1375, 1378, 1431, 1432].includes(d.code);
}

export class CellSyntaxError extends SyntaxError {
  constructor(
    message: string,
    readonly line: number,
    readonly column: number,
  ) {
    super(message);
    this.name = 'SyntaxError';
  }
}

function cellSyntaxError(d: ts.Diagnostic, source: string): CellSyntaxError {
  const text = ts.flattenDiagnosticMessageText(d.messageText, '\n');
  const pos = d.start ?? 0;
  const before = source.slice(0, pos);
  const line = before.split('\n').length;
  const column = pos - before.lastIndexOf('\n');
  return new CellSyntaxError(`${text} (cell line ${line}, column ${column})`, line, column);
}

/** Decodes a v3 source map into a lookup from generated (line0, col0) to original 1-based line. */
function decodeSourceMap(text: string): (line0: number, col0: number) => number | null {
  if (!text) return () => null;
  const { mappings } = JSON.parse(text) as { mappings: string };
  const lines: { col: number; srcLine: number }[][] = [];
  let srcLine = 0;
  let srcCol = 0;
  let srcIdx = 0;
  for (const lineText of mappings.split(';')) {
    const segs: { col: number; srcLine: number }[] = [];
    let col = 0;
    if (lineText)
      for (const seg of lineText.split(',')) {
        const v = decodeVlq(seg);
        col += v[0] ?? 0;
        if (v.length >= 4) {
          srcIdx += v[1]!;
          srcLine += v[2]!;
          srcCol += v[3]!;
          segs.push({ col, srcLine });
        }
      }
    lines.push(segs);
  }
  void srcIdx;
  void srcCol;
  return (line0, col0) => {
    // Use the last segment at or before the column; else the nearest earlier line with a mapping.
    for (let l = line0; l >= 0; l--) {
      const segs = lines[l];
      if (!segs || !segs.length) continue;
      let best = l === line0 ? null : segs[segs.length - 1]!;
      if (l === line0) for (const s of segs) if (s.col <= col0) best = s;
      if (!best && l === line0) best = segs[0]!;
      if (best) return best.srcLine + 1;
    }
    return null;
  };
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
function decodeVlq(seg: string): number[] {
  const out: number[] = [];
  let value = 0;
  let shift = 0;
  for (const ch of seg) {
    const digit = B64.indexOf(ch);
    value += (digit & 31) << shift;
    if (digit & 32) shift += 5;
    else {
      out.push(value & 1 ? -(value >>> 1) : value >>> 1);
      value = 0;
      shift = 0;
    }
  }
  return out;
}
