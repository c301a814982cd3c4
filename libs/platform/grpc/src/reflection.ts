import { loadSync, type PackageDefinition } from '@grpc/proto-loader';
import {
  type IDescriptorProto,
  type IFileDescriptorProto,
  FileDescriptorProto,
} from 'protobufjs/ext/descriptor';

/**
 * The file descriptors that server reflection serves, so grpcurl and other descriptor-based clients
 * see the APIs as written. proto-loader's descriptors (exported by protobufjs) need three repairs
 * for that: they are loaded keeping the proto field names (snake_case, as in JSON requests);
 * cross-file type references become fully qualified and the files they point to are declared as
 * dependencies (protobufjs merges a package into one file and declares none); and a map field's
 * entry type is named `<Field>Entry`, as protoc names it (grpc.health.v1 has a map).
 */
export function reflectionDefinition(
  protoFiles: readonly string[],
  includeDirs: readonly string[],
): PackageDefinition {
  const definition = loadSync([...protoFiles], { keepCase: true, includeDirs: [...includeDirs] });
  const files = new Map<string, IFileDescriptorProto>();
  for (const entry of Object.values(definition)) {
    const encoded = (entry as { fileDescriptorProtos?: Buffer[] }).fileDescriptorProtos ?? [];
    for (const bytes of encoded) {
      const file = FileDescriptorProto.decode(bytes) as IFileDescriptorProto;
      if (file.name && !files.has(file.name)) files.set(file.name, file);
    }
  }

  const renameMapEntries = (message: IDescriptorProto) => {
    for (const nested of message.nestedType ?? []) {
      const field = message.field?.find((candidate) => candidate.typeName === nested.name);
      if (nested.options?.mapEntry && field?.name && !nested.name?.endsWith('Entry')) {
        nested.name =
          field.name.replace(/(?:^|_)(\w)/g, (_, letter: string) => letter.toUpperCase()) + 'Entry';
        field.typeName = nested.name;
      }
      renameMapEntries(nested);
    }
  };
  for (const file of files.values()) file.messageType?.forEach(renameMapEntries);

  const fileOfSymbol = new Map<string, string>();
  const indexMessages = (
    scope: string,
    messages: readonly IDescriptorProto[] | null | undefined,
    file: string,
  ) => {
    for (const message of messages ?? []) {
      const name = `${scope}.${message.name}`;
      fileOfSymbol.set(name, file);
      indexMessages(name, message.nestedType, file);
      for (const nested of message.enumType ?? []) fileOfSymbol.set(`${name}.${nested.name}`, file);
    }
  };
  for (const [name, file] of files) {
    indexMessages(file.package ?? '', file.messageType, name);
    for (const enumType of file.enumType ?? []) fileOfSymbol.set(`${file.package}.${enumType.name}`, name);
  }

  for (const [name, file] of files) {
    const dependencies = new Set<string>();
    /** The fully qualified name (with a leading dot) of a type referenced from `scope`. */
    const qualify = (typeName: string | null | undefined, scope: string): string | undefined => {
      if (!typeName) return undefined;
      if (typeName.startsWith('.')) return typeName;
      for (let prefix = scope; ; prefix = prefix.slice(0, Math.max(0, prefix.lastIndexOf('.')))) {
        const candidate = prefix ? `${prefix}.${typeName}` : typeName;
        const owner = fileOfSymbol.get(candidate);
        if (owner) {
          if (owner !== name) dependencies.add(owner);
          return `.${candidate}`;
        }
        if (!prefix) return typeName;
      }
    };
    const repair = (scope: string, message: IDescriptorProto) => {
      const name = `${scope}.${message.name}`;
      for (const field of message.field ?? []) field.typeName = qualify(field.typeName, name);
      for (const nested of message.nestedType ?? []) repair(name, nested);
    };
    for (const message of file.messageType ?? []) repair(file.package ?? '', message);
    for (const service of file.service ?? []) {
      for (const method of service.method ?? []) {
        method.inputType = qualify(method.inputType, file.package ?? '');
        method.outputType = qualify(method.outputType, file.package ?? '');
      }
    }
    file.dependency = [...dependencies];
  }

  const fileDescriptorProtos = [...files.values()].map((file) =>
    Buffer.from(FileDescriptorProto.encode(file as never).finish()),
  );
  // @grpc/reflection reads nothing but the file descriptors of a package definition's entries.
  return { files: { fileDescriptorProtos } } as unknown as PackageDefinition;
}
