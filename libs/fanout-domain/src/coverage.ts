/**
 * Whether a message's envelopes cover exactly one account's devices (as Signal's 409 and 410
 * answers): every device needs one envelope, encrypted for the registration id it has now.
 */

/** A device a message must reach, from the device list fanout keeps. */
export interface ExpectedDevice {
  readonly deviceId: number;
  readonly registrationId: number;
}

/** The device an envelope is addressed to and the registration id it was encrypted for. */
export interface EnvelopeAddress {
  readonly deviceId: number;
  readonly registrationId: number;
}

/** How envelopes differ from the expected devices; device ids ascending. */
export interface Coverage {
  /** Expected devices without an envelope. */
  readonly missing: number[];
  /** Envelopes for devices that are not expected. */
  readonly extra: number[];
  /** Expected devices whose envelope names another registration id. */
  readonly stale: number[];
}

const ascending = (ids: Iterable<number>): number[] => [...new Set(ids)].sort((a, b) => a - b);

export function coverage(
  expected: readonly ExpectedDevice[],
  envelopes: readonly EnvelopeAddress[],
): Coverage {
  const registrationIds = new Map(expected.map((device) => [device.deviceId, device.registrationId]));
  const addressed = new Set(envelopes.map((envelope) => envelope.deviceId));
  return {
    missing: ascending(expected.map((device) => device.deviceId).filter((id) => !addressed.has(id))),
    extra: ascending(envelopes.map((envelope) => envelope.deviceId).filter((id) => !registrationIds.has(id))),
    stale: ascending(
      envelopes
        .filter((envelope) => {
          const registrationId = registrationIds.get(envelope.deviceId);
          return registrationId !== undefined && registrationId !== envelope.registrationId;
        })
        .map((envelope) => envelope.deviceId),
    ),
  };
}

export const isCovered = (result: Coverage): boolean =>
  result.missing.length === 0 && result.extra.length === 0 && result.stale.length === 0;
