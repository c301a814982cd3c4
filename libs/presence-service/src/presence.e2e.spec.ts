import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Metadata, status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LastSeenVisibility } from '@tandem/contracts/tandem/accounts/v1/settings';
import type { SendResponse } from '@tandem/contracts/tandem/fanout/v1/fanout_service';
import type {
  AccountPresence,
  HeartbeatResponse,
  SetTypingResponse,
  SubscribeResponse,
  Typing,
} from '@tandem/contracts/tandem/presence/v1/presence_service';
import { TypingState } from '@tandem/contracts/tandem/presence/v1/typing';
import {
  CollectedStream,
  createTestAccount,
  eventually,
  fanoutStreamingClient,
  type FanoutStreamingClient,
  grpcFailure,
  type GrpcTestClient,
  oneofValue,
  openInboxStream,
  presenceStreamingClient,
  type PresenceStreamingClient,
  type ServiceProcess,
  services,
  type SignedInDevice,
  type TestAccount,
  TestInstallation,
  testMessage,
} from '@tandem/harness';
import { testInfrastructure, uniqueName } from '@tandem/testing';

const millis = (date: Date | undefined): number | undefined => date?.getTime();

/** One Subscribe call, its items collected as they arrive. */
class PresenceStream extends CollectedStream<SubscribeResponse> {
  constructor(client: PresenceStreamingClient, token: string, accountIds: string[]) {
    const metadata = new Metadata();
    metadata.set('authorization', `Bearer ${token}`);
    super(client.Subscribe({ accountIds }, metadata));
  }

  snapshot(): AccountPresence[] {
    const first = oneofValue(this.items[0]?.item, 'snapshot');
    if (!first) throw new Error(`no snapshot first: ${this.describe()}`);
    return first.presences;
  }

  /** The presence items after the first `after` items, with when each arrived. */
  presences(after = 0): { presence: AccountPresence; receivedAt: number }[] {
    return this.items.flatMap(({ item }, index) =>
      index >= after && item?.$case === 'presence'
        ? [{ presence: item.value, receivedAt: this.receivedAt[index]! }]
        : [],
    );
  }

  typing(after = 0): Typing[] {
    return this.items.slice(after).flatMap(({ item }) => (item?.$case === 'typing' ? [item.value] : []));
  }
}

const TIMEOUT_SECONDS = 3;
const TYPING_SECONDS = 2;

/**
 * Presence with accounts, linking, fanout and presence as processes on Kafka and MongoDB: A
 * subscribes to B; B's companion opens and closes its inbox stream; B's primary sends heartbeats
 * and stops; B types to A; B hides its last seen from everyone, then shows it to contacts only;
 * B blocks A and unblocks it; and presence is killed while B is online and started again.
 */
