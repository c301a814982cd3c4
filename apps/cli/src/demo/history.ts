import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { type ClientDuplexStream, status } from '@grpc/grpc-js';
import { MediaEvent } from '@tandem/contracts/tandem/media/v1/events';
import type { ConnectRequest, ConnectResponse } from '@tandem/contracts/tandem/fanout/v1/fanout_service';
import { type InboxEntry, SystemEntryKind } from '@tandem/contracts/tandem/fanout/v1/inbox';
import type {
  DownloadResponse,
  UploadRequest,
  UploadResponse,
} from '@tandem/contracts/tandem/media/v1/media_service';
import { demoHistoryKey, demoSendRequest, demoText } from './demo-messages';
import type { DeviceSession } from './device-session';
import type { HistoryMessage, Profile } from './profiles';
import { hasStatus, retrying, type TandemClient } from './tandem-client';

/** Largest part of a history bundle (the service takes chunks of up to 1 MiB). */
const PART_BYTES = 1024 * 1024;

/** A history message as the phone keeps it from an inbox entry. */
export function historyMessageOf(entry: InboxEntry): HistoryMessage | undefined {
  if (entry.content?.$case !== 'message') return undefined;
  const { senderAccountId, senderDeviceId, content } = entry.content.value;
  return {
    id: entry.serverMessageId,
    from: `${senderAccountId}/${senderDeviceId}`,
    text: demoText(content) ?? `<${content.length} bytes that are not a demo message>`,
  };
}

/** Seals the history with a fresh key (AES-256-GCM: the IV, the ciphertext, the tag). */
export function sealHistory(messages: readonly HistoryMessage[]): { sealed: Buffer; key: Buffer } {
  const key = randomBytes(32);
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([cipher.update(JSON.stringify(messages)), cipher.final()]);
  return { sealed: Buffer.concat([iv, body, cipher.getAuthTag()]), key };
}

export function openHistory(sealed: Buffer, key: Buffer): HistoryMessage[] {
  const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, 12));
  decipher.setAuthTag(sealed.subarray(-16));
  const text = Buffer.concat([decipher.update(sealed.subarray(12, -16)), decipher.final()]).toString();
  return JSON.parse(text) as HistoryMessage[];
}

const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest();

async function uploadPart(client: TandemClient, token: string, bytes: Buffer): Promise<string> {
  const { mediaId } = await retrying(
    () => client.media.call('startUpload', { sizeBytes: bytes.length, sha256: sha256(bytes) }, token),
    { retryOn: [status.UNAVAILABLE] },
  );
  const response = await new Promise<UploadResponse>((resolve, reject) => {
    const call = client.media.clientStream<UploadRequest, UploadResponse>('upload', token, (error, answer) =>
      error ? reject(error) : resolve(answer as UploadResponse),
    );
    call.write({ part: { $case: 'header', value: { mediaId, offset: 0 } } });
    for (let at = 0; at < bytes.length; at += PART_BYTES) {
      call.write({ part: { $case: 'chunk', value: bytes.subarray(at, at + PART_BYTES) } });
    }
    call.end();
  });
  if (!response.completed)
    throw new Error(`the upload of a history part stopped at ${response.committedOffset}`);
  return mediaId;
}

/**
 * The primary's side, right after it approved a companion: the messages it received, sealed with
 * a fresh key, uploaded in parts, announced to the companion (AnnounceHistoryBundle), and the key
 * sent to its own devices as a message (the demo does not encrypt messages; a real client sends
 * the key end-to-end encrypted to the new device only).
 */
export async function shareHistory(
  session: DeviceSession,
  profile: Profile,
  deviceId: number,
  messages: readonly HistoryMessage[],
): Promise<void> {
  const { client } = session;
  if (messages.length === 0) {
    console.log(
      'No history to share: this device has received no messages (tandem demo receive keeps them).',
    );
    return;
  }
  const { sealed, key } = sealHistory(messages);
  const token = await session.token();
  const mediaIds: string[] = [];
  for (let at = 0; at < sealed.length; at += PART_BYTES) {
    mediaIds.push(await uploadPart(client, token, sealed.subarray(at, at + PART_BYTES)));
  }
  // Media learns of the new companion from the linking events a moment after the approval.
  const { bundle } = await retrying(
    async () => client.media.call('announceHistoryBundle', { deviceId, mediaIds }, await session.token()),
    { retryOn: [status.FAILED_PRECONDITION, status.UNAVAILABLE], timeoutMs: 15_000, intervalMs: 250 },
  );
  const bundleId = bundle?.bundleId ?? '';
  for (let attempt = 1; ; attempt++) {
    const own = await client.linking.call(
      'getDeviceList',
      { accountId: profile.accountId },
      await session.token(),
    );
    const request = demoSendRequest({
      sender: profile,
      recipientList: own,
      ownList: own,
      clientMessageId: `history-key-${bundleId}`,
      text: '',
      content: demoHistoryKey(bundleId, key),
    });
    try {
      await client.fanout.call('send', request, await session.token());
      break;
    } catch (error) {
      if (!hasStatus(error, status.FAILED_PRECONDITION) || attempt >= 20) throw error;
      await sleep(250);
    }
  }
  console.log(
    `Shared the history: ${messages.length} message(s), ${sealed.length} bytes sealed in ${mediaIds.length} part(s), bundle ${bundleId} for device ${deviceId}.`,
  );
}

