'use strict';
// gRPC health probe of the Tandem server in this container, for the image's HEALTHCHECK (Docker,
// compose). Kubernetes does not use it: its probes are native `grpc:` probes.
//
//   node deploy/grpc-health-probe.cjs [service]
//
// Calls grpc.health.v1.Health/Check on the port of TANDEM_GRPC_ADDRESS (a wildcard host such as
// 0.0.0.0 is reached on 127.0.0.1) for `service` (default "": the whole server, which turns
// SERVING once every service in the process is ready) and exits 0 only on SERVING.
// Uses only the image's production dependencies (@grpc/grpc-js, grpc-health-check).
const grpc = require('@grpc/grpc-js');
const { service: healthService } = require('grpc-health-check');

const listen = process.env.TANDEM_GRPC_ADDRESS || '127.0.0.1:50051';
const colon = listen.lastIndexOf(':');
const host = listen.slice(0, colon);
const port = listen.slice(colon + 1);
const wildcard = ['', '0.0.0.0', '[::]', '::', '*'].includes(host);
const target = `${wildcard ? '127.0.0.1' : host}:${port}`;
const serviceName = process.argv[2] || '';

const Health = grpc.makeGenericClientConstructor(healthService, 'Health');
const client = new Health(target, grpc.credentials.createInsecure());
const deadline = new Date(Date.now() + 3000);

client.check({ service: serviceName }, { deadline }, (error, response) => {
  client.close();
  if (error) {
    console.error(`health check of ${target} failed: ${error.message}`);
    process.exit(1);
  }
  const status = response && response.status;
  if (status !== 'SERVING' && status !== 1) {
    console.error(`health of ${target} "${serviceName}": ${status}`);
    process.exit(1);
  }
  process.exit(0);
});
