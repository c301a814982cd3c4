import type { SendRequest } from '@tandem/contracts/tandem/fanout/v1/fanout_service';
import { type Envelope, EnvelopeType } from '@tandem/contracts/tandem/fanout/v1/inbox';
import type { GetDeviceListResponse } from '@tandem/contracts/tandem/linking/v1/linking_service';

/**
 * What the demo puts where a real client puts ciphertext: the text as JSON, marked as a demo, the
 * same for every device. Tandem never reads an envelope's content, so the demo shows the whole
 * fan-out without any encryption; a real client encrypts once per device with the Signal protocol.
 */
export const demoContent = (text: string): Buffer =>
  Buffer.from(JSON.stringify({ demo: true, text }), 'utf8');

/**
 * The key of a history bundle, as the demo's primary sends it to its own devices (a real client
 * sends it end-to-end encrypted to the new companion only).
 */
export const demoHistoryKey = (bundleId: string, key: Buffer): Buffer =>
  Buffer.from(
    JSON.stringify({
      demo: true,
      text: `(the key of history bundle ${bundleId})`,
      historyKey: { bundleId, key: key.toString('base64') },
    }),
    'utf8',
  );

/** The text of demo content; undefined for anything else (real ciphertext, another client's). */
export function demoText(content: Uint8Array): string | undefined {
  try {
    const parsed = JSON.parse(Buffer.from(content).toString('utf8')) as unknown;
    if (typeof parsed !== 'object' || parsed === null) return undefined;
    const { demo, text } = parsed as { demo?: unknown; text?: unknown };
    return demo === true && typeof text === 'string' ? text : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A Send of `text` as a client builds it: one envelope for each device of the recipient's
 * current list and one for each of the sender's other devices (their copy of what it sent). For a
 * note to self, only the sender's other devices.
 */
export function demoSendRequest(message: {
  readonly sender: { readonly accountId: string; readonly deviceId: number };
  readonly recipientList: GetDeviceListResponse;
  readonly ownList: GetDeviceListResponse;
  readonly clientMessageId: string;
  readonly text: string;
  /** Content other than a text's, e.g. a history key. */
  readonly content?: Buffer;
}): SendRequest {
  const { sender, recipientList, ownList, clientMessageId, text } = message;
  const content = message.content ?? demoContent(text);
  const envelopesFor = (list: GetDeviceListResponse, skipDeviceId?: number): Envelope[] =>
    list.devices
      .filter((device) => device.deviceId !== skipDeviceId)
      .map((device) => ({
        accountId: list.accountId,
        deviceId: device.deviceId,
        registrationId: device.registrationId,
        type: EnvelopeType.ENVELOPE_TYPE_CIPHERTEXT,
        content,
      }));
  const toSelf = recipientList.accountId === sender.accountId;
  return {
    recipientAccountId: recipientList.accountId,
    clientMessageId,
    recipientListVersion: recipientList.listVersion,
    envelopes: [...(toSelf ? [] : envelopesFor(recipientList)), ...envelopesFor(ownList, sender.deviceId)],
  };
}
