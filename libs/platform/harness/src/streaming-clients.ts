import {
  type ChannelOptions,
  type Client,
  type ClientReadableStream,
  credentials,
  type Metadata,
} from '@grpc/grpc-js';
import type {
  StreamInboxRequest,
  StreamInboxResponse,
} from '@tandem/contracts/tandem/fanout/v1/fanout_service';
import type {
  SubscribeRequest,
  SubscribeResponse,
} from '@tandem/contracts/tandem/presence/v1/presence_service';
import { serviceClientConstructor, services } from './grpc-client';

export type FanoutStreamingClient = Client & {
  StreamInbox(request: StreamInboxRequest, metadata: Metadata): ClientReadableStream<StreamInboxResponse>;
};

export type PresenceStreamingClient = Client & {
  Subscribe(request: SubscribeRequest, metadata: Metadata): ClientReadableStream<SubscribeResponse>;
};

/**
 * Channel options for a client on a connection of its own: an HTTP/2 connection carries about
 * 100 concurrent streams, so many streams need several clients.
 */
export const OWN_CONNECTION: ChannelOptions = { 'grpc.use_local_subchannel_pool': 1 };

/** A FanoutService client of its own, for reading server streams item by item. */
export function fanoutStreamingClient(address: string, options: ChannelOptions = {}): FanoutStreamingClient {
  const Client = serviceClientConstructor(services.fanout);
  return new Client(address, credentials.createInsecure(), options) as unknown as FanoutStreamingClient;
}

/** A PresenceService client of its own, for reading Subscribe streams item by item. */
export function presenceStreamingClient(
  address: string,
  options: ChannelOptions = {},
): PresenceStreamingClient {
  const Client = serviceClientConstructor(services.presence);
  return new Client(address, credentials.createInsecure(), options) as unknown as PresenceStreamingClient;
}
