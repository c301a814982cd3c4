import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatReport, fuzzRequests, registerAndSignIn, startServiceProcess } from '@tandem/harness';

/**
 * `npm run fuzz`: sends every RPC of every service of an embedded Tandem (`npm start`'s process)
 * random and mutated requests as raw bytes and prints, per RPC, how often each status came.
 * TANDEM_FUZZ_INPUTS sets the inputs per RPC (100,000 by default), TANDEM_FUZZ_SEED their seed.
 * Exits non-zero when an input was answered INTERNAL or UNKNOWN, bytes that are not a valid
 * request were not refused with INVALID_ARGUMENT, or Tandem stopped serving.
 */
async function main(): Promise<number> {
  const inputsPerRpc = Number(process.env['TANDEM_FUZZ_INPUTS'] || 100_000);
  const seed = Number(process.env['TANDEM_FUZZ_SEED'] || Date.now() % 2 ** 31);
  const dataDir = mkdtempSync(join(tmpdir(), 'tandem-fuzz-'));
  const tandem = await startServiceProcess('tandem', { TANDEM_DATA_DIR: dataDir });
  try {
    console.log(`fuzzing ${tandem.address}: ${inputsPerRpc} inputs per RPC, TANDEM_FUZZ_SEED=${seed}`);
    const started = Date.now();
    const reports = await fuzzRequests(tandem.address, {
      inputsPerRpc,
      seed,
      onReport: (report) => console.log(formatReport(report)),
    });
    const failures = reports.flatMap((report) => report.failures);
    for (const failure of failures.slice(0, 20)) {
      console.log(
        `wrong: ${failure.path} ${failure.kind} ${failure.hex} -> ${failure.status} ${failure.details}`,
      );
    }
    await registerAndSignIn(tandem.address);
    const total = reports.length * inputsPerRpc;
    console.log(
      `${reports.length} RPCs, ${total} inputs in ${((Date.now() - started) / 1000).toFixed(0)} s, ` +
        `${failures.length} answered wrongly; a valid Register and SignIn still work`,
    );
    return failures.length > 0 ? 1 : 0;
  } finally {
    await tandem.stop('SIGTERM');
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
