import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { MicroserviceOptions } from '@nestjs/microservices';
import { loadConfig } from '@tandem/config';
import {
  createHealth,
  GrpcExceptionFilter,
  grpcServerOptions,
  RpcMetricsInterceptor,
  setServing,
} from '@tandem/grpc';
import { createLogger, NestPinoLogger, shutdownTelemetry, startTelemetry } from '@tandem/observability';
import { openInfrastructure } from './infrastructure';
import { type BuiltService, buildService, grpcModule } from './service-builder';
import type { AnyServiceDefinition } from './service-definition';

export interface RunningServices {
  /** Stops taking RPCs, stops the workers, closes the infrastructure. */
  stop(): Promise<void>;
}

/**
 * Runs services in this process behind one gRPC server: one service in distributed mode, all of
 * them in `apps/tandem`. Start-up order: infrastructure, topics, set-up, workers, gRPC, then
 * health SERVING. SIGTERM and SIGINT stop in the reverse order: health NOT_SERVING, streams ended,
 * the gRPC server closed, then every worker at once (a consumer gives up the batch in hand,
 * uncommitted, rather than finish it); what has not stopped after TANDEM_SHUTDOWN_SECONDS is
 * abandoned and the process exits 1.
 */
export async function runServices(
  processName: string,
  definitions: readonly AnyServiceDefinition[],
): Promise<RunningServices> {
  const config = loadConfig();
  const logger = createLogger(processName, config.logLevel);
  const infrastructure = await openInfrastructure(config, logger);
  const services: BuiltService[] = [];
  for (const definition of definitions) services.push(await buildService(definition, infrastructure));
  const specs = services.map((service) => service.grpc);
  const health = createHealth(specs);

  await infrastructure.eventLog.ensureTopics(services.flatMap((service) => service.topics));
  for (const service of services) await service.setUp?.();
  const workers = services.flatMap((service) => service.workers);
  for (const worker of workers) await worker.start();

  const app = await NestFactory.createMicroservice<MicroserviceOptions>(
    { ...grpcModule(processName, [], []), imports: services.map((service) => service.module) },
    {
      ...grpcServerOptions({
        address: config.grpcAddress,
        services: specs,
        health,
      }),
      logger: new NestPinoLogger(logger),
    },
  );
  app.useGlobalFilters(new GrpcExceptionFilter(logger));
  app.useGlobalInterceptors(new RpcMetricsInterceptor());
  await app.listen();
  setServing(health, specs, true);
  logger.info(
    { mode: config.mode, address: config.grpcAddress, services: specs.map((spec) => spec.serviceName) },
    'tandem is serving',
  );

  let stopping: Promise<void> | undefined;
  const stillStopping = new Set<string>();
  const stop = () =>
    (stopping ??= (async () => {
      setServing(health, specs, false);
      await Promise.all(services.map((service) => service.endStreams?.()));
      await app.close();
      await Promise.all(
        workers.map(async (worker) => {
          stillStopping.add(worker.name);
          await worker.stop();
          stillStopping.delete(worker.name);
        }),
      );
      await infrastructure.close();
      await shutdownTelemetry();
      logger.info('tandem stopped');
    })());

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      logger.info({ signal }, 'shutting down');
      const deadline = setTimeout(() => {
        logger.error(
          { workers: [...stillStopping], shutdownSeconds: config.shutdownSeconds },
          'shutdown did not finish in time; exiting with the work in hand given up (it is delivered again)',
        );
        process.exit(1);
      }, config.shutdownSeconds * 1000);
      stop().then(
        () => process.exit(0),
        (error: unknown) => {
          clearTimeout(deadline);
          logger.error({ err: error }, 'shutdown failed');
          process.exit(1);
        },
      );
    });
  }
  return { stop };
}

/**
 * The entry point of a service process: starts OpenTelemetry (see `startTelemetry`; metrics on
 * TANDEM_METRICS_PORT), runs the services and exits non-zero if they cannot start.
 */
export function main(processName: string, definitions: readonly AnyServiceDefinition[]): void {
  const failed = (error: unknown) => {
    createLogger(processName).fatal({ err: error }, 'failed to start');
    process.exit(1);
  };
  try {
    startTelemetry(processName, { metricsPort: loadConfig().metricsPort });
  } catch (error) {
    failed(error);
    return;
  }
  runServices(processName, definitions).catch(failed);
}
