import { describe, expect, it } from 'vitest';
import {
  activatingDataflows,
  countableSegmentIdGroups,
  refusingDataflows,
  segmentSizeCell,
  type SegmentSizes,
} from './segments.ts';

const ups = (id: string) => ({ id, namespace: 'ups' });

describe('countableSegmentIdGroups', () => {
  it('counts Segmentation Service segments only, each once, in groups the service takes', () => {
    expect(
      countableSegmentIdGroups([ups('b'), { id: 'u', namespace: 'custom_upload' }, ups('a'), ups('b')]),
    ).toEqual([['a', 'b']]);
    expect(countableSegmentIdGroups([ups('a'), ups('b'), ups('c')], 2)).toEqual([['a', 'b'], ['c']]);
    expect(countableSegmentIdGroups([{ id: 'u', namespace: 'aam' }])).toEqual([]);
    const many = Array.from({ length: 251 }, (_, i) => ups(`s${String(i).padStart(3, '0')}`));
    expect(countableSegmentIdGroups(many).map((g) => g.length)).toEqual([250, 1]);
  });
});

describe('segmentSizeCell', () => {
  const counted: SegmentSizes = {
    status: 'ok',
    members: new Map([
      ['a', 12_345],
      ['empty', 0],
    ]),
  };

  it('shows the known members, 0 included', () => {
    expect(segmentSizeCell(ups('a'), counted)).toEqual({
      text: '12,345',
      title: expect.stringContaining('Known members'),
    });
    expect(segmentSizeCell(ups('empty'), counted).text).toBe('0');
  });

  it('says why there is no figure instead of a bare dash', () => {
    const upload = segmentSizeCell({ id: 'u', namespace: 'custom_upload' }, counted);
    expect(upload.text).toBe('—');
    expect(upload.title).toMatch(/Segmentation Service \(ups\) segments only/);
    expect(segmentSizeCell(ups('a'), { status: 'pending' })).toEqual({
      text: '…',
      title: 'Counting the known members…',
    });
    expect(
      segmentSizeCell(ups('a'), { status: 'error', message: 'Missing permission View Destinations' }),
    ).toEqual({
      text: '—',
      title: 'The known members could not be counted: Missing permission View Destinations',
    });
    expect(segmentSizeCell(ups('unknown'), counted).title).toBe('The service did not count this segment');
  });
});

describe('activatingDataflows', () => {
  it('lists the dataflows whose audiences hold the segment', () => {
    const flows = [
      { id: 'df1', audiences: [{ segmentId: 'a' }, { segmentId: 'b' }] },
      { id: 'df2', audiences: [{ segmentId: 'b' }] },
      { id: 'df3', audiences: [] },
    ];
    expect(activatingDataflows('b', flows).map((d) => d.id)).toEqual(['df1', 'df2']);
    expect(activatingDataflows('a', flows).map((d) => d.id)).toEqual(['df1']);
    expect(activatingDataflows('c', flows)).toEqual([]);
  });
});

describe('refusingDataflows', () => {
  it("names each dataflow of the service's 409, and keeps a detail it cannot read as it is", () => {
    expect(
      refusingDataflows([
        {
          path: 'id',
          reason:
            'activated by dataflow df_1 ("CRM to X, "quoted"", paused): remove the segment from it (PATCH ' +
            '/api/v1/dataflows/df_1 with audiences that leave it out, or tca dataflows update df_1 --remove-segment ' +
            's) or delete the dataflow, then delete the segment',
        },
        { path: 'id', reason: 'something else' },
      ]),
    ).toEqual([{ id: 'df_1', name: 'CRM to X, "quoted"', status: 'paused' }, { reason: 'something else' }]);
  });
});
