import { FileDescriptorProto, type IFileDescriptorProto } from 'protobufjs/ext/descriptor';
import { describe, expect, it } from 'vitest';
import { reflectionDefinition } from './reflection';

function files(): Map<string, IFileDescriptorProto> {
  const definition = reflectionDefinition() as unknown as Record<string, { fileDescriptorProtos: Buffer[] }>;
  const decoded = Object.values(definition).flatMap((entry) =>
    entry.fileDescriptorProtos.map((bytes) => FileDescriptorProto.decode(bytes) as IFileDescriptorProto),
  );
  return new Map(decoded.map((file) => [file.name ?? '', file]));
}

describe('the descriptors served by reflection', () => {
  it('are the files as written: proto field names, qualified types, declared imports', () => {
    const linking = files().get('tandem/linking/v1/linking_service.proto')!;
    const response = linking.messageType?.find((message) => message.name === 'CreateSignInChallengeResponse');
    expect(response?.field?.map((field) => field.name)).toEqual(['challenge', 'expires_at', 'device_id']);
    expect(response?.field?.[1]?.typeName).toBe('.google.protobuf.Timestamp');
    expect(linking.dependency).toContain('google/protobuf/timestamp.proto');
    const signIn = linking.service?.[0]?.method?.find((method) => method.name === 'SignIn');
    expect(signIn).toMatchObject({
      inputType: '.tandem.linking.v1.SignInRequest',
      outputType: '.tandem.linking.v1.SignInResponse',
    });
  });

  it('hold every file a served file imports', () => {
    const served = files();
    for (const file of served.values()) {
      for (const dependency of file.dependency ?? []) expect(served.has(dependency), dependency).toBe(true);
    }
  });

  it('include the health service, with its map entry type named as protoc names it', () => {
    const health = [...files().values()].find((file) => file.package === 'grpc.health.v1')!;
    expect(health.service?.map((service) => service.name)).toEqual(['Health']);
    const list = health.messageType?.find((message) => message.name === 'HealthListResponse');
    expect(list?.nestedType?.map((nested) => nested.name)).toEqual(['StatusesEntry']);
    expect(list?.field?.[0]?.typeName).toBe('.grpc.health.v1.HealthListResponse.StatusesEntry');
  });
});
