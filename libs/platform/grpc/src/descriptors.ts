import { FILE_DESCRIPTOR_SET } from '@tandem/contracts/descriptor-set';
import { FileDescriptorSet, type IFileDescriptorSet } from 'protobufjs/ext/descriptor';

/**
 * The descriptors of every Tandem proto file and of grpc.health.v1, as `buf build` wrote them at
 * generate time (tools/contracts/generate.sh), comments included.
 */
export function fileDescriptorSet(): IFileDescriptorSet {
  return FileDescriptorSet.decode(FILE_DESCRIPTOR_SET) as unknown as IFileDescriptorSet;
}
