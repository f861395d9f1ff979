/** One of the paper's tables as a notebook display (plotly table, cited, with the metric-network note), optionally with runs as its first rows. */
import { DISPLAY, type Displayable } from '../runtime/display';
import { MIME, type MimeBundle } from '../../shared/outputs';
import { paperTableFigure } from '../metrics/display';
import { PAPER_TABLES, paperTableMarkdown, type PaperTable } from '../metrics/paper';
import type { MetricId } from '../metrics/types';

type Run = { mode: 'self' | 'cross'; summary: Partial<Record<MetricId, number>>; options?: { title?: string } };

export class PaperTableView implements Displayable {
  constructor(
    readonly table: PaperTable,
    readonly runs: readonly Run[] = [],
  ) {}

  toString(): string {
    return `${paperTableMarkdown(this.table)}\n\n${this.table.note}`;
  }

  [DISPLAY](): MimeBundle {
    const runs = this.runs.map((r, i) => ({ name: r.options?.title ?? `run ${i + 1}`, mode: r.mode, summary: r.summary }));
    return { [MIME.plot]: { title: `${this.table.table} — ${this.table.caption}`, figures: [paperTableFigure(runs, this.table)] }, 'text/plain': this.toString() };
  }
}

/** `mp.metrics.paperTable('II', report)`: the table by its number ('I', 'II', 'III'), with reports as first rows. */
export function paperTable(which: 'I' | 'II' | 'III', ...reports: { result: Run; options?: { title?: string } }[]): PaperTableView {
  const table = PAPER_TABLES.find((t) => t.table === `Table ${which}`);
  if (!table) throw new TypeError(`The paper has Tables I, II and III; got '${String(which)}'.`);
  return new PaperTableView(table, reports.map((r) => ({ ...r.result, options: r.options })));
}
