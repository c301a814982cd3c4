import type { CommandIO } from './connection';

/**
 * The process's stdout and stderr for the replay commands, and a signal that aborts on Ctrl-C,
 * SIGTERM, or when stdout's reader went away (`tandem events read ... | head`).
 */
export function processIO(): { io: CommandIO; signal: AbortSignal } {
  const controller = new AbortController();
  const abort = () => controller.abort();
  process.once('SIGINT', abort);
  process.once('SIGTERM', abort);
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') abort();
    else throw error;
  });
  const io: CommandIO = {
    out: (text) => {
      if (controller.signal.aborted) return;
      if (process.stdout.write(`${text}\n`)) return;
      return new Promise<void>((resolve) => {
        const done = () => {
          process.stdout.off('drain', done);
          controller.signal.removeEventListener('abort', done);
          resolve();
        };
        process.stdout.once('drain', done);
        controller.signal.addEventListener('abort', done, { once: true });
      });
    },
    err: (text) => {
      process.stderr.write(`${text}\n`);
    },
    errRaw: (text) => {
      process.stderr.write(text);
    },
    errIsTTY: process.stderr.isTTY === true,
  };
  return { io, signal: controller.signal };
}
