import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { defineConfig } from 'vitest/config';

const { compilerOptions } = JSON.parse(
  readFileSync(resolve(import.meta.dirname, 'tsconfig.base.json'), 'utf8'),
) as {
  compilerOptions: { paths: Record<string, string[]> };
};

/** The tsconfig path aliases, so tests import `@tandem/...` exactly as the code does. */
const alias = Object.entries(compilerOptions.paths).map(([name, [target]]) =>
  name.endsWith('/*')
    ? {
        find: new RegExp(`^${name.slice(0, -2).replace('/', '\\/')}\\/(.*)$`),
        replacement: resolve(import.meta.dirname, target.slice(0, -2)) + '/$1',
      }
    : {
        find: new RegExp(`^${name.replace('/', '\\/')}$`),
        replacement: resolve(import.meta.dirname, target),
      },
);

const exclude = ['**/node_modules/**', 'dist/**'];

export default defineConfig({
  resolve: { alias },
  test: {
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['{apps,libs,bench}/**/*.unit.spec.ts'], exclude },
      },
      {
        extends: true,
        test: {
          name: 'int',
          include: ['{apps,libs}/**/*.int.spec.ts'],
          exclude,
          globalSetup: ['libs/platform/testing/src/infrastructure.global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['{apps,libs}/**/*.e2e.spec.ts'],
          exclude,
          globalSetup: ['libs/platform/testing/src/infrastructure.global-setup.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
