import type { EngineTables } from '../../engine/schema.ts';
import type { CoreTables } from './core.ts';

export type * from './core.ts';

/** Every table of the database: the store's own plus the engine's. */
export interface Database extends CoreTables, EngineTables {}
