/** Small DOM helpers shared by the renderers (no framework: renderers must load fast inside the output webview). */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Partial<Record<string, string>> = {},
  ...children: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) if (v !== undefined) el.setAttribute(k, v);
  for (const c of children) el.append(c);
  return el;
}

/** Renders into a shadow root so notebook styles and ours do not leak into each other. */
export function shadowMount(element: HTMLElement, css: string): ShadowRoot {
  const root = element.shadowRoot ?? element.attachShadow({ mode: 'open' });
  root.replaceChildren();
  const style = document.createElement('style');
  style.textContent = css;
  root.append(style);
  return root;
}

export function errorBox(root: ParentNode, message: string): void {
  root.append(h('div', { class: 'mp-error' }, message));
}

export const BASE_CSS = `
:host { display: block; font-family: var(--vscode-font-family, sans-serif); font-size: 12px; color: var(--vscode-foreground, #ccc); }
.mp-error { color: var(--vscode-errorForeground, #f48771); padding: 4px 0; }
.mp-label { display: inline-block; padding: 1px 6px; border-radius: 3px; background: var(--vscode-badge-background, #4d4d4d); color: var(--vscode-badge-foreground, #fff); font-size: 11px; margin-left: 6px; }
button { background: var(--vscode-button-background, #0e639c); color: var(--vscode-button-foreground, #fff); border: 0; padding: 3px 10px; cursor: pointer; border-radius: 2px; }
input[type=range] { flex: 1; }
`;
