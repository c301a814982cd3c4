import type { Document } from '@tandem/documents';

/** One field that differs; `undefined` stands for a field one side does not have. */
export interface FieldChange {
  /** `displayName`, `inboxes[1].pending[0].sequence`. */
  readonly path: string;
  readonly live: unknown;
  readonly rebuilt: unknown;
}

export interface DocumentChange {
  readonly id: string;
  readonly fields: readonly FieldChange[];
}

/** How a live collection differs from the one rebuilt by replay, documents matched by `_id`. */
export interface CollectionDiff {
  readonly collection: string;
  readonly liveCount: number;
  readonly rebuiltCount: number;
  /** In the rebuild, missing from the live collection. */
  readonly missing: readonly Document[];
  /** In the live collection, not in the rebuild. */
  readonly extra: readonly Document[];
  readonly changed: readonly DocumentChange[];
}

export const differs = (diff: CollectionDiff): boolean =>
  diff.missing.length > 0 || diff.extra.length > 0 || diff.changed.length > 0;

/** Whether `path` is one of the ignored fields or inside one. */
const isIgnored = (path: string, ignored: readonly string[]): boolean =>
  ignored.some((field) => path === field || path.startsWith(`${field}.`) || path.startsWith(`${field}[`));

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const join = (path: string, field: string): string => (path ? `${path}.${field}` : field);

/**
 * The leaf fields where two values differ. Objects compare field by field whatever their order
 * (MongoDB may return fields in another order than SQLite's JSON); arrays compare by position.
 */
export function diffValues(
  live: unknown,
  rebuilt: unknown,
  path = '',
  ignored: readonly string[] = [],
  changes: FieldChange[] = [],
): FieldChange[] {
  if (path && isIgnored(path, ignored)) return changes;
  if (isPlainObject(live) && isPlainObject(rebuilt)) {
    const fields = new Set([...Object.keys(live), ...Object.keys(rebuilt)]);
    for (const field of [...fields].sort())
      diffValues(live[field], rebuilt[field], join(path, field), ignored, changes);
    return changes;
  }
  if (Array.isArray(live) && Array.isArray(rebuilt)) {
    for (let index = 0; index < Math.max(live.length, rebuilt.length); index++) {
      diffValues(live[index], rebuilt[index], `${path}[${index}]`, ignored, changes);
    }
    return changes;
  }
  if (live instanceof Date && rebuilt instanceof Date) {
    if (live.getTime() !== rebuilt.getTime()) changes.push({ path, live, rebuilt });
    return changes;
  }
  if (!Object.is(live, rebuilt)) changes.push({ path, live, rebuilt });
  return changes;
}

/** Compares a live collection with its rebuild, ignoring `ignored` fields (paths from the document's root). */
export function diffCollection(
  collection: string,
  live: readonly Document[],
  rebuilt: readonly Document[],
  ignored: readonly string[] = [],
): CollectionDiff {
  const liveById = new Map(live.map((doc) => [String(doc._id), doc]));
  const rebuiltById = new Map(rebuilt.map((doc) => [String(doc._id), doc]));
  const missing: Document[] = [];
  const changed: DocumentChange[] = [];
  for (const [id, doc] of [...rebuiltById].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const liveDoc = liveById.get(id);
    if (!liveDoc) {
      missing.push(doc);
      continue;
    }
    const fields = diffValues(liveDoc, doc, '', ignored);
    if (fields.length > 0) changed.push({ id, fields });
  }
  const extra = [...liveById]
    .filter(([id]) => !rebuiltById.has(id))
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, doc]) => doc);
  return { collection, liveCount: live.length, rebuiltCount: rebuilt.length, missing, extra, changed };
}

function shown(value: unknown, max = 160): string {
  if (value === undefined) return '(absent)';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** The differences as lines for a person, at most `limit` documents of each kind per collection. */
export function diffText(diffs: readonly CollectionDiff[], limit = 50): string[] {
  const lines: string[] = [];
  for (const diff of diffs) {
    const verdict = differs(diff)
      ? `${diff.missing.length} missing, ${diff.extra.length} extra, ${diff.changed.length} changed`
      : 'equal';
    lines.push(`${diff.collection}: ${diff.liveCount} live, ${diff.rebuiltCount} rebuilt: ${verdict}`);
    const more = (count: number) => (count > limit ? [`  … and ${count - limit} more`] : []);
    for (const doc of diff.missing.slice(0, limit))
      lines.push(`  missing from live: ${doc._id} ${shown(doc, 300)}`);
    lines.push(...more(diff.missing.length));
    for (const doc of diff.extra.slice(0, limit))
      lines.push(`  extra in live (not rebuilt): ${doc._id} ${shown(doc, 300)}`);
    lines.push(...more(diff.extra.length));
    for (const change of diff.changed.slice(0, limit)) {
      lines.push(`  changed: ${change.id}`);
      for (const field of change.fields.slice(0, 20)) {
        lines.push(`    ${field.path}: live ${shown(field.live)}, rebuilt ${shown(field.rebuilt)}`);
      }
      if (change.fields.length > 20) lines.push(`    … and ${change.fields.length - 20} more fields`);
    }
    lines.push(...more(diff.changed.length));
  }
  return lines;
}

/** The differences as JSON (documents and field changes), for scripts. */
export function diffJson(diffs: readonly CollectionDiff[]): unknown {
  return diffs.map((diff) => ({
    collection: diff.collection,
    live: diff.liveCount,
    rebuilt: diff.rebuiltCount,
    equal: !differs(diff),
    missing: diff.missing,
    extra: diff.extra,
    changed: diff.changed,
  }));
}
