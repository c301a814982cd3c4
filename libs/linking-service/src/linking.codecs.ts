// The accounts service's events, which start and end device lists.
export { accountEventCodec } from '@tandem/accounts-events';
export { deviceListEventCodec } from '@tandem/linking-events';
