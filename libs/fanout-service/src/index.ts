export { fanoutService } from './fanout.service';
export { fanoutEventCodec } from './fanout.codecs';
export { type DeviceListRecord, DeviceListsProjection } from './device-lists.projection';
export { entryRecordId, type InboxEntryRecord, type InboxHeadRecord, InboxTiers } from './inbox-tiers';
export { InboxesProjection } from './inboxes.projection';
export { SIGNALS_TOPIC } from './inbox-signals';
