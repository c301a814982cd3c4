import { randomUUID } from 'node:crypto';
import { status } from '@grpc/grpc-js';
import { type Histogram, type Span, SpanKind } from '@opentelemetry/api';
import type { InboxEntry } from '@tandem/contracts/tandem/fanout/v1/inbox';
import type { StreamInboxResponse } from '@tandem/contracts/tandem/fanout/v1/fanout_service';
import type { DeviceDepartures, DeviceStreamHolder } from '@tandem/linking-events';
import { GrpcStatusError } from '@tandem/grpc';
import {
  contextFrom,
  LATENCY_BUCKETS_SECONDS,
  makesSpansPerEntry,
  secondsSince,
  tandemMeter,
  tandemTracer,
} from '@tandem/observability';
import type { TracedEntry } from './inbox-tiers';
import type { AppendedEntries } from './inboxes.projection';

/** Where a stream's items go: the gRPC call. */
export interface InboxSink {
  next(item: StreamInboxResponse): void;
  /** Sends several entries at once, in one response, where the call can (Connect). */
  entries?(entries: readonly InboxEntry[]): void;
  error(error: unknown): void;
}

/** Reads what a device's inbox holds after a sequence number, in sequence order. Implemented by InboxTiers. */
export interface InboxReader {
  pendingAfter(
    accountId: string,
    deviceId: number,
    afterSequence: number,
    limit: number,
  ): Promise<TracedEntry[]>;
}

/**
 * Records which devices are connected through this instance (presence reads it). Implemented by
 * InstanceConnections; recording never throws (a failure is logged).
 */
export interface ConnectionRecorder {
  /** A device's stream opened and no other of the device was open here: it is connected. */
  connected(accountId: string, deviceId: number): Promise<void>;
  /** A device's stream ended and no other of the device is open here: it is disconnected. */
  disconnected(accountId: string, deviceId: number): Promise<void>;
}

/**
 * Tells the other instances that a device opened a stream here, so that theirs of the device end.
 * Implemented by InboxSignals; announcing never throws (a failure is logged).
 */
export interface StreamAnnouncer {
  /** A device's stream opened here; `streamId` names it among every instance's streams. */
  streamOpened(accountId: string, deviceId: number, streamId: string, openedAt: Date): void;
}

const PAGE = 256;

/** Ends an open stream when called; `sentThrough` tells the last sequence it sent. */
export type OpenStream = (() => void) & { readonly sentThrough: () => number };

/**
 * One device's open inbox stream: the backlog after the requested sequence, in order, then a
 * caught-up marker, then each entry appended later. It keeps the last sequence it sent and only
 * ever sends greater ones, in order, read from the store or handed over by the projection: no gap
 * and no duplicate between backlog and live entries.
 */
class InboxStream {
  private lastSent: number;
  /** Live entries waiting for the next turn of the event loop, contiguous after lastSent. */
  private buffered: TracedEntry[] = [];
  private flushScheduled = false;
  private live = false;
  private reading = false;
  private readAgain = false;
  closed = false;

  readonly openedAt = new Date();

  constructor(
    readonly streamId: string,
    readonly accountId: string,
    readonly deviceId: number,
    afterSequence: number,
    private readonly reader: InboxReader,
    private readonly sink: InboxSink,
    private readonly pushLatency: Histogram,
  ) {
    this.lastSent = afterSequence;
  }

  /** The last sequence sent, or the one the stream started after. */
  get sentThrough(): number {
    return this.lastSent;
  }

  async start(): Promise<void> {
    await this.drain();
    if (this.closed) return;
    this.sink.next({ item: { $case: 'caughtUp', value: { lastSequence: this.lastSent } } });
    this.live = true;
    if (this.readAgain) await this.drain();
  }

