/** Reading one `data:` payload of the chat API. */

import { parseTutorEvent } from '../protocol';

describe('parseTutorEvent', () => {
  it('reads an object with a string type', () => {
    expect(parseTutorEvent('{"type":"text","delta":"a"}')).toEqual({ type: 'text', delta: 'a' });
  });

  it('keeps types it does not know (the state skips them)', () => {
    expect(parseTutorEvent('{"type":"future","x":1}')).toEqual({ type: 'future', x: 1 });
  });

  it.each(['', 'not json', '[1,2]', 'null', '42', '"text"', '{"delta":"a"}', '{"type":3}'])(
    'returns null for %j',
    data => {
      expect(parseTutorEvent(data)).toBeNull();
    }
  );
});
