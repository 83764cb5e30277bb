import { describe, expect, it } from 'vitest';
import { RingBuffer } from '../../devtools/inspector/ring-buffer.js';

describe('RingBuffer', () => {
  it('keeps the newest entries, oldest first, and never grows past its capacity', () => {
    const buffer = new RingBuffer<number>(3);
    expect(buffer.toArray()).toEqual([]);
    buffer.push(1);
    buffer.push(2);
    expect(buffer.toArray()).toEqual([1, 2]);
    for (let i = 3; i <= 10_000; i += 1) buffer.push(i);
    expect(buffer.length).toBe(3);
    expect(buffer.toArray()).toEqual([9_998, 9_999, 10_000]);
    expect(buffer.overwritten).toBe(9_997);
  });

  it('refuses a capacity that is not a positive integer', () => {
    expect(() => new RingBuffer(0)).toThrow(RangeError);
    expect(() => new RingBuffer(1.5)).toThrow(RangeError);
  });
});
