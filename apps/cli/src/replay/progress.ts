/** A snapshot of a long read, for the progress line. */
export interface ProgressState {
  /** Records read so far. */
  readonly read: number;
  /** Records the read covers in all, when it ends (not when following). */
  readonly total: number | undefined;
  readonly elapsedMs: number;
  /** The last offset read per partition. */
  readonly positions: ReadonlyMap<number, string>;
}

const count = (value: number): string => Math.round(value).toLocaleString('en-US');

export function formatDuration(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes}m${String(seconds % 60).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
}

/** `120,000 / 200,000 events (60%) · 58,200 events/s · p0@40012 p1@39870 · ETA 1s` */
export function formatProgress(state: ProgressState): string {
  const rate = state.elapsedMs > 0 ? (state.read * 1000) / state.elapsedMs : 0;
  const parts: string[] = [];
  if (state.total !== undefined && state.total > 0) {
    const share = Math.min(100, Math.floor((state.read * 100) / state.total));
    parts.push(`${count(state.read)} / ${count(state.total)} events (${share}%)`);
  } else {
    parts.push(`${count(state.read)} events`);
  }
  parts.push(`${count(rate)} events/s`);
  if (state.positions.size > 0) {
    const positions = [...state.positions]
      .sort(([a], [b]) => a - b)
      .map(([partition, offset]) => `p${partition}@${offset}`);
    parts.push(positions.length > 8 ? `${positions.slice(0, 8).join(' ')} …` : positions.join(' '));
  }
  if (state.total !== undefined && rate > 0 && state.read < state.total) {
    parts.push(`ETA ${formatDuration(((state.total - state.read) * 1000) / rate)}`);
  }
  return parts.join(' · ');
}

/**
 * Progress of a long replay on stderr: redrawn in place on a terminal, a line every few seconds
 * elsewhere (with --progress), nothing when neither. Stdout stays for the events.
 */
export class ProgressMeter {
  private read = 0;
  private readonly positions = new Map<number, string>();
  private readonly startedAt = performance.now();
  private lastDrawnAt = 0;
  private drawn = false;

  constructor(
    private readonly output: { write(text: string): void; readonly isTTY: boolean },
    private readonly enabled: boolean,
    private readonly total: number | undefined,
  ) {}

  advance(partition: number, lastOffset: string, records: number): void {
    this.read += records;
    this.positions.set(partition, lastOffset);
    if (!this.enabled) return;
    const now = performance.now();
    if (now - this.lastDrawnAt < (this.output.isTTY ? 200 : 2_000)) return;
    this.lastDrawnAt = now;
    this.draw(this.line(now));
  }

  /** Records read so far and how fast. */
  summary(): { read: number; elapsedMs: number; perSecond: number } {
    const elapsedMs = performance.now() - this.startedAt;
    return { read: this.read, elapsedMs, perSecond: elapsedMs > 0 ? (this.read * 1000) / elapsedMs : 0 };
  }

  /** Ends the line drawn in place and prints where the read ended. */
  finish(what = 'read'): void {
    if (!this.enabled) return;
    const { read, elapsedMs, perSecond } = this.summary();
    this.draw(`${what} ${count(read)} events in ${formatDuration(elapsedMs)} (${count(perSecond)} events/s)`);
    if (this.output.isTTY) this.output.write('\n');
  }

  private line(now: number): string {
    return formatProgress({
      read: this.read,
      total: this.total,
      elapsedMs: now - this.startedAt,
      positions: this.positions,
    });
  }

  private draw(text: string): void {
    if (this.output.isTTY) this.output.write(`\r\x1b[2K${text}`);
    else this.output.write(`${text}\n`);
    this.drawn = true;
  }

  /** Clears the line drawn in place, before something else is printed on stderr. */
  clear(): void {
    if (this.enabled && this.output.isTTY && this.drawn) this.output.write('\r\x1b[2K');
  }
}
