import { Backoff } from '../src/backoff';
import { IPollState, LongPoll } from '../src/poll';

interface IFeed {
  version: string;
}

/** A long poll over a feed that answers `v1`, `v2`, ... at once; `hidden`: nobody looks at the panel. */
function poll(hidden: boolean): { loop: LongPoll<IFeed>; asked: (string | null)[]; got: string[] } {
  const asked: (string | null)[] = [];
  const got: string[] = [];
  const loop = new LongPoll<IFeed>({
    fetch: (since, _wait, signal) => {
      asked.push(since);
      if (asked.length > 3) {  // then the feed holds the request open, until the loop stops
        return new Promise((_, reject) => signal.addEventListener('abort', () => {
          reject(Object.assign(new Error('stopped'), { name: 'AbortError' }));
        }));
      }
      return Promise.resolve({ version: `v${asked.length}` });
    },
    onData: feed => got.push(feed.version),
    onState: (_: IPollState) => undefined,
    slowed: () => hidden,
    backoff: new Backoff({ initial: 1000, maximum: 30000, factor: 2, hidden: 30000 })
  });
  return { loop, asked, got };
}

describe('LongPoll', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('asks again at once after each answer, passing its version, while the panel is seen', async () => {
    const { loop, asked } = poll(false);
    loop.start();
    await jest.advanceTimersByTimeAsync(0);
    loop.stop();
    expect(asked).toEqual([null, 'v1', 'v2', 'v3']);
  });

  it('takes the first snapshot at once while hidden, then one per hidden interval', async () => {
    const { loop, asked, got } = poll(true);
    loop.start();
    await jest.advanceTimersByTimeAsync(0);
    expect(got).toEqual(['v1']);
    await jest.advanceTimersByTimeAsync(29_000);
    expect(asked).toEqual([null]);
    await jest.advanceTimersByTimeAsync(1_000);
    expect(asked).toEqual([null, null]);  // snapshots, no request held open while hidden
    loop.stop();
  });
});
