/**
 * Live progress for long stages: a display that is created once and then updated in place (throttled), rendered
 * as a bar with counts and ETA by our progress renderer, with a plain-text fallback.
 */
import { MIME, type MimeBundle, type ProgressState } from '../../shared/outputs';



export type ProgressSink = (bundle: MimeBundle, first: boolean) => void;

export class Progress {
  private done = 0;
  private readonly started = Date.now();
  private lastSent = 0;
  private sentOnce = false;
  private finished = false;
  private detail = '';

  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly sink: ProgressSink,
    private readonly unit = '',
    private readonly throttleMs = 100,
  ) {
    this.send(true);
  }

  /**
   * Names the current phase (e.g. 'step 3/20, window 1/2'), shown after the label. A new phase is sent at once, not
   * throttled, so short phases on a fast machine are still seen.
   */
  setDetail(detail: string): void {
    if (detail === this.detail) return;
    this.detail = detail;
    if (!this.finished) this.send(false);
  }

  /** Advances by n (default 1). */
  tick(n = 1): void {
    this.update(this.done + n);
  }

  update(done: number): void {
    this.done = Math.min(done, this.total);
    const now = Date.now();
    if (now - this.lastSent >= this.throttleMs || this.done === this.total) this.send(false);
  }

  finish(failed?: string): void {
    if (this.finished) return;
    this.finished = true;
    this.send(false, failed);
  }

  state(failed?: string): ProgressState {
    const elapsedMs = Date.now() - this.started;
    const rate = this.done > 0 ? elapsedMs / this.done : null;
    return {
      label: this.detail ? `${this.label}: ${this.detail}` : this.label,
      done: this.done,
      total: this.total,
      unit: this.unit,
      elapsedMs,
      etaMs: rate === null || this.finished ? (this.finished ? 0 : null) : Math.round(rate * (this.total - this.done)),
      finished: this.finished,
      ...(failed ? { failed } : {}),
    };
  }

  private send(first: boolean, failed?: string): void {
    this.lastSent = Date.now();
    const s = this.state(failed);
    this.sink({ [MIME.progress]: s, 'text/plain': progressText(s) }, first && !this.sentOnce);
    this.sentOnce = true;
  }
}

export function progressText(s: ProgressState): string {
  const pct = s.total > 0 ? Math.floor((100 * s.done) / s.total) : 0;
  const eta = s.finished ? `done in ${fmt(s.elapsedMs)}` : s.etaMs === null ? '' : `ETA ${fmt(s.etaMs)}`;
  return `${s.label}: ${s.done}/${s.total}${s.unit ? ' ' + s.unit : ''} (${pct}%) ${s.failed ? 'stopped: ' + s.failed : eta}`.trim();
}

function fmt(ms: number): string {
  return ms < 1000 ? `${ms} ms` : ms < 60_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}
