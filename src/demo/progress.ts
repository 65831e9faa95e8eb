/** A one-line progress bar for the demo, redrawn in place on a terminal, printed sparsely otherwise. */
export class ProgressBar {
  private lastPrinted = -1;
  constructor(
    private readonly label: string,
    private readonly total: number,
    private readonly out: NodeJS.WriteStream = process.stdout,
  ) {}

  update(done: number, detail = ''): void {
    const ratio = this.total > 0 ? Math.min(1, done / this.total) : 1;
    const percent = Math.floor(ratio * 100);
    const width = 30;
    const filled = Math.round(ratio * width);
    const line = `${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(percent).padStart(3)}% ${detail}`;
    if (this.out.isTTY) {
      this.out.write(`\r${line}`);
    } else if (percent >= this.lastPrinted + 25 || percent === 100) {
      this.out.write(`${line}\n`);
      this.lastPrinted = percent;
    }
  }

  finish(detail = ''): void {
    this.update(this.total, detail);
    if (this.out.isTTY) this.out.write('\n');
  }
}
