/** What authenticating a request needs to know of a device. */
export interface KnownDevice {
  /** False once the device left its account: its tokens no longer work. */
  readonly linked: boolean;
  readonly primary: boolean;
}

/**
 * Looks a device up in the service's own knowledge of the devices: `null` when the service has
 * not heard of it yet. Services implement it with the device directory they project from the
 * linking service's events (`DeviceDirectory` in `@tandem/linking-events`).
 */
export interface DeviceLookup {
  find(accountId: string, deviceId: number): Promise<KnownDevice | null>;
}
