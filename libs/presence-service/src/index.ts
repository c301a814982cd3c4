export { presenceService } from './presence.service';
export {
  PresencePrivacy,
  type BlockDocument,
  type ContactDocument,
  type VisibilityDocument,
} from './presence-privacy.projection';
