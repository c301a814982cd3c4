import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { REPOSITORY_ROOT } from './repository';

const DIST = resolve(REPOSITORY_ROOT, 'dist');

/** A Tandem service running as its own process, as it runs in production. */
export interface ServiceProcess {
  readonly app: string;
  readonly address: string;
  /** Everything the process printed, for diagnosing a failed test. */
  output(): string;
  /** Sends a signal and waits for the exit; resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** A port nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolvePort(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/**
 * Starts `dist/apps/<app>/src/main.js` (built by `npm run build`) with the given environment and
 * waits until it logs that it is serving; one that does not serve within `timeoutMs` is killed.
 * Only the given variables and PATH reach the process, so a test decides exactly whether it runs
 * embedded or distributed.
 */
export async function startServiceProcess(
  app: string,
  env: Readonly<Record<string, string>>,
  timeoutMs = 60_000,
): Promise<ServiceProcess> {
  const main = resolve(DIST, 'apps', app, 'src', 'main.js');
  if (!existsSync(main)) throw new Error(`${main} is missing: run "npm run build" first`);
  const port = await freePort();
  const address = `127.0.0.1:${port}`;
  const child: ChildProcess = spawn(process.execPath, [main], {
    env: { PATH: process.env['PATH'] ?? '', TANDEM_GRPC_ADDRESS: address, TANDEM_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));

  await new Promise<void>((ready, fail) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      fail(new Error(`${app} did not start in ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('"msg":"tandem is serving"')) {
        clearTimeout(timer);
        ready();
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      fail(new Error(`${app} exited with ${code} before serving:\n${output}`));
    });
  });

  return {
    app,
    address,
    output: () => output,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
