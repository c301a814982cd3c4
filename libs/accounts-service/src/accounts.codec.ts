// The accounts service appends its events with the codec every other service decodes them with.
export { accountEventCodec } from '@tandem/accounts-events';
