import type { Metadata } from '@grpc/grpc-js';
import { type CanActivate, type ExecutionContext, Inject, Injectable, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { AuthenticatedDevice, DeviceAuthenticator } from './device-authenticator';

/** Injection token of the module's DeviceAuthenticator. */
export const DEVICE_AUTHENTICATOR = Symbol('DeviceAuthenticator');

const PUBLIC_KEY = 'tandem:public-rpc';

/** Marks an RPC that needs no device token (register, sign-in). */
export const Public = (): MethodDecorator & ClassDecorator => SetMetadata(PUBLIC_KEY, true);

const authenticated = new WeakMap<Metadata, AuthenticatedDevice>();

/**
 * The guard every Tandem gRPC controller uses: each RPC needs a valid token of a linked device,
 * except those marked @Public(). The device is then available through `authenticatedDevice`.
 */
@Injectable()
export class DeviceAuthGuard implements CanActivate {
  constructor(
    @Inject(DEVICE_AUTHENTICATOR) private readonly authenticator: DeviceAuthenticator,
    @Inject(Reflector) private readonly reflector: Reflector,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const isPublic = this.reflector.getAllAndOverride<boolean>(PUBLIC_KEY, [
      context.getHandler(),
      context.getClass(),
    ]);
    if (isPublic) return true;
    const metadata = context.switchToRpc().getContext<Metadata>();
    authenticated.set(metadata, await this.authenticator.authenticate(metadata));
    return true;
  }
}

/** The device the guard authenticated for this request's metadata. */
export function authenticatedDevice(metadata: Metadata | undefined): AuthenticatedDevice {
  const device = metadata && authenticated.get(metadata);
  if (!device) throw new Error('no authenticated device: is the RPC guarded by DeviceAuthGuard?');
  return device;
}
