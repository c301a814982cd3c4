import { status } from '@grpc/grpc-js';
import type {
  AccountPresence as AccountPresenceItem,
  SubscribeResponse,
  Typing,
} from '@tandem/contracts/tandem/presence/v1/presence_service';
import type { DeviceDepartures, DeviceStreamHolder } from '@tandem/linking-events';
import { GrpcStatusError } from '@tandem/grpc';
import {
  type AccountPresence,
  presenceSeenBy,
  type PresenceView,
  sameView,
  type Sight,
  type TypingUpdate,
} from '@tandem/presence-domain';
import type { PresencePrivacy } from './presence-privacy.projection';
import type { PresenceBook } from './presence-book';
import type { TypingIndicators } from './typing-indicators';

/** Where a subscription's items go: the gRPC call. */
export interface PresenceSink {
  next(item: SubscribeResponse): void;
  error(error: unknown): void;
}

const toItem = (view: PresenceView): AccountPresenceItem => ({
  accountId: view.accountId,
  online: view.online,
  lastSeen: view.lastSeen,
  lastSeenHidden: view.lastSeenHidden,
});

const toTyping = (update: TypingUpdate): Typing => ({
  accountId: update.accountId,
  chatAccountId: update.chatAccountId,
  state: update.state as number,
  expiresAt: update.expiresAt,
});

/** One Subscribe call: what it watches, what it may see, and what it was last sent of each account. */
class Subscription {
  readonly watched: ReadonlySet<string>;
  readonly sights = new Map<string, Sight>();
  readonly sent = new Map<string, PresenceView>();
  live = false;
  closed = false;

  constructor(
    readonly viewer: string,
    readonly viewerDevice: number,
    readonly accountIds: readonly string[],
    private readonly sink: PresenceSink,
  ) {
    this.watched = new Set(accountIds);
  }

  viewOf(presence: AccountPresence): PresenceView {
    return presenceSeenBy(presence, this.sights.get(presence.accountId) ?? 'nothing');
  }

  /** Sends the account's presence if what this subscriber sees of it changed. */
  offer(presence: AccountPresence): void {
    if (!this.live || this.closed) return;
    const view = this.viewOf(presence);
    if (sameView(this.sent.get(presence.accountId), view)) return;
    this.sent.set(presence.accountId, view);
    this.sink.next({ item: { $case: 'presence', value: toItem(view) } });
  }

  next(item: SubscribeResponse): void {
    if (!this.closed) this.sink.next(item);
  }

  end(error: unknown): void {
    if (this.closed) return;
    this.closed = true;
    this.sink.error(error);
  }
}

const shuttingDown = () =>
  new GrpcStatusError(status.UNAVAILABLE, 'the server is shutting down; subscribe again');

/**
 * The presence subscriptions open in this process. Each gets a snapshot, then every change of
 * what its subscriber may see: an account's presence, the typing addressed to the subscriber by
 * the accounts it watches, and last seen appearing or disappearing when an account's privacy
 * setting changes or two accounts exchange their first message, and all of it when one of two
 * accounts blocks or unblocks the other.
 */
export class PresenceSubscriptions implements DeviceStreamHolder {
  private readonly byAccount = new Map<string, Set<Subscription>>();
  private readonly byViewer = new Map<string, Set<Subscription>>();
  private ending = false;

  constructor(
    private readonly book: PresenceBook,
    private readonly typing: TypingIndicators,
    private readonly privacy: PresencePrivacy,
    private readonly reportError: (error: unknown, message: string) => void,
    private readonly departures?: Pick<DeviceDepartures, 'departure'>,
  ) {}

