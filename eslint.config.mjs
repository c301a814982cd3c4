import js from '@eslint/js';
import nx from '@nx/eslint-plugin';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';

/** What a domain lib may not import: no I/O, no framework, no transport. */
const bannedInDomain = [
  '@nestjs/*',
  'mongodb',
  'kafkajs',
  '@grpc/*',
  '@opentelemetry/*',
  'grpc-health-check',
  'jose',
  'pino',
  'rxjs',
  'testcontainers',
  '@testcontainers/*',
  'node:fs',
  'node:net',
  'node:http',
  'node:child_process',
  'node:sqlite',
];

/**
 * Module boundaries (Nx tags in each project.json):
 * - a domain lib depends only on the decider kernel and the generated contracts, and imports no I/O;
 * - a service (scope) never imports another service's code;
 * - platform libs serve every service and know none of them;
 * - a published-language lib (type:published, libs/<service>-events) is one service's events as
 *   the others read them (codec, shared projections); it stands on the platform, the kernel and
 *   the contracts, and no platform lib depends on it;
 * - a service lib (type:service, libs/<service>-service) is one service: its declared definition,
 *   gRPC controller, projections and consumers, over its domain, published languages and the
 *   platform; an app (apps/<service>, type:app) is its process, main.ts alone;
 * - libs/services (type:composition, scope:all) lists every service's definition, for
 *   apps/tandem (every service in one process) and the CLI's replay.
 */
const depConstraints = (testing) => [
  {
    sourceTag: 'type:domain',
    onlyDependOnLibsWithTags: ['type:kernel', 'type:contracts', ...testing],
    bannedExternalImports: bannedInDomain,
  },
  { sourceTag: 'type:kernel', onlyDependOnLibsWithTags: [], bannedExternalImports: bannedInDomain },
  { sourceTag: 'type:contracts', onlyDependOnLibsWithTags: [] },
  {
    sourceTag: 'type:platform',
    onlyDependOnLibsWithTags: ['type:platform', 'type:kernel', 'type:contracts', ...testing],
  },
  {
    sourceTag: 'type:published',
    onlyDependOnLibsWithTags: ['type:platform', 'type:kernel', 'type:contracts', ...testing],
  },
  {
    sourceTag: 'type:service',
    onlyDependOnLibsWithTags: [
      'type:domain',
      'type:published',
      'type:platform',
      'type:kernel',
      'type:contracts',
      ...testing,
    ],
  },
  { sourceTag: 'type:composition', onlyDependOnLibsWithTags: ['type:service', 'type:platform'] },
  {
    sourceTag: 'type:testing',
    onlyDependOnLibsWithTags: ['type:testing', 'type:platform', 'type:kernel', 'type:contracts'],
  },
  { sourceTag: 'scope:accounts', onlyDependOnLibsWithTags: ['scope:accounts', 'scope:shared'] },
  { sourceTag: 'scope:linking', onlyDependOnLibsWithTags: ['scope:linking', 'scope:shared'] },
  { sourceTag: 'scope:fanout', onlyDependOnLibsWithTags: ['scope:fanout', 'scope:shared'] },
  { sourceTag: 'scope:presence', onlyDependOnLibsWithTags: ['scope:presence', 'scope:shared'] },
  { sourceTag: 'scope:backups', onlyDependOnLibsWithTags: ['scope:backups', 'scope:shared'] },
  { sourceTag: 'scope:media', onlyDependOnLibsWithTags: ['scope:media', 'scope:shared'] },
  { sourceTag: 'scope:shared', onlyDependOnLibsWithTags: ['scope:shared'] },
  { sourceTag: 'scope:all', onlyDependOnLibsWithTags: ['*'] },
];

const boundaries = (testing) => [
  'error',
  {
    enforceBuildableLibDependency: false,
    depConstraints: depConstraints(testing),
  },
];

export default tseslint.config(
  { ignores: ['node_modules', 'dist', 'libs/contracts/src/generated', '.infra', 'data', '.nx', 'coverage'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  { plugins: { '@nx': nx } },
  {
    files: ['**/*.ts'],
    rules: {
      '@nx/enforce-module-boundaries': boundaries([]),
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
    },
  },
  {
    files: ['**/*.spec.ts', 'libs/platform/testing/**/*.ts', 'libs/platform/projection-testing/**/*.ts'],
    rules: { '@nx/enforce-module-boundaries': boundaries(['type:testing']) },
  },
  {
    files: ['**/*.cjs'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: { require: 'readonly', module: 'writable', process: 'readonly', console: 'readonly' },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['**/*.mjs', '**/*.mts'],
    rules: { '@typescript-eslint/consistent-type-imports': 'off' },
  },
  prettier,
);
