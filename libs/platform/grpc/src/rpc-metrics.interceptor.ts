import { type CallHandler, type ExecutionContext, Injectable, type NestInterceptor } from '@nestjs/common';
import { status } from '@grpc/grpc-js';
import { LATENCY_BUCKETS_SECONDS, tandemMeter } from '@tandem/observability';
import { finalize, type Observable, tap } from 'rxjs';
import { toGrpcError } from './grpc-errors';

/**
 * `rpc.server.call.duration`: seconds from the controller taking a call until its answer (a
 * stream: until it ends), by method and status code; its count is the RPC rate. Calls refused
 * before a controller (a guard's UNAUTHENTICATED) are not in it; the gRPC server spans have them.
 */
@Injectable()
export class RpcMetricsInterceptor implements NestInterceptor {
  private readonly duration = tandemMeter().createHistogram('rpc.server.call.duration', {
    unit: 's',
    description: 'Duration of gRPC calls handled by a Tandem controller',
    advice: { explicitBucketBoundaries: LATENCY_BUCKETS_SECONDS },
  });

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const started = performance.now();
    // The call's path, /tandem.fanout.v1.FanoutService/Send; NestJS passes the call third.
    const call = context.getArgByIndex<{ getPath?: () => string } | undefined>(2);
    const [, service, method] = call?.getPath?.().split('/') ?? [];
    const attributes = {
      'rpc.system': 'grpc',
      'rpc.service': service ?? context.getClass().name,
      'rpc.method': method ?? context.getHandler().name,
    };
    // A stream the client cancelled neither completes nor fails.
    let code: status = status.CANCELLED;
    return next.handle().pipe(
      tap({
        complete: () => (code = status.OK),
        error: (error: unknown) => (code = toGrpcError(error).code),
      }),
      finalize(() =>
        this.duration.record((performance.now() - started) / 1000, {
          ...attributes,
          'rpc.grpc.status_code': code,
        }),
      ),
    );
  }
}
