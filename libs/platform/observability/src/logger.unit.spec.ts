import { describe, expect, it } from 'vitest';
import { serializeError } from './logger';

describe('an error in a log line', () => {
  it('shows its type, message, code, stack and cause, and none of what it was sending', () => {
    const cause = Object.assign(new Error('connection reset'), { code: 'ECONNRESET' });
    const error = Object.assign(new Error('write failed', { cause }), {
      code: 11000,
      writeErrors: [{ op: { entry: 'ciphertext for device 2' } }],
      metadata: { authorization: 'Bearer device-token' },
    });

    const logged = serializeError(error);

    expect(logged).toMatchObject({
      type: 'Error',
      message: 'write failed',
      code: 11000,
      cause: { type: 'Error', message: 'connection reset', code: 'ECONNRESET' },
    });
    expect(JSON.stringify(logged)).not.toMatch(/ciphertext|device-token/);
  });

  it('shows a thrown non-error as text', () => {
    expect(serializeError('boom')).toEqual({ message: 'boom' });
    expect(serializeError(42)).toEqual({ value: '42' });
  });
});
