import type { Document, DocumentCollection } from '@tandem/documents';

export interface DeviceActivityRecord extends Document {
  readonly accountId: string;
  readonly deviceId: number;
  readonly lastActiveAt: string;
}

/**
 * When each device last signed in: shown as "last active" and what the inactivity sweeper judges
 * the primary by. Tokens live minutes, so an active device signs in at least that often.
 */
export class DeviceActivity {
  constructor(private readonly activity: DocumentCollection<DeviceActivityRecord>) {}

  record(accountId: string, deviceId: number, at: Date): Promise<void> {
    return this.activity.put({
      _id: `${accountId}:${deviceId}`,
      accountId,
      deviceId,
      lastActiveAt: at.toISOString(),
    });
  }

  async lastActiveAt(accountId: string, deviceId: number): Promise<Date | undefined> {
    const record = await this.activity.get(`${accountId}:${deviceId}`);
    return record ? new Date(record.lastActiveAt) : undefined;
  }
}