  /**
   * Opens a subscription of device `viewerDevice` of account `viewer` to `accountIds` (checked);
   * returns what ends it.
   */
  open(viewer: string, viewerDevice: number, accountIds: readonly string[], sink: PresenceSink): () => void {
    const subscription = new Subscription(viewer, viewerDevice, accountIds, sink);
    const refusal = this.ending ? shuttingDown() : this.departures?.departure(viewer, viewerDevice);
    if (refusal) {
      subscription.end(refusal);
      return () => undefined;
    }
    this.privacy.sightsOf(viewer, accountIds).then(
      (sights) => {
        if (subscription.closed) return;
        const departure = this.departures?.departure(viewer, viewerDevice);
        if (departure) return subscription.end(departure);
        for (const [accountId, sight] of sights) subscription.sights.set(accountId, sight);
        const presences = accountIds.map((accountId) => {
          const view = subscription.viewOf(this.book.presenceOf(accountId));
          subscription.sent.set(accountId, view);
          return toItem(view);
        });
        subscription.next({
          item: {
            $case: 'snapshot',
            value: {
              presences,
              typing: this.typing
                .inChat(viewer, accountIds)
                .filter((update) => subscription.sights.get(update.accountId) !== 'nothing')
                .map(toTyping),
            },
          },
        });
        subscription.live = true;
        for (const accountId of accountIds) add(this.byAccount, accountId, subscription);
        add(this.byViewer, viewer, subscription);
      },
      (error: unknown) => {
        this.reportError(error, 'opening a presence subscription failed');
        subscription.end(new GrpcStatusError(status.UNAVAILABLE, 'presence is not available; retry'));
      },
    );
    return () => this.close(subscription);
  }

  /** An account's presence changed. */
  presenceChanged(presence: AccountPresence): void {
    for (const subscription of this.byAccount.get(presence.accountId) ?? []) subscription.offer(presence);
  }

  /** An account started or stopped typing in its chat with another. */
  typingChanged(update: TypingUpdate): void {
    for (const subscription of this.byViewer.get(update.chatAccountId) ?? []) {
      if (
        subscription.watched.has(update.accountId) &&
        subscription.sights.get(update.accountId) !== 'nothing'
      )
        subscription.next({ item: { $case: 'typing', value: toTyping(update) } });
    }
  }

  /** The account's last-seen visibility may have changed: its subscribers may see more or less. */
  async visibilityChanged(accountId: string): Promise<void> {
    await Promise.all(
      [...(this.byAccount.get(accountId) ?? [])].map((subscription) => this.review(subscription, accountId)),
    );
  }

  /**
   * What these pairs of accounts may see of each other may have changed: they exchanged their
   * first message, or one blocked or unblocked the other.
   */
  async pairsChanged(pairs: readonly (readonly [string, string])[]): Promise<void> {
    const reviews: Promise<void>[] = [];
    for (const [a, b] of pairs) {
      for (const [viewer, accountId] of [
        [a, b],
        [b, a],
      ] as const) {
        for (const subscription of this.byViewer.get(viewer) ?? []) {
          if (subscription.watched.has(accountId)) reviews.push(this.review(subscription, accountId));
        }
      }
    }
    await Promise.all(reviews);
  }

  /** The device left its account: its subscriptions here end with `why` (UNAUTHENTICATED). */
  endDeviceStreams(accountId: string, deviceId: number, why: GrpcStatusError): void {
    for (const subscription of [...(this.byViewer.get(accountId) ?? [])]) {
      if (subscription.viewerDevice !== deviceId) continue;
      subscription.end(why);
      this.close(subscription);
    }
  }

  /** Ends every subscription with UNAVAILABLE: the process is shutting down, clients subscribe again. */
  async endAll(): Promise<void> {
    this.ending = true;
    for (const subscriptions of this.byViewer.values()) {
      for (const subscription of subscriptions) subscription.end(shuttingDown());
    }
    this.byAccount.clear();
    this.byViewer.clear();
  }

  /** How many subscriptions are open. */
  get size(): number {
    let size = 0;
    for (const subscriptions of this.byViewer.values()) size += subscriptions.size;
    return size;
  }

  private async review(subscription: Subscription, accountId: string): Promise<void> {
    const sights = await this.privacy.sightsOf(subscription.viewer, [accountId]);
    subscription.sights.set(accountId, sights.get(accountId) ?? 'nothing');
    subscription.offer(this.book.presenceOf(accountId));
  }

  private close(subscription: Subscription): void {
    subscription.closed = true;
    for (const accountId of subscription.accountIds) remove(this.byAccount, accountId, subscription);
    remove(this.byViewer, subscription.viewer, subscription);
  }
}

function add<K, V>(index: Map<K, Set<V>>, key: K, value: V): void {
  let values = index.get(key);
  if (!values) {
    values = new Set();
    index.set(key, values);
  }
  values.add(value);
}

function remove<K, V>(index: Map<K, Set<V>>, key: K, value: V): void {
  const values = index.get(key);
  if (!values) return;
  values.delete(value);
  if (values.size === 0) index.delete(key);
}
