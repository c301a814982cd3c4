import { LinkingServiceService } from '@tandem/contracts/tandem/linking/v1/linking_service';
import { deviceDirectoryProjection } from '@tandem/linking-events';
import { CommandHandler } from '@tandem/event-sourcing';
import { deviceListDecider, linkSessionDecider } from '@tandem/linking-domain';
import { defineService, eventFeed } from '@tandem/runtime';
import { AccountsEventsConsumer } from './accounts-events.consumer';
import { DeviceActivity } from './device-activity';
import { DeviceLinking } from './device-linking';
import { linkSessions } from './link-sessions.projection';
import { LINK_RATE_LIMITS, LinkingGrpcController, linkRateLimits } from './linking.grpc-controller';
import { accountEventCodec, deviceListEventCodec } from './linking.codecs';
import { SignIn } from './sign-in';
import { expireLinkSessions, unlinkCompanionsOfInactivePrimaries } from './sweepers';

const deviceDirectory = deviceDirectoryProjection('device-directory');

/**
 * The linking service: every account's device list and the link sessions (event store and relay
 * to tandem.linking.events), device sign-in, the device directory it authenticates with, the
 * consumer that starts and ends device lists from tandem.accounts.events, and the sweepers that
 * expire link sessions and unlink the companions of inactive primaries.
 */
export const linkingService = defineService({
  name: 'linking',
  grpc: LinkingServiceService,
  controllers: [LinkingGrpcController],
  payloads: [deviceListEventCodec],
  events: { payloadType: deviceListEventCodec.payloadType },
  async build(service) {
    const { config } = service;
    const store = service.eventStore();
    const options = { onAppended: service.onAppended };
    const deviceLists = new CommandHandler(store, deviceListDecider, deviceListEventCodec, options);
    const linkSessionCommands = new CommandHandler(store, linkSessionDecider, deviceListEventCodec, options);
    const activity = new DeviceActivity(service.documents.collection('device_activity'));
    return {
      deviceLists,
      linkSessionCommands,
      directory: service.projection(deviceDirectory),
      activity,
      sessions: service.projection(linkSessions),
      accountsEvents: new AccountsEventsConsumer(deviceLists),
      linking: new DeviceLinking(deviceLists, linkSessionCommands, store, deviceListEventCodec, activity, {
        maxCompanions: config.linking.maxCompanions,
        linkSessionTtlMs: config.linking.linkSessionTtlSeconds * 1000,
      }),
      signIn: new SignIn(deviceLists, service.tokens, activity),
      limits: linkRateLimits(await service.rateLimits(), config.linking),
    };
  },
  projections: [deviceDirectory, linkSessions],
  consumers: [
    {
      name: 'device-lists-of-accounts',
      feed: eventFeed('accounts', 'accounts-events', accountEventCodec),
      handler: (parts) => parts.accountsEvents,
    },
  ],
  jobs: [
    {
      name: 'link-session-sweeper',
      intervalMs: (config) => Math.min(config.linking.sweepIntervalSeconds * 1000, 5_000),
      run: (parts) => expireLinkSessions(parts.sessions, parts.linkSessionCommands, new Date()),
    },
    {
      name: 'inactivity-sweeper',
      intervalMs: (config) => config.linking.sweepIntervalSeconds * 1000,
      run: (parts, config) =>
        unlinkCompanionsOfInactivePrimaries(
          parts.directory,
          parts.activity,
          parts.deviceLists,
          config.linking.primaryInactivitySeconds * 1000,
          new Date(),
        ),
    },
  ],
  providers: (parts) => [
    { provide: SignIn, useValue: parts.signIn },
    { provide: DeviceLinking, useValue: parts.linking },
    { provide: LINK_RATE_LIMITS, useValue: parts.limits },
  ],
  devices: ({ directory }) => directory,
  async setUp({ sessions, directory }) {
    await sessions.setUp();
    await directory.setUp();
  },
  endStreams: ({ linking }) => linking.endWatches(),
});
