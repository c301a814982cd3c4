import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { newPhoneNumber, REPOSITORY_ROOT, type ServiceProcess, startServiceProcess } from '@tandem/harness';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const CLI = resolve(REPOSITORY_ROOT, 'dist', 'apps', 'cli', 'src', 'main.js');

/** A CLI command running in the background, as in a terminal of its own. */
interface Background {
  output(): string;
  /** Resolves with the first match of `pattern` in the output so far or to come. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  readonly exited: Promise<number | null>;
  readonly child: ChildProcess;
}

/**
 * A person trying Tandem with the demo CLI, every command a process of the built CLI against one
 * embedded `tandem` process: alice registers, links a laptop by QR code, bob registers, alice
 * sends bob a message by his phone number, bob's receive prints it and acks it, and alice's
 * laptop receives its copy of what alice sent and bob's delivery receipt.
 */
describe('the tandem demo CLI against Tandem in embedded mode', () => {
  let workDir: string;
  let tandem: ServiceProcess;
  const running: Background[] = [];
  const alicePhone = newPhoneNumber();
  const bobPhone = newPhoneNumber();

  const cliArgs = (args: readonly string[]) => [
    CLI,
    'demo',
    ...args,
    '--profiles',
    join(workDir, 'profiles'),
  ];
  const env = () => ({ PATH: process.env['PATH'] ?? '' });

  /** Runs a command to its end. */
  const cli = (...args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
      execFile(process.execPath, cliArgs(args), { env: env(), timeout: 60_000 }, (error, stdout, stderr) =>
        done({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
      );
    });

  /** Starts a command that keeps running: link waits for approval, receive until Ctrl-C. */
  const background = (...args: string[]): Background => {
    const child = spawn(process.execPath, cliArgs(args), { env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const listeners = new Set<() => void>();
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      for (const listener of [...listeners]) listener();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
    const process_: Background = {
      child,
      exited,
      output: () => output,
      waitFor: (pattern, timeoutMs = 20_000) =>
        new Promise((found, fail) => {
          const timer = setTimeout(() => {
            listeners.delete(check);
            fail(new Error(`no ${pattern} in ${timeoutMs} ms; the output was:\n${output}`));
          }, timeoutMs);
          const check = () => {
            const match = output.match(pattern);
            if (!match) return;
            clearTimeout(timer);
            listeners.delete(check);
            found(match);
          };
          listeners.add(check);
          check();
        }),
    };
    running.push(process_);
    return process_;
  };

  const profile = async (name: string) =>
    JSON.parse(await readFile(join(workDir, 'profiles', `${name}.json`), 'utf8')) as {
      accountId: string;
      deviceId: number;
      server: string;
      lastSequence: number;
    };

  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npm run build" first`);
    workDir = await mkdtemp(join(tmpdir(), 'tandem-cli-e2e-'));
    tandem = await startServiceProcess('tandem', { TANDEM_DATA_DIR: join(workDir, 'data') });
  });

  afterAll(async () => {
    for (const process_ of running) if (process_.child.exitCode === null) process_.child.kill('SIGKILL');
    await tandem?.stop();
    if (workDir) await rm(workDir, { recursive: true, force: true });
  });

  it('registers alice as the primary of a new account and keeps her profile', async () => {
    const result = await cli(
      'register',
      '--name',
      'alice',
      '--phone',
      alicePhone,
      '--server',
      tandem.address,
    );

    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const alice = await profile('alice');
    expect(result.stdout).toContain(
      `Registered ${alicePhone} as alice: account ${alice.accountId}, device 1`,
    );
    expect(alice).toMatchObject({ deviceId: 1, server: tandem.address, lastSequence: 0 });
  });

  it('links a laptop: it shows a QR code and its payload, alice approves the payload', async () => {
    const link = background(
      'link',
      '--name',
      'alice-laptop',
      '--server',
      tandem.address,
      '--history-wait',
      '0',
    );
    const [payload] = await link.waitFor(/^tandem:\/\/link\?v=1&s=[^&\s]+&k=[\w-]+$/m);
    expect(link.output()).toMatch(/[▀▄█]{7}/);

    const approved = await cli('approve', '--name', 'alice', payload);

    expect(approved.stderr).toBe('');
    expect(approved.stdout).toContain('Approved: the companion is device 2');
    expect(await link.exited).toBe(0);
    const alice = await profile('alice');
    expect(link.output()).toContain(`Linked alice-laptop: account ${alice.accountId}, device 2.`);
    expect(await profile('alice-laptop')).toMatchObject({ accountId: alice.accountId, deviceId: 2 });

    const devices = await cli('devices', '--name', 'alice');
    expect(devices.stdout).toMatch(/^\s+1\s+alice\s+primary\s+phone\s.*<- this device$/m);
    expect(devices.stdout).toMatch(/^\s+2\s+alice-laptop\s+companion\s+desktop\s/m);
  });

  it('registers bob, and alice sends him a message by his phone number', async () => {
    expect(
      (await cli('register', '--name', 'bob', '--phone', bobPhone, '--server', tandem.address)).code,
    ).toBe(0);
    const [alice, bob] = [await profile('alice'), await profile('bob')];

    const sent = await cli('send', '--name', 'alice', '--to', bobPhone, 'hello bob, from alice');

    expect(sent.stderr).toBe('');
    expect(sent.stdout).toMatch(
      new RegExp(`^Sent to ${bob.accountId} \\(bob\\): server message id \\S+$`, 'm'),
    );
    expect(sent.stdout).toContain(`2 envelope(s), for ${bob.accountId}/1, ${alice.accountId}/2`);
  });

  it("prints the message in bob's receive, acks it and remembers how far bob read", async () => {
    const alice = await profile('alice');
    const receive = background('receive', '--name', 'bob');

    await receive.waitFor(
      new RegExp(`^#\\d+ from ${alice.accountId}/1 \\(alice\\): hello bob, from alice$`, 'm'),
    );
    const [, caughtUp] = await receive.waitFor(/^-- caught up at #(\d+); waiting/m);
    receive.child.kill('SIGINT');

    expect(await receive.exited).toBe(0);
    expect(receive.output()).toContain(`Stopped after #${caughtUp}.`);
    expect((await profile('bob')).lastSequence).toBe(Number(caughtUp));
  });

  it("shows alice's laptop its copy of what alice sent and bob's delivery receipt", async () => {
    const [alice, bob] = [await profile('alice'), await profile('bob')];
    const receive = background('receive', '--name', 'alice-laptop');

    await receive.waitFor(
      new RegExp(
        `^#\\d+ from ${alice.accountId}/1 \\(alice\\) to ${bob.accountId} \\(bob\\): hello bob, from alice$`,
        'm',
      ),
    );
    await receive.waitFor(new RegExp(`^#\\d+ receipt: ${bob.accountId}/1 \\(bob\\) received \\S+$`, 'm'));
    receive.child.kill('SIGTERM');

    expect(await receive.exited).toBe(0);
  });

  it("links a desk computer after bob wrote alice: alice's phone hands it the messages it received", async () => {
    const bob = await profile('bob');
    for (const text of ['first from bob', 'second from bob']) {
      expect((await cli('send', '--name', 'bob', '--to', alicePhone, text)).code).toBe(0);
    }
    const receive = background('receive', '--name', 'alice');
    await receive.waitFor(/: second from bob$/m);
    receive.child.kill('SIGINT');
    expect(await receive.exited).toBe(0);

    const link = background('link', '--name', 'alice-desk', '--server', tandem.address);
    const [payload] = await link.waitFor(/^tandem:\/\/link\?v=1&s=[^&\s]+&k=[\w-]+$/m);
    const approved = await cli('approve', '--name', 'alice', payload);

    expect(approved.stderr).toBe('');
    expect(approved.stdout).toMatch(/^Shared the history: 2 message\(s\), \d+ bytes sealed in 1 part\(s\)/m);
    expect(await link.exited).toBe(0);
    expect(link.output()).toContain('History: part 1 of 1 received');
    expect(link.output()).toContain('History from the phone: 2 message(s)');
    expect(link.output()).toContain(`from ${bob.accountId}/1: first from bob`);
    expect(link.output()).toContain(`from ${bob.accountId}/1: second from bob`);
  });
});