function download(client: TandemClient, token: string, mediaId: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const call = client.media.stream('download', { mediaId, offset: 0, length: 0 }, token);
    call.on('data', (response: DownloadResponse) => chunks.push(Buffer.from(response.chunk)));
    call.on('error', reject);
    call.on('end', () => resolve(Buffer.concat(chunks)));
  });
}

/**
 * The new companion's side: waits on its inbox for the history bundle's announcement and the key
 * message, downloads the parts (printing the progress as it confirms each), opens the history and
 * prints it. Resolves with the last sequence it acked; undefined when none came within `waitMs`.
 */
export async function receiveHistory(
  session: DeviceSession,
  waitMs: number,
): Promise<{ lastSequence: number; messages: HistoryMessage[] } | undefined> {
  const { client } = session;
  const deadline = Date.now() + waitMs;
  let announced: { bundleId: string; mediaIds: string[]; sha256s: Buffer[] } | undefined;
  let key: { bundleId: string; key: Buffer } | undefined;
  let lastSequence = 0;
  let found = false;
  // Fanout answers UNAVAILABLE until it learned of the new device: open the inbox again then.
  while (!found && Date.now() < deadline) {
    const stream: ClientDuplexStream<ConnectRequest, ConnectResponse> = client.fanout.duplex(
      'connect',
      await session.token(),
    );
    found = await new Promise<boolean>((resolve, reject) => {
      const timer = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now()));
      stream.write({ frame: { $case: 'open', value: { afterSequence: 0 } } });
      stream.on('data', (response: ConnectResponse) => {
        for (const entry of response.entries) {
          lastSequence = Math.max(lastSequence, entry.sequence);
          const content = entry.content;
          if (
            content?.$case === 'system' &&
            content.value.kind === SystemEntryKind.SYSTEM_ENTRY_KIND_HISTORY_BUNDLE_ANNOUNCED
          ) {
            const event = MediaEvent.decode(content.value.payload).event;
            if (event?.$case === 'historyBundleAnnounced') {
              announced = {
                bundleId: event.value.bundleId,
                mediaIds: event.value.parts.map((part) => part.mediaId),
                sha256s: event.value.parts.map((part) => Buffer.from(part.sha256)),
              };
            }
          }
          const sharedKey =
            content?.$case === 'message' ? demoHistoryKeyOf(content.value.content) : undefined;
          if (sharedKey) key = sharedKey;
        }
        if (lastSequence > 0)
          stream.write({ frame: { $case: 'ack', value: { throughSequence: lastSequence } } });
        if (announced && key && key.bundleId === announced.bundleId) {
          clearTimeout(timer);
          resolve(true);
        }
      });
      stream.on('error', (error) => {
        clearTimeout(timer);
        if (hasStatus(error, status.CANCELLED)) resolve(false);
        else if (hasStatus(error, status.UNAVAILABLE)) void sleep(250).then(() => resolve(false));
        else reject(error);
      });
    });
    stream.end();
    stream.cancel();
  }
  if (!found || !announced || !key) return undefined;

  const parts: Buffer[] = [];
  for (const [index, mediaId] of announced.mediaIds.entries()) {
    const token = await session.token();
    const bytes = await retrying(() => download(client, token, mediaId), { retryOn: [status.UNAVAILABLE] });
    if (!sha256(bytes).equals(announced.sha256s[index]!))
      throw new Error(`history part ${mediaId} has other bytes`);
    parts.push(bytes);
    const { bundle } = await client.media.call(
      'receiveHistoryBundlePart',
      { bundleId: announced.bundleId, mediaId },
      token,
    );
    console.log(
      `History: part ${bundle?.partsReceived ?? index + 1} of ${bundle?.partsTotal ?? announced.mediaIds.length} received`,
    );
  }
  return { lastSequence, messages: openHistory(Buffer.concat(parts), key.key) };
}

function demoHistoryKeyOf(content: Uint8Array): { bundleId: string; key: Buffer } | undefined {
  try {
    const parsed = JSON.parse(Buffer.from(content).toString('utf8')) as {
      demo?: unknown;
      historyKey?: unknown;
    };
    const shared = parsed.historyKey as { bundleId?: unknown; key?: unknown } | undefined;
    if (parsed.demo !== true || typeof shared?.bundleId !== 'string' || typeof shared.key !== 'string')
      return undefined;
    return { bundleId: shared.bundleId, key: Buffer.from(shared.key, 'base64') };
  } catch {
    return undefined;
  }
}
