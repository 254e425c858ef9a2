/**
 * The connection's page cache, in MiB, unless configured (`TCA_SQLITE_CACHE_MB`). SQLite fills it only as pages are
 * read, so a small store never uses it all. In the engine bench (1,000,000 events, 800,000 profiles) the import read
 * 1.2 GB of pages from the operating system instead of 9.1 GB with 32 MiB, and took 2-3 s less of 24-28 s
 * (docs/benchmarks.md).
 */
export const SQLITE_CACHE_MB = 256;
