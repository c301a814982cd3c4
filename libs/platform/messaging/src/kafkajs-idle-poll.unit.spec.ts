import { createRequire } from 'node:module';
import { describe, expect, it, vi } from 'vitest';
import './kafkajs-idle-poll';

interface Queue {
  readonly throttleCheckTimeoutId: unknown;
  maybeThrottle(ms: number): void;
  push(request: object): void;
  fulfillRequest(response: { correlationId: number; payload: Buffer; size: number }): void;
  destroy(): void;
}

const RequestQueue = createRequire(__filename)('kafkajs/src/network/requestQueue') as new (
  options: object,
) => Queue;

const silent = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

/** A request queue as a kafkajs connection makes one, and the correlation ids it sent, in order. */
function queue(maxInFlightRequests: number | null = null) {
  const requests = new RequestQueue({
    maxInFlightRequests,
    requestTimeout: 30_000,
    enforceRequestTimeout: false,
    clientId: 'test',
    broker: 'broker:9092',
    logger: silent,
  });
  const sent: number[] = [];
  const push = (correlationId: number) =>
    requests.push({
      entry: {
        correlationId,
        apiName: 'Metadata',
        apiKey: 3,
        apiVersion: 6,
        resolve: () => undefined,
        reject: () => undefined,
      },
      expectResponse: true,
      sendRequest: () => sent.push(correlationId),
    });
  const answer = (correlationId: number) =>
    requests.fulfillRequest({ correlationId, payload: Buffer.alloc(0), size: 0 });
  return { requests, sent, push, answer };
}

describe('kafkajs request queue, as Tandem runs it', () => {
  it('schedules no check once a response leaves nothing pending', () => {
    const { requests, sent, push, answer } = queue();
    push(1);
    answer(1);
    expect(sent).toEqual([1]);
    expect(requests.throttleCheckTimeoutId).toBeNull();
  });

  it('still sends a request held back by a broker throttle once the throttle ends', async () => {
    const { requests, sent, push } = queue();
    requests.maybeThrottle(50);
    push(1);
    expect(sent).toEqual([]);
    await vi.waitFor(() => expect(sent).toEqual([1]), { timeout: 1_000, interval: 10 });
    requests.destroy();
  });

  it('still sends a request held back by the in-flight limit when an earlier one is answered, then stops checking', async () => {
    const { requests, sent, push, answer } = queue(1);
    push(1);
    push(2);
    expect(sent).toEqual([1]);
    answer(1);
    expect(sent).toEqual([1, 2]);
    answer(2);
    await vi.waitFor(() => expect(requests.throttleCheckTimeoutId).toBeNull(), {
      timeout: 1_000,
      interval: 10,
    });
  });
});
