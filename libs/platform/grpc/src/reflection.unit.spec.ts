import { join, resolve } from 'node:path';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { FileDescriptorProto, type IFileDescriptorProto } from 'protobufjs/ext/descriptor';
import { describe, expect, it } from 'vitest';
import { reflectionDefinition } from './reflection';

const protoDir = resolve(__dirname, '../../../../proto');

function files(): Map<string, IFileDescriptorProto> {
  const definition = reflectionDefinition(
    [join(protoDir, 'tandem/linking/v1/linking_service.proto'), healthProtoPath],
    [protoDir],
  ) as unknown as Record<string, { fileDescriptorProtos: Buffer[] }>;
  const decoded = Object.values(definition).flatMap((entry) =>
    entry.fileDescriptorProtos.map((bytes) => FileDescriptorProto.decode(bytes) as IFileDescriptorProto),
  );
  return new Map(decoded.map((file) => [file.package ?? '', file]));
}

describe('the descriptors served by reflection', () => {
  it('keep the proto field names and qualify types from other files, declaring those files', () => {
    const byPackage = files();
    const linking = byPackage.get('tandem.linking.v1')!;
    const timestamps = byPackage.get('google.protobuf')!;
    const response = linking.messageType?.find((message) => message.name === 'CreateSignInChallengeResponse');
    expect(response?.field?.map((field) => field.name)).toEqual(['challenge', 'expires_at', 'device_id']);
    expect(response?.field?.[1]?.typeName).toBe('.google.protobuf.Timestamp');
    expect(linking.dependency).toEqual([timestamps.name]);
    const signIn = linking.service?.[0]?.method?.find((method) => method.name === 'SignIn');
    expect(signIn).toMatchObject({
      inputType: '.tandem.linking.v1.SignInRequest',
      outputType: '.tandem.linking.v1.SignInResponse',
    });
  });

  it('name map entry types as protoc does', () => {
    const health = files().get('grpc.health.v1')!;
    const list = health.messageType?.find((message) => message.name === 'HealthListResponse');
    expect(list?.nestedType?.map((nested) => nested.name)).toEqual(['StatusesEntry']);
    expect(list?.field?.[0]?.typeName).toBe('.grpc.health.v1.HealthListResponse.StatusesEntry');
  });
});
