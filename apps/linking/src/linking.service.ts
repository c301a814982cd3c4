import { Module } from '@nestjs/common';
import { DeviceDirectory } from '@tandem/auth';
import { CommandHandler } from '@tandem/event-sourcing';
import { deviceListDecider, linkSessionDecider } from '@tandem/linking-domain';
import {
  consumerWorker,
  type Infrastructure,
  periodicWorker,
  rateLimitSweeper,
  relayWorker,
  type TandemService,
  deviceAuthProviders,
  deviceTokens,
  outboxRelay,
} from '@tandem/runtime';
import { AccountsEventsConsumer } from './accounts-events.consumer';
import { DeviceActivity } from './device-activity';
import { DeviceLinking } from './device-linking';
import { LinkSessionsProjection } from './link-sessions.projection';
import { LINK_RATE_LIMITS, type LinkRateLimits, LinkingGrpcController } from './linking.grpc-controller';
import { accountEventCodec, deviceListEventCodec } from './linking.codecs';
import { SignIn } from './sign-in';
import { expireLinkSessions, unlinkCompanionsOfInactivePrimaries } from './sweepers';
import { LinkingServiceService } from '@tandem/contracts/tandem/linking/v1/linking_service';

@Module({})
class LinkingModule {}

/**
 * The linking service: every account's device list and the link sessions (event store and relay
 * to tandem.linking.events), device sign-in, the device directory it authenticates with, the
 * consumer that starts and ends device lists from tandem.accounts.events, and the sweepers that
 * expire link sessions and unlink the companions of inactive primaries.
 */
export async function linkingService(infrastructure: Infrastructure): Promise<TandemService> {
  const { eventLog, logger, config } = infrastructure;
  const store = await infrastructure.eventStore('linking');
  const documents = await infrastructure.documents('linking');
  const topic = infrastructure.topic('linking');
  const accountsTopic = infrastructure.topic('accounts');

  const relay = outboxRelay(infrastructure, store, topic, deviceListEventCodec.payloadType);
  const onAppended = () => relay.wake();
  const deviceLists = new CommandHandler(store, deviceListDecider, deviceListEventCodec, { onAppended });
  const linkSessions = new CommandHandler(store, linkSessionDecider, deviceListEventCodec, { onAppended });
  const tokens = deviceTokens(infrastructure);
  const directory = new DeviceDirectory(documents.collection('devices'));
  const activity = new DeviceActivity(documents.collection('device_activity'));
  const sessions = new LinkSessionsProjection(documents.collection('link_sessions'));
  const accountsEvents = new AccountsEventsConsumer(deviceLists);
  const linking = new DeviceLinking(deviceLists, linkSessions, store, deviceListEventCodec, activity, {
    maxCompanions: config.linking.maxCompanions,
    linkSessionTtlMs: config.linking.linkSessionTtlSeconds * 1000,
  });
  const { requests: points, windowSeconds } = config.linking.rateLimit;
  const rateLimits = await infrastructure.rateLimits('linking');
  const limits: LinkRateLimits = {
    beginLinkPerAddress: rateLimits.limit({
      name: 'begin-link',
      what: 'link sessions from this address',
      points,
      windowSeconds,
    }),
    approveLinkPerAccount: rateLimits.limit({
      name: 'approve-link',
      what: 'link approvals for this account',
      points,
      windowSeconds,
    }),
    signInPerDevice: rateLimits.limit({
      name: 'sign-in',
      what: 'sign-in attempts for this device',
      points: config.linking.signInRateLimit.requests,
      windowSeconds: config.linking.signInRateLimit.windowSeconds,
    }),
  };
  const sweepMs = config.linking.sweepIntervalSeconds * 1000;
  const reportSweepError = (error: unknown) => logger.error({ err: error }, 'sweep failed');

  return {
    name: 'linking',
    grpc: {
      package: 'tandem.linking.v1',
      definition: LinkingServiceService,
      serviceName: 'tandem.linking.v1.LinkingService',
    },
    module: {
      module: LinkingModule,
      controllers: [LinkingGrpcController],
      providers: [
        { provide: SignIn, useValue: new SignIn(deviceLists, tokens, activity) },
        { provide: DeviceLinking, useValue: linking },
        { provide: LINK_RATE_LIMITS, useValue: limits },
        ...deviceAuthProviders(tokens, directory),
      ],
    },
    topics: [topic, accountsTopic],
    setUp: async () => {
      await sessions.setUp();
      await directory.setUp();
    },
    endStreams: () => linking.endWatches(),
    workers: [
      relayWorker('linking.relay', relay),
      rateLimitSweeper('linking', rateLimits, infrastructure),
      consumerWorker('linking.accounts-events', eventLog, {
        groupId: infrastructure.groupId('linking', 'accounts-events'),
        topic: accountsTopic.name,
        codec: accountEventCodec,
        handle: (received) => accountsEvents.apply(received),
      }),
      consumerWorker('linking.device-directory', eventLog, {
        groupId: infrastructure.groupId('linking', 'device-directory'),
        topic: topic.name,
        codec: deviceListEventCodec,
        handle: async (received) => {
          await directory.apply(received);
          await sessions.apply(received);
        },
      }),
      periodicWorker(
        'linking.link-session-sweeper',
        Math.min(sweepMs, 5_000),
        () => expireLinkSessions(sessions, linkSessions, new Date()),
        reportSweepError,
      ),
      periodicWorker(
        'linking.inactivity-sweeper',
        sweepMs,
        () =>
          unlinkCompanionsOfInactivePrimaries(
            directory,
            activity,
            deviceLists,
            config.linking.primaryInactivitySeconds * 1000,
            new Date(),
          ),
        reportSweepError,
      ),
    ],
  };
}
