export * from './naming.ts';
export * from './mapping.ts';
