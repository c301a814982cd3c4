import { resolve } from 'node:path';

/** The repository root, whether this runs from the sources (tests) or from dist/ (benchmarks). */
export const REPOSITORY_ROOT = resolve(
  __dirname.replace(/[\\/](dist[\\/])?libs[\\/]platform[\\/]harness[\\/]src$/, ''),
);
