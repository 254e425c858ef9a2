export * from './naming.ts';
export * from './mapping.ts';
export * from './consent.ts';
