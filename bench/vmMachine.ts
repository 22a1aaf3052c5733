/**
 * What the machine under a writer trial does to it, told apart from what daqflow does.
 *
 * On a virtual machine two things cost a writer pulses that it cannot help:
 * - Memory the guest has never touched since it booted costs a fault in the host on its first
 *   touch (measured on the bench VM: 8.4 us per 4 KiB page cold, 0.36 us once touched). A writer
 *   at 786 MB/s takes fresh pages for its ring buffer and the page cache, so the first trials after
 *   a boot lose pulses that later ones do not. `firstTouchMicros` measures it; `warmFreeMemory`
 *   touches the free memory once, as hours of use would.
 * - The host takes the virtual CPUs back for a moment (steal time): every process of the guest
 *   stops, the sender too. `StealSampler` records when, so that a lost stretch can be matched
 *   with it.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Runs `script` in a node of its own, so that the memory it touched goes back to the kernel at its exit. */
const inChild = (script: string, timeoutMs: number): string =>
  execFileSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: timeoutMs }).trim();

/** Microseconds per 4 KiB page to touch `mib` MiB of memory new to this process. */
export const firstTouchMicros = (mib = 256): number =>
  Number(
    inChild(
      `const b = Buffer.allocUnsafeSlow(${mib} * 1048576); const t = process.hrtime.bigint();
       for (let i = 0; i < b.length; i += 4096) b[i] = 1;
       console.log(Number(process.hrtime.bigint() - t) / 1000 / (b.length / 4096));`,
      60_000,
    ),
  );

/** Touches all free memory but `keepMib` once; returns MiB touched and seconds taken. */
export const warmFreeMemory = (keepMib = 1024): { mib: number; seconds: number } => {
  const freeKib = Number(/MemFree:\s+(\d+)/.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0);
  const mib = Math.max(0, Math.floor(freeKib / 1024) - keepMib);
  const started = performance.now();
  inChild(
    `const held = []; for (let left = ${mib}; left > 0; left -= 1024) {
       const b = Buffer.allocUnsafeSlow(Math.min(1024, left) * 1048576);
       for (let i = 0; i < b.length; i += 4096) b[i] = 1; held.push(b); }
     console.log(held.length);`,
    600_000,
  );
  return { mib, seconds: (performance.now() - started) / 1_000 };
};

/** The machine's CPU ticks so far (/proc/stat): idle (with I/O wait), stolen by the host, and all. */
export const machineTicks = (): { idle: number; steal: number; total: number } => {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  return { idle: (cpu[3] ?? 0) + (cpu[4] ?? 0), steal: cpu[7] ?? 0, total: cpu.reduce((a, b) => a + b, 0) };
};

/** Steal time of the whole machine, sampled every `everyMs`, with when it came. */
export class StealSampler {
  private readonly samples: Array<{ at: number; share: number }> = [];
  private last = machineTicks();
  private readonly timer: NodeJS.Timeout;

  constructor(everyMs = 100) {
    this.timer = setInterval(() => {
      const now = machineTicks();
      const total = now.total - this.last.total;
      this.samples.push({ at: Date.now(), share: total > 0 ? (now.steal - this.last.steal) / total : 0 });
      this.last = now;
    }, everyMs);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Mean share between two times (ms since the epoch). */
  share(from: number, to: number): number {
    const inside = this.samples.filter((s) => s.at > from && s.at <= to);
    return inside.length === 0 ? Number.NaN : inside.reduce((a, s) => a + s.share, 0) / inside.length;
  }

  /** Stretches where steal was at least `threshold` of the machine, as [start, end] ms since the epoch. */
  episodes(from: number, to: number, threshold = 0.15): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    let open: [number, number] | undefined;
    for (const s of this.samples.filter((x) => x.at > from && x.at <= to)) {
      if (s.share >= threshold) {
        if (open && s.at - open[1] <= 250) open[1] = s.at;
        else out.push((open = [s.at - 100, s.at]));
      }
    }
    return out;
  }
}
