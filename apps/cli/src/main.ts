#!/usr/bin/env node
import './replay/telemetry-off';
import { Command, InvalidArgumentError, Option } from 'commander';
import { approve } from './demo/approve.command';
import { devices } from './demo/devices.command';
import { link } from './demo/link.command';
import { ProfileStore } from './demo/profiles';
import { receive } from './demo/receive.command';
import { register } from './demo/register.command';
import { send } from './demo/send.command';
import { describeFailure } from './demo/tandem-client';
import { registerReplayCommands } from './replay/replay-commands';

/** The options every demo command has. */
interface CommonOptions {
  readonly name: string;
  readonly server?: string;
  readonly profiles: string;
}

const positiveInteger = (value: string): number => {
  const number = Number(value);
  if (!Number.isSafeInteger(number) || number < 1)
    throw new InvalidArgumentError('must be a whole number, 1 or more');
  return number;
};

const nonNegativeInteger = (value: string): number => {
  const number = Number(value);
  if (!Number.isSafeInteger(number) || number < 0)
    throw new InvalidArgumentError('must be a whole number, 0 or more');
  return number;
};

/** Adds the options every demo command has: whose profile, where it is kept, which server. */
function demoCommand(parent: Command, name: string, description: string): Command {
  return parent
    .command(name)
    .description(description)
    .requiredOption('--name <name>', 'the profile to act as (a device on this machine)')
    .option('--profiles <dir>', 'where profiles are kept', './.tandem-demo')
    .addOption(
      new Option(
        '--server <host:port>',
        "Tandem's gRPC address [default: the profile's, else 127.0.0.1:50051]",
      ).env('TANDEM_SERVER'),
    );
}

const program = new Command('tandem')
  .description('Command-line tools for Tandem, the server side of multi-device messaging.')
  .showHelpAfterError();

const demo = program
  .command('demo')
  .description(
    'A demo client: register phones, link companions by QR code, send and receive messages, each ' +
      'command in its own terminal if you like. It encrypts nothing: messages travel as plain JSON.',
  );

demoCommand(demo, 'register', 'register an account with this machine as its primary phone')
  .requiredOption('--phone <number>', 'the phone number, E.164, e.g. +4915112345678')
  .option('--device-name <name>', 'the device name the account shows [default: --name]')
  .action((options: CommonOptions & { phone: string; deviceName?: string }) =>
    register(new ProfileStore(options.profiles), options),
  );

demoCommand(demo, 'link', 'link this machine as a companion: shows a QR code and waits for approval')
  .option('--device-name <name>', 'the device name the account shows [default: --name]')
  .option(
    '--attempts <n>',
    'how many QR codes to show before giving up (each lasts about a minute)',
    positiveInteger,
    3,
  )
  .option(
    '--history-wait <seconds>',
    'once linked, how long to wait for the history the phone shares (0: do not wait)',
    nonNegativeInteger,
    10,
  )
  .action((options: CommonOptions & { deviceName?: string; attempts: number; historyWait: number }) =>
    link(new ProfileStore(options.profiles), { ...options, historyWaitSeconds: options.historyWait }),
  );

demoCommand(demo, 'approve', "approve a companion's QR code with the primary")
  .argument('<qr-payload>', "the text under the companion's QR code, tandem://link?v=1&s=...&k=...")
  .option('--no-history', 'do not hand the companion the messages this device received')
  .action((payload: string, options: CommonOptions & { history: boolean }) =>
    approve(new ProfileStore(options.profiles), { ...options, payload }),
  );

demoCommand(demo, 'send', 'send a text message to an account (its devices and your other devices)')
  .requiredOption(
    '--to <recipient>',
    'a phone number (+...), a profile name on this machine, or an account id',
  )
  .argument('<text...>', 'the message')
  .action((words: string[], options: CommonOptions & { to: string }) =>
    send(new ProfileStore(options.profiles), { ...options, text: words.join(' ') }),
  );

demoCommand(demo, 'receive', "print the device's inbox as it arrives and ack it, until Ctrl-C").action(
  (options: CommonOptions) => receive(new ProfileStore(options.profiles), options),
);

demoCommand(demo, 'devices', "list the devices of the profile's account").action((options: CommonOptions) =>
  devices(new ProfileStore(options.profiles), options),
);

registerReplayCommands(program);

program.parseAsync().catch((error: unknown) => {
  console.error(`tandem: ${describeFailure(error)}`);
  process.exitCode = 1;
});