  /**
   * Entries the projection just appended for this device. They are sent when the event loop next
   * turns, together with any that other batches append before then, in one response.
   */
  offer(entries: readonly TracedEntry[]): void {
    if (this.closed) return;
    const last = this.buffered.at(-1)?.entry.sequence ?? this.lastSent;
    const fresh = entries.filter(({ entry }) => entry.sequence > last);
    if (fresh.length === 0) return;
    if (!this.live || this.reading || fresh[0]!.entry.sequence !== last + 1) {
      this.flushBuffered();
      void this.drain();
      return;
    }
    this.buffered.push(...fresh);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flushBuffered();
    });
  }

  private flushBuffered(): void {
    const buffered = this.buffered;
    if (buffered.length === 0) return;
    this.buffered = [];
    if (!this.closed) this.sendAll(buffered.filter(({ entry }) => entry.sequence > this.lastSent));
  }

  /** Reads and sends everything the inbox holds after the last sequence sent. */
  async drain(): Promise<void> {
    this.flushBuffered();
    if (this.reading) {
      this.readAgain = true;
      return;
    }
    this.reading = true;
    try {
      do {
        this.readAgain = false;
        for (;;) {
          const page = await this.reader.pendingAfter(this.accountId, this.deviceId, this.lastSent, PAGE);
          if (!this.closed) this.sendAll(page.filter(({ entry }) => entry.sequence > this.lastSent));
          if (page.length < PAGE || this.closed) break;
        }
      } while (this.readAgain && this.live && !this.closed);
    } catch (error) {
      this.end(error);
    } finally {
      this.reading = false;
    }
  }

  /** Pushes entries in sequence order, in one response where the sink takes several. */
  private sendAll(entries: readonly TracedEntry[]): void {
    if (entries.length === 0) return;
    const spans = entries.map((traced) => this.startPush(traced));
    this.lastSent = entries.at(-1)!.entry.sequence;
    if (this.sink.entries) this.sink.entries(entries.map(({ entry }) => entry));
    else for (const { entry } of entries) this.sink.next({ item: { $case: 'entry', value: entry } });
    for (const span of spans) span?.end();
    for (const { entry } of entries) this.measure(entry);
  }

  /**
   * A span `fanout.stream.push` for an entry, continuing the trace of its append (from the backlog
   * too, hours later).
   */
  private startPush({ entry, trace }: TracedEntry): Span | undefined {
    return trace?.traceparent && makesSpansPerEntry()
      ? tandemTracer().startSpan(
          'fanout.stream.push',
          {
            kind: SpanKind.PRODUCER,
            attributes: {
              'tandem.account.id': this.accountId,
              'tandem.device.id': this.deviceId,
              'tandem.inbox.sequence': entry.sequence,
              'tandem.push.backlog': !this.live,
            },
          },
          contextFrom(trace),
        )
      : undefined;
  }

  /** The push latency counts from the entry's acceptance. */
  private measure(entry: InboxEntry): void {
    if (entry.appendedAt)
      this.pushLatency.record(secondsSince(entry.appendedAt), { 'tandem.push.backlog': !this.live });
  }

  /** Another stream opened for the device: says so, then ends with ABORTED. */
  supersede(): void {
    if (this.closed) return;
    this.sink.next({ item: { $case: 'superseded', value: {} } });
    this.end(new GrpcStatusError(status.ABORTED, 'another stream opened for this device; this one ends'));
  }

  /** Ends the stream with `error` (a status the client reacts to). */
  end(error: unknown): void {
    if (this.closed) return;
    this.closed = true;
    this.sink.error(error);
  }
}

/**
 * The inbox streams open in this process, one per device: a second stream for a device ends the
 * first with a superseded item and ABORTED, also when the two are on different instances (the
 * signals say so). The inbox projection hands each batch's new entries to the streams here, and
 * the signals wake the streams whose entries another instance stored.
 */
export class InboxStreams implements DeviceStreamHolder {
  private readonly streams = new Map<string, InboxStream>();
  private readonly pushLatency = tandemMeter().createHistogram('tandem.fanout.push.latency', {
    unit: 's',
    description: 'Time from the acceptance of an inbox entry until it was pushed to the device',
    advice: { explicitBucketBoundaries: LATENCY_BUCKETS_SECONDS },
  });