describe('presence, services as processes on Kafka and MongoDB', () => {
  const installation = new TestInstallation(uniqueName('e2e_presence'), testInfrastructure());
  let accounts: GrpcTestClient;
  let linking: GrpcTestClient;
  let fanout: GrpcTestClient;
  let inboxClient: FanoutStreamingClient;
  let presenceProcess: ServiceProcess;
  let presence: GrpcTestClient;
  let presenceClient: PresenceStreamingClient;
  const opened: { cancel(): void }[] = [];

  let a: TestAccount;
  let b: TestAccount;
  let companion: SignedInDevice;
  /** A's subscription to B, open from the first test on. */
  let subscription: PresenceStream;

  const startPresence = async () => {
    presenceProcess = await installation.start('presence', {
      TANDEM_PRESENCE_TIMEOUT_SECONDS: String(TIMEOUT_SECONDS),
      TANDEM_PRESENCE_TYPING_SECONDS: String(TYPING_SECONDS),
    });
    presence = installation.client(presenceProcess, services.presence);
    presenceClient = installation.connect(presenceProcess, presenceStreamingClient);
  };

  /** Subscribes, retrying while presence does not know the device yet; resolves after the snapshot. */
  const subscribe = (device: SignedInDevice, accountIds: string[]) =>
    eventually(
      async () => {
        const stream = new PresenceStream(presenceClient, device.token, accountIds);
        opened.push(stream);
        await stream.until(() => stream.items[0]);
        return stream;
      },
      { retryOn: [status.UNAVAILABLE], timeoutMs: 30_000 },
    );

  const openInbox = async (device: SignedInDevice) => {
    const stream = await openInboxStream(inboxClient, device.token);
    opened.push(stream);
    return stream;
  };

  /** The first presence item of B after the first `after` items that `matches`. */
  const bPresence = (
    stream: PresenceStream,
    after: number,
    matches: (presence: AccountPresence) => boolean,
  ) =>
    stream.until(() =>
      stream.presences(after).find(({ presence: item }) => item.accountId === b.accountId && matches(item)),
    );

  const setLastSeen = (visibility: LastSeenVisibility) =>
    eventually(
      () =>
        accounts.call(
          'UpdateSettings',
          { accountId: b.accountId, lastSeenVisibility: visibility },
          b.primary.token,
        ),
      { retryOn: [status.UNAVAILABLE] },
    );

  beforeAll(async () => {
    const [accountsProcess, linkingProcess, fanoutProcess] = await Promise.all([
      installation.start('accounts'),
      installation.start('linking', { ...installation.signingKeyEnv, TANDEM_LINK_RATE_LIMIT: '50' }),
      installation.start('fanout', { TANDEM_SEND_RATE_LIMIT: '1000' }),
      startPresence(),
    ]);
    accounts = installation.client(accountsProcess, services.accounts);
    linking = installation.client(linkingProcess, services.linking);
    fanout = installation.client(fanoutProcess, services.fanout);
    inboxClient = installation.connect(fanoutProcess, fanoutStreamingClient);

    [a, b] = await Promise.all([
      createTestAccount(accounts, linking),
      createTestAccount(accounts, linking, 1),
    ]);
    companion = b.devices[1]!;
    subscription = await subscribe(a.primary, [b.accountId]);
  });

  afterAll(async () => {
    for (const stream of opened) stream.cancel();
    await installation.stop();
  });

  it('shows B offline without last seen before any of its devices was online', () => {
    expect(subscription.snapshot()).toEqual([
      { accountId: b.accountId, online: false, lastSeen: undefined, lastSeenHidden: false },
    ]);
  });

  it("shows B online while its companion's inbox stream is open, then offline last seen at the close", async () => {
    const inbox = await openInbox(companion);
    await bPresence(subscription, 0, (item) => item.online);

    const before = subscription.items.length;
    const closedAt = Date.now();
    inbox.cancel();
    const { presence: offline } = await bPresence(subscription, before, (item) => !item.online);
    expect(offline.lastSeenHidden).toBe(false);
    const lastSeen = millis(offline.lastSeen)!;
    expect(lastSeen).toBeGreaterThanOrEqual(closedAt - 1_000);
    expect(lastSeen).toBeLessThanOrEqual(Date.now());
  });

  it('shows B typing in its chat with A, not elsewhere, until it stops or the indicator ends by itself', async () => {
    const before = subscription.items.length;
    const setTyping = (chatAccountId: string, state: TypingState) =>
      eventually(
        () => presence.call<SetTypingResponse>('SetTyping', { chatAccountId, state }, companion.token),
        { retryOn: [status.UNAVAILABLE] },
      );

    await setTyping(randomUUID(), TypingState.TYPING_STATE_TYPING);
    const typingAt = Date.now();
    const response = await setTyping(a.accountId, TypingState.TYPING_STATE_TYPING);
    expect(millis(response.expiresAt)! - typingAt).toBeGreaterThan(TYPING_SECONDS * 1000 - 1_000);
    const typing = await subscription.until(() => subscription.typing(before)[0]);
    expect(typing).toMatchObject({
      accountId: b.accountId,
      chatAccountId: a.accountId,
      state: TypingState.TYPING_STATE_TYPING,
    });
    expect(typing.expiresAt).toBeTruthy();

    await setTyping(a.accountId, TypingState.TYPING_STATE_STOPPED);
    await subscription.until(() => subscription.typing(before)[1]);
    expect(subscription.typing(before)[1]).toMatchObject({
      accountId: b.accountId,
      state: TypingState.TYPING_STATE_STOPPED,
    });

    const recordingAt = Date.now();
    await setTyping(a.accountId, TypingState.TYPING_STATE_RECORDING);
    await subscription.until(() => subscription.typing(before)[3]);
    const stoppedAt = subscription.receivedAt.at(-1)!;
    expect(
      subscription
        .typing(before)
        .slice(2)
        .map((item) => item.state),
    ).toEqual([TypingState.TYPING_STATE_RECORDING, TypingState.TYPING_STATE_STOPPED]);
    expect(stoppedAt - recordingAt).toBeGreaterThanOrEqual(TYPING_SECONDS * 1000 - 500);
    expect(subscription.typing(before).every((item) => item.chatAccountId === a.accountId)).toBe(true);
  });

  it('refuses typing to oneself and a subscription to more than 256 accounts', async () => {
    const own = await grpcFailure(
      presence.call(
        'SetTyping',
        { chatAccountId: b.accountId, state: TypingState.TYPING_STATE_TYPING },
        companion.token,
      ),
    );
    expect(own.code).toBe(status.INVALID_ARGUMENT);
    const tooMany = new PresenceStream(
      presenceClient,
      a.primary.token,
      Array.from({ length: 257 }, () => randomUUID()),
    );
    opened.push(tooMany);
    await expect(tooMany.until(() => undefined)).rejects.toMatchObject({ code: status.INVALID_ARGUMENT });
    const withoutToken = await grpcFailure(presence.call('Heartbeat', {}));
    expect(withoutToken.code).toBe(status.UNAUTHENTICATED);
  });

  it('keeps B online on heartbeats alone, and offline after the timeout once they stop', async () => {
    const before = subscription.items.length;
    const first = await eventually(() => presence.call<HeartbeatResponse>('Heartbeat', {}, b.primary.token), {
      retryOn: [status.UNAVAILABLE],
    });
    expect(first.intervalSeconds).toBe(1);
    await bPresence(subscription, before, (item) => item.online);

    let lastHeartbeatAt = Date.now();
    for (let beat = 0; beat < 5; beat++) {
      await sleep(1_000);
      await presence.call<HeartbeatResponse>('Heartbeat', {}, b.primary.token);
      lastHeartbeatAt = Date.now();
    }
    expect(subscription.presences(before).map(({ presence: item }) => item.online)).toEqual([true]);

    const { presence: offline, receivedAt } = await bPresence(subscription, before, (item) => !item.online);
    expect(receivedAt - lastHeartbeatAt).toBeGreaterThanOrEqual(TIMEOUT_SECONDS * 1000 - 500);
    expect(Math.abs(millis(offline.lastSeen)! - lastHeartbeatAt)).toBeLessThan(1_000);
  });

  it("hides B's last seen from A when B shows it to nobody, and shows it once they are contacts under CONTACTS", async () => {
    let before = subscription.items.length;
    await setLastSeen(LastSeenVisibility.LAST_SEEN_VISIBILITY_NOBODY);
    const hidden = await bPresence(subscription, before, (item) => item.lastSeenHidden);
    expect(hidden.presence).toEqual({
      accountId: b.accountId,
      online: false,
      lastSeen: undefined,
      lastSeenHidden: true,
    });

    const own = await subscribe(b.primary, [b.accountId]);
    expect(own.snapshot()[0]).toMatchObject({ online: false, lastSeenHidden: false });
    expect(own.snapshot()[0]!.lastSeen).toBeTruthy();
    own.cancel();

    await setLastSeen(LastSeenVisibility.LAST_SEEN_VISIBILITY_CONTACTS);
    await sleep(1_000);
    expect(subscription.presences(before).at(-1)!.presence.lastSeenHidden).toBe(true);

    before = subscription.items.length;
    const message = await testMessage(linking, a.primary, b.accountId, randomUUID());
    await eventually(() => fanout.call<SendResponse>('Send', message, a.primary.token), {
      retryOn: [status.FAILED_PRECONDITION, status.UNAVAILABLE, status.NOT_FOUND],
    });
    const shown = await bPresence(subscription, before, (item) => !item.lastSeenHidden);
    expect(shown.presence.lastSeen).toBeTruthy();

    before = subscription.items.length;
    await setLastSeen(LastSeenVisibility.LAST_SEEN_VISIBILITY_EVERYONE);
    await sleep(500);
    expect(subscription.presences(before)).toEqual([]);
  });

  it('shows B offline without last seen to A while B blocks A, and online again once B unblocks A', async () => {
    let before = subscription.items.length;
    const inbox = await openInbox(companion);
    await bPresence(subscription, before, (item) => item.online);

    before = subscription.items.length;
    await accounts.call(
      'BlockAccount',
      { accountId: b.accountId, blockedAccountId: a.accountId },
      b.primary.token,
    );
    const hidden = await bPresence(subscription, before, (item) => !item.online);
    expect(hidden.presence).toEqual({
      accountId: b.accountId,
      online: false,
      lastSeen: undefined,
      lastSeenHidden: true,
    });
    const fresh = await subscribe(a.primary, [b.accountId]);
    expect(fresh.snapshot()).toEqual([hidden.presence]);
    fresh.cancel();

    before = subscription.items.length;
    await accounts.call(
      'UnblockAccount',
      { accountId: b.accountId, blockedAccountId: a.accountId },
      b.primary.token,
    );
    await bPresence(subscription, before, (item) => item.online);

    before = subscription.items.length;
    inbox.cancel();
    await bPresence(subscription, before, (item) => !item.online);
  });

  it("restores B's presence from the compacted topic when presence is killed and started again", async () => {
    const before = subscription.items.length;
    const inbox = await openInbox(companion);
    await bPresence(subscription, before, (item) => item.online);

    expect(await presenceProcess.stop('SIGKILL')).toBe(null);
    await subscription.until(() => (subscription.ended ? true : undefined));
    await startPresence();
    expect(presenceProcess.output()).toMatch(
      /"records":[1-9]\d*,.*"msg":"restored presence from the compacted topic"/,
    );

    const restored = await subscribe(a.primary, [b.accountId]);
    expect(restored.snapshot()).toEqual([
      { accountId: b.accountId, online: true, lastSeen: undefined, lastSeenHidden: false },
    ]);

    const closedAt = Date.now();
    inbox.cancel();
    const { presence: offline } = await restored.until(
      () => restored.presences().find(({ presence: item }) => !item.online),
      30_000,
    );
    expect(millis(offline.lastSeen)!).toBeGreaterThanOrEqual(closedAt - 1_000);
  });
});
