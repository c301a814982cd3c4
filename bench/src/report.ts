import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { BenchCluster, BenchService } from './cluster';
import { cpuSeconds, mainThreadSchedule, pidsByCommandLine } from './processes';

/** A benchmark size from the environment: `fallback` when unset or empty, else a number, 0 or more. */
export function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a number, 0 or more`);
  return value;
}

const ROW = 48;
/** Prints one figure: its name in a column, then the text. */
export const row = (name: string, text: string) => console.log(`${name.padEnd(ROW)}  ${text}`);
export const header = (text: string) => console.log(`--- ${text} ---`);
export const ms = (value: number) => `${value.toFixed(1)} ms`;
/** Seconds since `start`, a performance.now() reading. */
export const since = (start: number) => (performance.now() - start) / 1000;

export interface CpuUse {
  /** CPU seconds of every thread. */
  readonly cpu: number;
  /** Seconds a Node process's main thread (its event loop) waited for a CPU while runnable. */
  readonly waiting?: number;
}

/** CPU use of the cluster's processes, the local Kafka and FerretDB if any, and this client. */
export function cpuSnapshot(
  cluster: Pick<BenchCluster<BenchService>, 'mode' | 'processes'>,
): Map<string, CpuUse> {
  const snapshot = new Map<string, CpuUse>();
  const node = (name: string, pid: number) =>
    snapshot.set(name, { cpu: cpuSeconds(pid) ?? NaN, waiting: mainThreadSchedule(pid)?.waiting ?? NaN });
  cluster.processes.forEach((service) => {
    const twins = cluster.processes.filter((other) => other.app === service.app);
    node(twins.length > 1 ? `${service.app} #${twins.indexOf(service) + 1}` : service.app, service.pid);
  });
  if (cluster.mode === 'distributed') {
    for (const [name, needle] of [
      ['FerretDB', 'ferretdb'],
      ['Kafka', 'kafka.Kafka'],
    ] as const) {
      const pids = pidsByCommandLine(needle);
      if (pids.length > 0)
        snapshot.set(name, { cpu: pids.reduce((sum, pid) => sum + (cpuSeconds(pid) ?? 0), 0) });
    }
  }
  node('bench client', process.pid);
  return snapshot;
}

/** Each process's share of a CPU between two snapshots `seconds` apart, and the load average. */
export function cpuRow(
  before: ReadonlyMap<string, CpuUse>,
  after: ReadonlyMap<string, CpuUse>,
  seconds: number,
): string {
  const percent = (value: number) => `${((value / seconds) * 100).toFixed(0)}%`;
  const used = [...after].map(([name, { cpu, waiting }]) => {
    const start = before.get(name);
    const waited =
      waiting === undefined
        ? ''
        : ` (event loop waited for a CPU ${percent(waiting - (start?.waiting ?? NaN))})`;
    return `${name} ${percent(cpu - (start?.cpu ?? NaN))}${waited}`;
  });
  return `${used.join(', ')}; load average ${loadavg()[0]!.toFixed(1)} on ${cpus().length} cores`;
}
