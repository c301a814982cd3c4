import { AccountsServiceService } from '@tandem/contracts/tandem/accounts/v1/accounts_service';
import { HealthService } from '@tandem/contracts/health/v1/health';
import { describe, expect, it } from 'vitest';
import { grpcServiceOf } from './grpc-server';

describe('grpcServiceOf', () => {
  it("reads a generated service's package and fully qualified name from its methods' paths", () => {
    expect(grpcServiceOf(AccountsServiceService)).toEqual({
      package: 'tandem.accounts.v1',
      definition: AccountsServiceService,
      serviceName: 'tandem.accounts.v1.AccountsService',
    });
    expect(grpcServiceOf(HealthService).serviceName).toBe('grpc.health.v1.Health');
  });

  it('refuses a definition without methods', () => {
    expect(() => grpcServiceOf({})).toThrow(/without methods/);
  });
});
