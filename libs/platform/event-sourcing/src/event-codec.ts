import type { BinaryWriter } from '@bufbuild/protobuf/wire';

/**
 * How a service's events become bytes and back. Each service has one protobuf message with a
 * oneof of its events (`AccountEvent`, `DeviceListEvent`); a domain event is one case of it.
 */
export interface EventCodec<E> {
  /** Fully qualified name of the service's event message, e.g. `tandem.accounts.v1.AccountEvent`. */
  readonly payloadType: string;
  encode(event: E): Uint8Array;
  decode(payload: Uint8Array): E;
  /** The event's type name, e.g. `AccountRegistered`. */
  typeOf(event: E): string;
  /** The account the event belongs to: its Kafka key. */
  partitionKeyOf(event: E): string;
}

/** A payload type and how `tandem events` prints its bytes: as the .proto's JSON mapping does. */
export interface PayloadJson {
  readonly payloadType: string;
  toJson(payload: Uint8Array): unknown;
}

/** The shape ts-proto generates for a message holding a oneof named `event`. */
interface OneofMessageFns<E> {
  encode(message: { event: E | undefined }): BinaryWriter;
  decode(input: Uint8Array): { event: E | undefined };
  toJSON(message: { event: E | undefined }): unknown;
}

/** `accountRegistered` -> `AccountRegistered`. */
export const eventTypeName = (oneofCase: string): string =>
  oneofCase.charAt(0).toUpperCase() + oneofCase.slice(1);

/**
 * A codec for a ts-proto message generated with `oneof=unions-value` whose cases carry an
 * `accountId`; events that belong to no account yet name their key with `partitionKeyOf`.
 */
export function oneofEventCodec<E extends { $case: string; value: { accountId: string } }>(
  payloadType: string,
  message: OneofMessageFns<E>,
  partitionKeyOf: (event: E) => string = (event) => event.value.accountId,
): EventCodec<E> & PayloadJson {
  return {
    payloadType,
    encode: (event) => message.encode({ event }).finish(),
    decode(payload) {
      const { event } = message.decode(payload);
      if (event === undefined) throw new Error(`${payloadType} without an event case`);
      return event;
    },
    typeOf: (event) => eventTypeName(event.$case),
    partitionKeyOf,
    toJson: (payload) => message.toJSON(message.decode(payload)),
  };
}
