import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RegisterResponse } from '@tandem/contracts/tandem/accounts/v1/accounts_service';
import {
  eventually,
  fanoutStreamingClient,
  type FanoutStreamingClient,
  type GrpcTestClient,
  InboxStream,
  newDevice,
  newPhoneNumber,
  oneofValue,
  services,
  signIn,
  TestInstallation,
} from '@tandem/harness';
import { testInfrastructure, uniqueName } from '@tandem/testing';

/** A span as a service exported it, with the service.name of its process. */
interface ReceivedSpan {
  readonly service: string;
  readonly traceId: string;
  readonly spanId: string;
  readonly parentSpanId: string;
  readonly name: string;
  /** OTLP's SpanKind: 2 server, 4 producer, 5 consumer. */
  readonly kind: number;
  readonly attributes: Readonly<Record<string, unknown>>;
}

type OtlpValue = {
  stringValue?: string;
  intValue?: string | number;
  boolValue?: boolean;
  doubleValue?: number;
};
type OtlpAttributes = readonly { key: string; value: OtlpValue }[] | undefined;
interface OtlpTraces {
  resourceSpans?: {
    resource?: { attributes?: OtlpAttributes };
    scopeSpans?: {
      spans?: {
        traceId: string;
        spanId: string;
        parentSpanId?: string;
        name: string;
        kind: number;
        attributes?: OtlpAttributes;
      }[];
    }[];
  }[];
}

const attributesOf = (attributes: OtlpAttributes): Record<string, unknown> =>
  Object.fromEntries(
    (attributes ?? []).map(({ key, value }) => [
      key,
      value.stringValue ?? value.intValue ?? value.boolValue ?? value.doubleValue,
    ]),
  );

/** An OTLP/HTTP receiver for JSON traces, like a collector, keeping every span it is sent. */
async function otlpReceiver(): Promise<{ endpoint: string; spans: ReceivedSpan[]; close(): Promise<void> }> {
  const spans: ReceivedSpan[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      if (request.url === '/v1/traces') {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as OtlpTraces;
        for (const { resource, scopeSpans } of body.resourceSpans ?? []) {
          const service = String(attributesOf(resource?.attributes)['service.name']);
          for (const span of (scopeSpans ?? []).flatMap((scope) => scope.spans ?? [])) {
            spans.push({
              service,
              traceId: span.traceId,
              spanId: span.spanId,
              parentSpanId: span.parentSpanId ?? '',
              name: span.name,
              kind: span.kind,
              attributes: attributesOf(span.attributes),
            });
          }
        }
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    spans,
    close: () => new Promise((closed) => server.close(() => closed())),
  };
}

/** The span and its ancestors among `spans`, nearest first. */
function ancestry(span: ReceivedSpan, spans: readonly ReceivedSpan[]): ReceivedSpan[] {
  const byId = new Map(spans.map((known) => [known.spanId, known]));
  const chain = [span];
  for (let parent = byId.get(span.parentSpanId); parent; parent = byId.get(parent.parentSpanId)) {
    chain.push(parent);
  }
  return chain;
}

/**
 * One trace across three services as processes on Kafka and MongoDB, exported by OTLP/HTTP to a
 * receiver in the test: a phone registers (accounts, with the client's traceparent), linking
 * records its primary device from AccountRegistered, fanout turns DeviceLinked into a system
 * entry, writes it to the phone's inbox and pushes it to the phone's stream.
 */
describe('tracing a registration from the RPC through Kafka to the push to the device', () => {
  const installation = new TestInstallation(uniqueName('e2e_tracing'), testInfrastructure());
  let receiver: Awaited<ReturnType<typeof otlpReceiver>>;
  let accounts: GrpcTestClient;
  let linking: GrpcTestClient;
  let streamingClient: FanoutStreamingClient;
  const opened: InboxStream[] = [];

  beforeAll(async () => {
    receiver = await otlpReceiver();
    const tracing = {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_BSP_SCHEDULE_DELAY: '100',
      OTEL_METRICS_EXPORTER: 'none',
    };
    const [accountsProcess, linkingProcess, fanoutProcess] = await Promise.all([
      installation.start('accounts', tracing),
      installation.start('linking', { ...tracing, ...installation.signingKeyEnv }),
      installation.start('fanout', tracing),
    ]);
    accounts = installation.client(accountsProcess, services.accounts);
    linking = installation.client(linkingProcess, services.linking);
    streamingClient = installation.connect(fanoutProcess, fanoutStreamingClient);
  });

  afterAll(async () => {
    for (const stream of opened) stream.cancel();
    await installation.stop();
    await receiver?.close();
  });

  it('exports one connected trace: Register, AccountRegistered, DeviceLinked, inbox write, push', async () => {
    const traceId = randomBytes(16).toString('hex');
    const clientSpanId = randomBytes(8).toString('hex');
    const phone = newDevice();
    const { accountId } = await accounts.call<RegisterResponse>(
      'Register',
      {
        phoneNumber: newPhoneNumber(),
        identityKey: phone.identityKey,
        registrationId: phone.registrationId,
        deviceName: 'Pixel 9',
      },
      undefined,
      { traceparent: `00-${traceId}-${clientSpanId}-01` },
    );
    const token = await signIn(linking, phone, accountId, 1);
    // The phone's stream opens once fanout knows the device; the system entry comes on it.
    const stream = await eventually(
      async () => {
        const opening = new InboxStream(streamingClient, token);
        opened.push(opening);
        await opening.until((items) => items.find((item) => oneofValue(item.item, 'caughtUp')));
        return opening;
      },
      { retryOn: [status.UNAUTHENTICATED, status.UNAVAILABLE], timeoutMs: 30_000 },
    );
    await stream.until((items) =>
      items.find((item) => oneofValue(item.item, 'entry')?.content?.$case === 'system'),
    );

    const traced = () => receiver.spans.filter((span) => span.traceId === traceId);
    let push: ReceivedSpan | undefined;
    for (let waited = 0; !push; waited += 100) {
      if (waited > 30_000) throw new Error(`no push span arrived:\n${JSON.stringify(traced(), null, 1)}`);
      await sleep(100);
      push = traced().find((span) => span.name === 'fanout.stream.push');
    }

    const chain = ancestry(push, traced());
    expect(chain.map(({ service, name, kind }) => ({ service, name, kind }))).toEqual([
      { service: 'fanout', name: 'fanout.stream.push', kind: 4 },
      { service: 'fanout', name: 'fanout.inbox.append', kind: 5 },
      { service: 'fanout', name: 'process DeviceLinked', kind: 5 },
      { service: 'linking', name: 'process AccountRegistered', kind: 5 },
      { service: 'accounts', name: 'grpc.tandem.accounts.v1.AccountsService/Register', kind: 2 },
    ]);
    const [pushed, append, , registered, register] = chain;
    expect(register!.parentSpanId).toBe(clientSpanId);
    expect(registered!.attributes).toMatchObject({ 'tandem.account.id': accountId });
    expect(append!.attributes).toMatchObject({
      'tandem.account.id': accountId,
      'tandem.device.id': 1,
      'tandem.inbox.sequence': 1,
    });
    // Live or from the backlog, depending on whether the stream or the inbox write came first.
    expect(pushed!.attributes).toMatchObject({ 'tandem.account.id': accountId, 'tandem.device.id': 1 });

    // The event store append (MongoDB's span) is a child of the server span.
    expect(
      traced().some((span) => span.parentSpanId === register!.spanId && span.name === 'insert event_commits'),
    ).toBe(true);
    // No span carries a device's token.
    expect(JSON.stringify(receiver.spans)).not.toContain(token);
  });
});
