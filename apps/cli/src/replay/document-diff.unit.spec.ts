import type { Document } from '@tandem/documents';
import { describe, expect, it } from 'vitest';
import { diffCollection, diffText, diffValues, differs } from './document-diff';

describe('comparing documents', () => {
  it('finds no difference in fields stored in another order', () => {
    expect(diffValues({ a: 1, b: { c: [1, 2], d: 'x' } }, { b: { d: 'x', c: [1, 2] }, a: 1 })).toEqual([]);
  });

  it('names the leaf fields that differ, with both values', () => {
    const live = { displayName: 'Mallory', inboxes: [{ deviceId: 1, pending: [{ sequence: 1 }] }] };
    const rebuilt = {
      displayName: 'Ada',
      inboxes: [{ deviceId: 1, pending: [{ sequence: 2 }, { sequence: 3 }] }],
    };

    expect(diffValues(live, rebuilt)).toEqual([
      { path: 'displayName', live: 'Mallory', rebuilt: 'Ada' },
      { path: 'inboxes[0].pending[0].sequence', live: 1, rebuilt: 2 },
      { path: 'inboxes[0].pending[1]', live: undefined, rebuilt: { sequence: 3 } },
    ]);
  });

  it('tells a missing field from a null one', () => {
    expect(diffValues({ a: null }, {})).toEqual([{ path: 'a', live: null, rebuilt: undefined }]);
  });

  it('leaves ignored fields out, with what is inside them', () => {
    expect(
      diffValues({ appliedAt: '1', x: { y: 1 } }, { appliedAt: '2', x: { y: 2 } }, '', ['appliedAt', 'x']),
    ).toEqual([]);
  });
});

describe('comparing a live collection with its rebuild', () => {
  const live: Document[] = [
    { _id: 'a', version: 2, appliedAt: 'then' },
    { _id: 'b', version: 1, displayName: 'Mallory' },
    { _id: 'only-live', version: 1 },
  ];
  const rebuilt: Document[] = [
    { _id: 'b', version: 1, displayName: 'Ada' },
    { _id: 'a', version: 2, appliedAt: 'now' },
    { _id: 'only-rebuilt', version: 1 },
  ];

  it('matches documents by id and says which are missing, extra and changed', () => {
    const diff = diffCollection('accounts', live, rebuilt, ['appliedAt']);

    expect(diff.missing.map((doc) => doc._id)).toEqual(['only-rebuilt']);
    expect(diff.extra.map((doc) => doc._id)).toEqual(['only-live']);
    expect(diff.changed).toEqual([
      { id: 'b', fields: [{ path: 'displayName', live: 'Mallory', rebuilt: 'Ada' }] },
    ]);
    expect(differs(diff)).toBe(true);
  });

  it('is equal when only ignored fields differ', () => {
    const diff = diffCollection('devices', live.slice(0, 1), rebuilt.slice(1, 2), ['appliedAt']);
    expect(differs(diff)).toBe(false);
    expect(diffText([diff])).toEqual(['devices: 1 live, 1 rebuilt: equal']);
  });

  it('prints the differences for a person', () => {
    const text = diffText([diffCollection('accounts', live, rebuilt, ['appliedAt'])]);

    expect(text[0]).toBe('accounts: 3 live, 3 rebuilt: 1 missing, 1 extra, 1 changed');
    expect(text).toContain('  changed: b');
    expect(text).toContain('    displayName: live "Mallory", rebuilt "Ada"');
    expect(text.some((line) => line.startsWith('  missing from live: only-rebuilt'))).toBe(true);
    expect(text.some((line) => line.startsWith('  extra in live (not rebuilt): only-live'))).toBe(true);
  });
});