  constructor(
    private readonly reader: InboxReader,
    private readonly connections?: ConnectionRecorder,
    private readonly departures?: Pick<DeviceDepartures, 'departure'>,
    /** None when this process is the only instance. */
    private readonly announcer?: StreamAnnouncer,
  ) {
    tandemMeter()
      .createObservableGauge('tandem.fanout.streams.open', {
        unit: '{stream}',
        description: 'Inbox streams open on this instance',
      })
      .addCallback((result) => result.observe(this.size));
  }

  /**
   * Opens a device's stream; returns what ends it when the client goes away, which also tells how
   * far it has sent.
   */
  open(accountId: string, deviceId: number, afterSequence: number, sink: InboxSink): OpenStream {
    const departure = this.departures?.departure(accountId, deviceId);
    if (departure) {
      sink.error(departure);
      return Object.assign(() => undefined, { sentThrough: () => afterSequence });
    }
    const key = `${accountId}:${deviceId}`;
    const previous = this.streams.get(key);
    if (previous) {
      this.streams.delete(key);
      previous.supersede();
    }
    const stream = new InboxStream(
      randomUUID(),
      accountId,
      deviceId,
      afterSequence,
      this.reader,
      sink,
      this.pushLatency,
    );
    this.streams.set(key, stream);
    this.announcer?.streamOpened(accountId, deviceId, stream.streamId, stream.openedAt);
    if (!previous) void this.connections?.connected(accountId, deviceId);
    void stream.start();
    const close = () => this.close(key, stream);
    return Object.assign(close, { sentThrough: () => stream.sentThrough });
  }

  /** Hands a batch's new entries to the streams of their devices. */
  appended(batch: readonly AppendedEntries[]): void {
    for (const { accountId, deviceId, entries, traces } of batch)
      this.streams
        .get(`${accountId}:${deviceId}`)
        ?.offer(entries.map((entry, index) => ({ entry, trace: traces?.[index] })));
  }

  /** Another instance stored entries for the device: its stream here reads them. */
  wake(accountId: string, deviceId: number): void {
    void this.streams.get(`${accountId}:${deviceId}`)?.drain();
  }

  /**
   * The device opened a stream elsewhere: the one here, if any, is superseded, unless it is the
   * newer one (signals can arrive late).
   */
  openedElsewhere(accountId: string, deviceId: number, streamId: string, openedAt: Date): void {
    const key = `${accountId}:${deviceId}`;
    const stream = this.streams.get(key);
    if (!stream || stream.streamId === streamId) return;
    const here = stream.openedAt.getTime();
    if (here > openedAt.getTime() || (here === openedAt.getTime() && stream.streamId > streamId)) return;
    this.streams.delete(key);
    stream.supersede();
    void this.connections?.disconnected(accountId, deviceId);
  }

  /** The device left its account: its stream here, if any, ends with `why` (UNAUTHENTICATED). */
  endDeviceStreams(accountId: string, deviceId: number, why: GrpcStatusError): void {
    const key = `${accountId}:${deviceId}`;
    const stream = this.streams.get(key);
    if (!stream) return;
    this.streams.delete(key);
    stream.end(why);
    void this.connections?.disconnected(accountId, deviceId);
  }

  /** Ends every stream with UNAVAILABLE: the process is shutting down, clients reconnect. */
  async endAll(): Promise<void> {
    const ended: Promise<void>[] = [];
    for (const [key, stream] of [...this.streams]) {
      this.streams.delete(key);
      stream.end(
        new GrpcStatusError(status.UNAVAILABLE, 'the server is shutting down; open the stream again'),
      );
      const disconnected = this.connections?.disconnected(stream.accountId, stream.deviceId);
      if (disconnected) ended.push(disconnected);
    }
    await Promise.all(ended);
  }

  /** How many streams are open. */
  get size(): number {
    return this.streams.size;
  }

  private close(key: string, stream: InboxStream): void {
    stream.closed = true;
    if (this.streams.get(key) !== stream) return;
    this.streams.delete(key);
    void this.connections?.disconnected(stream.accountId, stream.deviceId);
  }
}
