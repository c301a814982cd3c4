/** Rows of text in columns, left-aligned, numbers right-aligned. */
export function table(
  header: readonly string[],
  rows: readonly (readonly (string | number | bigint)[])[],
): string[] {
  const cells = [header, ...rows.map((row) => row.map((cell) => String(cell)))];
  const numeric = header.map(
    (_, column) =>
      rows.length > 0 &&
      rows.every((row) => typeof row[column] !== 'string' || /^-?[\d,]+$/.test(row[column] as string)),
  );
  const widths = header.map((_, column) => Math.max(...cells.map((row) => (row[column] ?? '').length)));
  return cells.map((row) =>
    row
      .map((cell, column) =>
        numeric[column] ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!),
      )
      .join('  ')
      .trimEnd(),
  );
}
