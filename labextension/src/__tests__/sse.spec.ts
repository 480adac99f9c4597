/**
 * The Server-Sent-Events parser: the WHATWG rules for fields and line ends, and chunks
 * that split the stream anywhere.
 */

import { IServerSentEvent, SSEParser, readEventStream } from '../sse';

// ReadableStream, TextEncoder/TextDecoder and AbortController are Node (>= 18) globals,
// typed here through the DOM library.

/** Feed `chunks` to a new parser and return the events it dispatched. */
function parse(chunks: string[], end = true): IServerSentEvent[] {
  const events: IServerSentEvent[] = [];
  const parser = new SSEParser(e => events.push(e));
  for (const chunk of chunks) {
    parser.push(chunk);
  }
  if (end) {
    parser.end();
  }
  return events;
}

const STREAM =
  'data: {"type":"conversation","conversation_id":"c1"}\n\n' +
  'data: {"type":"text","delta":"Hé 🙂"}\n\n' +
  ': keep-alive\n\n' +
  'event: custom\nid: 7\ndata: line one\ndata: line two\n\n' +
  'data: {"type":"done","stop_reason":"end_turn"}\n\n';

const EXPECTED: IServerSentEvent[] = [
  { event: 'message', data: '{"type":"conversation","conversation_id":"c1"}' },
  { event: 'message', data: '{"type":"text","delta":"Hé 🙂"}' },
  { event: 'custom', data: 'line one\nline two', id: '7' },
  { event: 'message', data: '{"type":"done","stop_reason":"end_turn"}', id: '7' }
];

describe('SSEParser', () => {
  it('parses a whole stream in one chunk', () => {
    expect(parse([STREAM])).toEqual(EXPECTED);
  });

  it('gives the same events wherever the stream is split in two', () => {
    for (let i = 0; i <= STREAM.length; i++) {
      expect(parse([STREAM.slice(0, i), STREAM.slice(i)])).toEqual(EXPECTED);
    }
  });

  it('gives the same events when every character is its own chunk', () => {
    expect(parse(Array.from(STREAM))).toEqual(EXPECTED);
  });

  it('accepts CRLF and CR line ends, also split between chunks', () => {
    const crlf = STREAM.replace(/\n/g, '\r\n');
    const cr = STREAM.replace(/\n/g, '\r');
    expect(parse([crlf])).toEqual(EXPECTED);
    expect(parse([cr])).toEqual(EXPECTED);
    for (let i = 0; i <= crlf.length; i++) {
      expect(parse([crlf.slice(0, i), crlf.slice(i)])).toEqual(EXPECTED);
    }
  });

  it('dispatches an event as soon as its blank line arrives', () => {
    const events: IServerSentEvent[] = [];
    const parser = new SSEParser(e => events.push(e));
    parser.push('data: a\n');
    expect(events).toEqual([]);
    parser.push('\n');
    expect(events).toEqual([{ event: 'message', data: 'a' }]);
  });

  it('drops an event whose blank line never came', () => {
    expect(parse(['data: a\n\ndata: unfinished\n'])).toEqual([{ event: 'message', data: 'a' }]);
  });

  it('removes one space after the colon only', () => {
    expect(parse(['data:x\n\ndata:  two spaces\n\n'])).toEqual([
      { event: 'message', data: 'x' },
      { event: 'message', data: ' two spaces' }
    ]);
  });

  it('reads a field without a colon as an empty value', () => {
    expect(parse(['data\ndata\n\n'])).toEqual([{ event: 'message', data: '\n' }]);
  });

  it('ignores comments, unknown fields, retry and events without data', () => {
    expect(parse([': hi\nretry: 100\nfoo: bar\n\nevent: lonely\n\n'])).toEqual([]);
  });

  it('resets the event type after each event', () => {
    expect(parse(['event: a\ndata: 1\n\ndata: 2\n\n'])).toEqual([
      { event: 'a', data: '1' },
      { event: 'message', data: '2' }
    ]);
  });

  it('skips a byte-order mark at the very start only', () => {
    expect(parse(['\ufeff', 'data: a\n\n'])).toEqual([{ event: 'message', data: 'a' }]);
    expect(parse(['data: \ufeffa\n\n'])).toEqual([{ event: 'message', data: '\ufeffa' }]);
  });

  it('ignores an id holding NUL', () => {
    expect(parse(['id: a\u0000b\ndata: x\n\n'])).toEqual([{ event: 'message', data: 'x' }]);
  });

  it('keeps data that contains colons and JSON whitespace', () => {
    expect(parse(['data: {"a": "b: c"}\n\n'])).toEqual([
      { event: 'message', data: '{"a": "b: c"}' }
    ]);
  });

  it('can be reused after end()', () => {
    const events: IServerSentEvent[] = [];
    const parser = new SSEParser(e => events.push(e));
    parser.push('data: half');
    parser.end();
    parser.push('data: b\n\n');
    expect(events).toEqual([{ event: 'message', data: 'b' }]);
  });
});

/** A byte stream that delivers `chunks` one by one. */
function byteStream(chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  let i = 0;
  return new ReadableStream<Uint8Array>({
    pull(controller: ReadableStreamDefaultController<Uint8Array>) {
      if (i < chunks.length) {
        controller.enqueue(chunks[i++]);
      } else {
        controller.close();
      }
    }
  });
}

describe('readEventStream', () => {
  it('decodes UTF-8 split inside a character', async () => {
    const bytes = new TextEncoder().encode(STREAM);
    // Cut into 3-byte pieces: emoji and accented letters straddle chunk borders.
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < bytes.length; i += 3) {
      chunks.push(bytes.slice(i, i + 3));
    }
    const events: IServerSentEvent[] = [];
    await readEventStream(byteStream(chunks), e => events.push(e));
    expect(events).toEqual(EXPECTED);
  });

  it('rejects with the abort reason when the signal aborts', async () => {
    const controller = new AbortController();
    let pulls = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(c: ReadableStreamDefaultController<Uint8Array>) {
        pulls++;
        if (pulls === 1) {
          c.enqueue(new TextEncoder().encode('data: first\n\n'));
        }
        // then never deliver anything: the reader waits until cancelled
        return new Promise<void>(() => undefined);
      }
    });
    const events: IServerSentEvent[] = [];
    const reading = readEventStream(
      stream,
      e => {
        events.push(e);
        controller.abort();
      },
      controller.signal
    );
    await expect(reading).rejects.toMatchObject({ name: 'AbortError' });
    expect(events).toEqual([{ event: 'message', data: 'first' }]);
  });
});
