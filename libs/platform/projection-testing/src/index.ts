export * from './projection-contract';
