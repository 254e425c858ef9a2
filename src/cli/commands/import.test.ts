import { describe, expect, it } from 'vitest';
import { truncationNote } from './import.ts';

describe('truncationNote', () => {
  it('says a file cut off in its last line is one not read in full, not a syntax error with more after it', () => {
    const cut = {
      truncated: true,
      rejectedCount: 1,
      rejected: [
        {
          line: 31,
          errors: [
            { path: 'line 31', reason: 'not valid JSON, and the file ends in it … the file looks cut off …' },
          ],
        },
      ],
    };
    expect(truncationNote({ ...cut, mode: 'mirror' })).toBe(
      'The file looks cut off at line 31 (its last line is no JSON and ends without a line break): it was not read ' +
        'in full, so nobody was removed. Export or download it again, then import it again\n',
    );
    expect(truncationNote({ ...cut, mode: 'incremental' })).toContain('it was not read in full. Export');
    const quote = {
      ...cut,
      rejected: [{ line: 7, errors: [{ path: 'line 7', reason: 'Quote Not Closed: …' }] }],
    };
    expect(truncationNote({ ...quote, mode: 'mirror' })).toBe(
      'Reading stopped at line 7 (a syntax error): the rest of the file was not read, so nobody was removed. Fix ' +
        'that line and import the file again\n',
    );
    expect(truncationNote({ ...cut, truncated: false, mode: 'mirror' })).toBe('');
  });
});
