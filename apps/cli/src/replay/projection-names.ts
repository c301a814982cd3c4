/** The projections `tandem projections rebuild` knows (projections.ts builds them). */
export const PROJECTION_NAMES = [
  'accounts',
  'device-directory',
  'device-lists',
  'blocks',
  'inboxes',
  'backup-lists',
  'presence-privacy',
] as const;
