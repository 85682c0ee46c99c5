import { Backoff } from '../src/backoff';
import { LogBuffer } from '../src/logbuffer';

describe('Backoff', () => {
  it('asks again at once after success, exponentially later after failures, capped', () => {
    const b = new Backoff({ initial: 1000, maximum: 8000, factor: 2, hidden: 30000 });
    expect(b.delay(false)).toBe(0);
    const delays = [];
    for (let i = 0; i < 6; i++) {
      b.failure();
      delays.push(b.delay(false));
    }
    expect(delays).toEqual([1000, 2000, 4000, 8000, 8000, 8000]);
    b.success();
    expect(b.delay(false)).toBe(0);
  });

  it('slows down while hidden, never faster than a failure would', () => {
    const b = new Backoff({ initial: 1000, maximum: 60000, factor: 2, hidden: 30000 });
    expect(b.delay(true)).toBe(30000);
    for (let i = 0; i < 7; i++) {
      b.failure();
    }
    expect(b.delay(true)).toBe(60000);
  });
});

describe('LogBuffer', () => {
  it('joins chunks split mid-line and keeps only the last lines', () => {
    const buf = new LogBuffer(3);
    buf.append('one\ntw');
    buf.append('o\nthree\nfour\nfi');
    expect(buf.dropped).toBe(1);
    expect(buf.text).toBe('… 1 earlier lines not shown (download has them all)\ntwo\nthree\nfour\nfi');
    buf.clear();
    buf.append('x\n');
    expect(buf.text).toBe('x\n');
  });
});
