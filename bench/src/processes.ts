import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, GrpcTestClient, REPOSITORY_ROOT, services } from '@tandem/harness';

/** grpc.health.v1.HealthCheckResponse.ServingStatus.SERVING */
const SERVING = 1;

/** A Tandem service process a benchmark started, with its pid for reading /proc. */
export interface BenchProcess {
  readonly app: string;
  readonly address: string;
  readonly pid: number;
  /** The last 64 KiB the process printed, for diagnosing a failure. */
  output(): string;
  /** SIGTERM, then SIGKILL when it has not exited after `graceMs`; resolves with the exit code. */
  stop(graceMs?: number): Promise<number | null>;
}

function portOpen(address: string): Promise<boolean> {
  const [host, port] = address.split(':') as [string, string];
  return new Promise((done) => {
    const socket = connect({ host, port: Number(port) });
    socket.once('connect', () => {
      socket.destroy();
      done(true);
    });
    socket.once('error', () => done(false));
  });
}

/**
 * Starts `dist/apps/<app>/src/main.js` like startServiceProcess of @tandem/harness, with only
 * `env` and PATH, but logging at warn by default: it waits for grpc.health.v1 SERVING instead of
 * the "tandem is serving" info line (which warn suppresses), and it exposes the pid
 * (ServiceProcess has none) so that the benchmark reads the process's CPU and memory.
 */
export async function startBenchProcess(
  app: string,
  env: Readonly<Record<string, string>>,
  timeoutMs = 120_000,
): Promise<BenchProcess> {
  const main = resolve(REPOSITORY_ROOT, 'dist', 'apps', app, 'src', 'main.js');
  if (!existsSync(main)) throw new Error(`${main} is missing: build first`);
  const address = `127.0.0.1:${await freePort()}`;
  const child: ChildProcess = spawn(process.execPath, [main], {
    env: {
      PATH: process.env['PATH'] ?? '',
      TANDEM_GRPC_ADDRESS: address,
      TANDEM_LOG_LEVEL: 'warn',
      // e.g. "--cpu-prof --cpu-prof-dir=/tmp/profiles" to profile the services under load
      ...(process.env['TANDEM_BENCH_NODE_OPTIONS']
        ? { NODE_OPTIONS: process.env['TANDEM_BENCH_NODE_OPTIONS'] }
        : {}),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-64 * 1024);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let exited = false;
  const exit = new Promise<number | null>((done) =>
    child.once('exit', (code) => {
      exited = true;
      done(code);
    }),
  );

  const deadline = Date.now() + timeoutMs;
  const check = () => {
    if (exited) throw new Error(`${app} exited before serving:\n${output}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${app} did not serve in ${timeoutMs} ms:\n${output}`);
    }
  };
  // The gRPC server listens only once the workers run; a channel opened before that would back off.
  while (!(await portOpen(address))) {
    check();
    await sleep(100);
  }
  const health = new GrpcTestClient(address, services.health);
  try {
    for (;;) {
      const reply = await health
        .call<{ status: number }>('Check', { service: '' })
        .catch(() => ({ status: 0 }));
      if (reply.status === SERVING) break;
      check();
      await sleep(100);
    }
  } finally {
    health.close();
  }

  return {
    app,
    address,
    pid: child.pid!,
    output: () => output,
    async stop(graceMs = 30_000) {
      if (exited) return exit;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const code = await exit;
      clearTimeout(timer);
      return code;
    },
  };
}

let clockTicks: number | undefined;

/** CPU time (user + system) a process has used so far, in seconds; undefined once it is gone. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / clockTicks;
  } catch {
    return undefined;
  }
}

/**
 * How long a process's main thread (for Node the event loop) has run on a CPU and waited for one
 * while runnable, in seconds (/proc/<pid>/schedstat); undefined once it is gone.
 */
export function mainThreadSchedule(pid: number): { running: number; waiting: number } | undefined {
  try {
    const [running, waiting] = readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ').map(Number);
    return { running: running! / 1e9, waiting: waiting! / 1e9 };
  } catch {
    return undefined;
  }
}

/** A process's resident memory now and its peak (VmRSS, VmHWM), in bytes. */
export function memoryOf(pid: number | 'self'): { rss: number; peak: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (field: string) =>
      Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { rss: kib('VmRSS') * 1024, peak: kib('VmHWM') * 1024 };
  } catch {
    return undefined;
  }
}

/** The pids of the processes whose command line contains `needle`, e.g. a local FerretDB. */
export function pidsByCommandLine(needle: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').replaceAll('\0', ' ').includes(needle)) {
        pids.push(Number(name));
      }
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

export const mib = (bytes: number | undefined): string =>
  bytes === undefined || Number.isNaN(bytes) ? '?' : `${(bytes / 2 ** 20).toFixed(0)} MiB`;
