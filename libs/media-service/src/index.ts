export { mediaService } from './media.service';
export { mediaEventCodec } from './media.codecs';
