import type { PackageDefinition } from '@grpc/proto-loader';
import { FileDescriptorProto, type IDescriptorProto } from 'protobufjs/ext/descriptor';
import { fileDescriptorSet } from './descriptors';

/** Drops the `json_name` buf records for every field of these messages and those nested in them. */
function withoutJsonNames(messages: readonly IDescriptorProto[] | null | undefined): void {
  for (const message of messages ?? []) {
    for (const field of message.field ?? []) delete field.jsonName;
    withoutJsonNames(message.nestedType);
  }
}

/**
 * What server reflection serves, so grpcurl and other descriptor-based clients see the APIs as
 * written: the file descriptors buf built from proto/ (and grpc.health.v1's), comments included.
 * They leave out the fields' `json_name` (lowerCamelCase, which buf writes for every field), so
 * that grpcurl prints responses with the proto field names (`account_id`), as it takes requests
 * and as the README shows them.
 */
export function reflectionDefinition(): PackageDefinition {
  const fileDescriptorProtos = (fileDescriptorSet().file ?? []).map((file) => {
    withoutJsonNames(file.messageType);
    return Buffer.from(FileDescriptorProto.encode(file as never).finish());
  });
  // @grpc/reflection reads nothing but the file descriptors of a package definition's entries.
  return { files: { fileDescriptorProtos } } as unknown as PackageDefinition;
}
