export * from './account-event.codec';
export * from './blocks.projection';
