/**
 * A log kept to its last `limit` lines, fed with chunks as they stream in (pure).
 */
export class LogBuffer {
  constructor(readonly limit: number) {}

  /** Lines dropped from the front so far. */
  dropped = 0;

  /** Append a chunk (it may end mid-line). */
  append(chunk: string): void {
    const parts = (this._partial + chunk).split('\n');
    this._partial = parts.pop() as string;
    this._lines.push(...parts);
    const over = this._lines.length - this.limit;
    if (over > 0) {
      this._lines.splice(0, over);
      this.dropped += over;
    }
  }

  clear(): void {
    this._lines = [];
    this._partial = '';
    this.dropped = 0;
  }

  get text(): string {
    const body = this._lines.join('\n') + (this._lines.length ? '\n' : '') + this._partial;
    return this.dropped ? `… ${this.dropped} earlier lines not shown (download has them all)\n${body}` : body;
  }

  get lineCount(): number {
    return this._lines.length + (this._partial ? 1 : 0);
  }

  private _lines: string[] = [];
  private _partial = '';
}
