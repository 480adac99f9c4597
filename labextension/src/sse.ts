/**
 * An incremental parser for Server-Sent Events, as the WHATWG HTML standard defines
 * the `text/event-stream` format.
 *
 * The chat API answers a POST with an event stream, so `EventSource` (GET only) cannot
 * read it: the panel reads the response body chunk by chunk and feeds the chunks here.
 * A chunk may end anywhere: inside a field, between a CR and its LF, or inside a
 * multi-byte character (the byte-level `readEventStream` decodes with a streaming
 * `TextDecoder`, so characters are never cut).
 */

/**
 * One dispatched event.
 */
export interface IServerSentEvent {
  /** The `event:` field; `message` when the event named none. */
  event: string;
  /** The `data:` lines joined with `\n`. */
  data: string;
  /** The last `id:` seen on the stream, if any. */
  id?: string;
}

/**
 * Turns text chunks into events.  Feed it with `push()`, close it with `end()`.
 */
export class SSEParser {
  /**
   * @param onEvent - called once per complete event, in stream order.
   */
  constructor(onEvent: (event: IServerSentEvent) => void) {
    this._onEvent = onEvent;
  }

  /**
   * Parse the next piece of the stream.
   */
  push(chunk: string): void {
    if (!chunk) {
      return;
    }
    let text = chunk;
    if (this._skipLeadingLF) {
      // The previous chunk ended with CR: a LF right after it belongs to that line end.
      this._skipLeadingLF = false;
      if (text.charCodeAt(0) === 0x0a) {
        text = text.slice(1);
      }
    }
    if (this._atStart) {
      // A byte-order mark at the very start of the stream is ignored.
      if (text.charCodeAt(0) === 0xfeff) {
        text = text.slice(1);
      }
      if (text) {
        this._atStart = false;
      }
    }
    let buffer = this._pending + text;
    let start = 0;
    for (let i = 0; i < buffer.length; i++) {
      const c = buffer.charCodeAt(i);
      if (c !== 0x0a && c !== 0x0d) {
        continue;
      }
      this._line(buffer.slice(start, i));
      if (c === 0x0d) {
        if (i + 1 < buffer.length) {
          if (buffer.charCodeAt(i + 1) === 0x0a) {
            i++;
          }
        } else {
          this._skipLeadingLF = true;
        }
      }
      start = i + 1;
    }
    buffer = buffer.slice(start);
    this._pending = buffer;
  }

  /**
   * The stream ended.  An event without its closing blank line is dropped, as the
   * standard says; the parser is reset and may be reused.
   */
  end(): void {
    this._pending = '';
    this._data = [];
    this._eventType = '';
    this._skipLeadingLF = false;
    this._atStart = true;
  }

  private _line(line: string): void {
    if (line === '') {
      this._dispatch();
      return;
    }
    if (line.charCodeAt(0) === 0x3a) {
      return; // ":" starts a comment (keep-alives)
    }
    const colon = line.indexOf(':');
    let field: string;
    let value: string;
    if (colon === -1) {
      field = line;
      value = '';
    } else {
      field = line.slice(0, colon);
      value = line.slice(colon + 1);
      if (value.charCodeAt(0) === 0x20) {
        value = value.slice(1);
      }
    }
    switch (field) {
      case 'data':
        this._data.push(value);
        break;
      case 'event':
        this._eventType = value;
        break;
      case 'id':
        if (value.indexOf('\u0000') === -1) {
          this._lastId = value;
        }
        break;
      default:
        // `retry` and unknown fields do not matter to a one-shot POST stream.
        break;
    }
  }

  private _dispatch(): void {
    const data = this._data;
    const eventType = this._eventType;
    this._data = [];
    this._eventType = '';
    if (data.length === 0) {
      return;
    }
    const event: IServerSentEvent = {
      event: eventType || 'message',
      data: data.join('\n')
    };
    if (this._lastId !== undefined) {
      event.id = this._lastId;
    }
    this._onEvent(event);
  }

  /** Called for each complete event. */
  private readonly _onEvent: (event: IServerSentEvent) => void;
  /** Text after the last line end seen: the start of a line still arriving. */
  private _pending = '';
  /** The `data:` lines of the event being read. */
  private _data: string[] = [];
  /** The `event:` field of the event being read. */
  private _eventType = '';
  /** The last event id, kept across events as the standard says. */
  private _lastId: string | undefined = undefined;
  /** The last chunk ended with CR, so a LF opening the next chunk is part of it. */
  private _skipLeadingLF = false;
  /** Nothing has been read yet (a BOM is only skipped there). */
  private _atStart = true;
}

/**
 * Read a byte stream (a fetch response body) to its end, calling `onEvent` for each
 * event as soon as it is complete.
 *
 * @param body - the response body.
 * @param onEvent - called per event, in order.
 * @param signal - aborting it cancels the read; the promise then rejects with the
 *   signal's reason (an `AbortError`).
 */
export async function readEventStream(
  body: ReadableStream<Uint8Array>,
  onEvent: (event: IServerSentEvent) => void,
  signal?: AbortSignal
): Promise<void> {
  const reader = body.getReader();
  const decoder = new TextDecoder('utf-8');
  const parser = new SSEParser(onEvent);
  const onAbort = () => {
    reader.cancel().catch(() => undefined);
  };
  signal?.addEventListener('abort', onAbort);
  try {
    for (;;) {
      throwIfAborted(signal);
      const { done, value } = await reader.read();
      // A cancelled read ends as `done`: tell an abort from the real end of the stream.
      throwIfAborted(signal);
      if (done) {
        break;
      }
      parser.push(decoder.decode(value, { stream: true }));
    }
    parser.push(decoder.decode());
    parser.end();
  } finally {
    signal?.removeEventListener('abort', onAbort);
    reader.releaseLock();
  }
}

function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted) {
    throw signal.reason ?? new DOMException('Aborted', 'AbortError');
  }
}
