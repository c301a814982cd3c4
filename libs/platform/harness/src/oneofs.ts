/**
 * What a oneof holds when it is the case `name`, else undefined: `oneofValue(entry.content, 'system')`
 * is the system entry an inbox entry holds, if it holds one.
 */
export function oneofValue<Oneof extends { $case: string; value: unknown }, Case extends Oneof['$case']>(
  oneof: Oneof | undefined,
  name: Case,
): Extract<Oneof, { $case: Case }>['value'] | undefined {
  return oneof?.$case === name ? (oneof.value as Extract<Oneof, { $case: Case }>['value']) : undefined;
}
