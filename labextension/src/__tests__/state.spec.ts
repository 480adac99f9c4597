/**
 * The conversation reducer: the whole life of an answer, from the question to the one
 * final `done` or `error`, and the rebuilding of stored conversations.
 */

import { IChatRequest, IUnknownEvent, TutorEvent } from '../protocol';
import {
  ChatAction,
  IAssistantMessage,
  IChatState,
  INITIAL_STATE,
  IUserMessage,
  answerText,
  describeError,
  messagesFromHistory,
  reduce
} from '../state';

/** Freeze a state deeply, so that any mutation by the reducer throws. */
function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const key of Object.keys(value as object)) {
      deepFreeze((value as Record<string, unknown>)[key]);
    }
  }
  return value;
}

/** Apply actions one by one, checking on the way that no state is ever mutated. */
function run(actions: ChatAction[], state: IChatState = INITIAL_STATE): IChatState {
  return actions.reduce((s, a) => reduce(deepFreeze(s), a), state);
}

const request: IChatRequest = {
  message: 'Why does my loop never stop?',
  context: { notebook_path: 'week1.ipynb', cell_index: 2, kind: 'question' }
};
const ask: ChatAction = { type: 'ask', userId: 'q1', assistantId: 'a1', request };
const ev = (event: TutorEvent | IUnknownEvent): ChatAction => ({ type: 'event', event });

/** The answer with id `a1`. */
function answer(state: IChatState, id = 'a1'): IAssistantMessage {
  const m = state.messages.find(x => x.id === id);
  if (!m || m.role !== 'assistant') {
    throw new Error(`no answer ${id}`);
  }
  return m;
}

describe('reduce', () => {
  it('adds the question and an empty streaming answer', () => {
    const s = run([ask]);
    expect(s.streamingId).toBe('a1');
    expect(s.messages).toHaveLength(2);
    const q = s.messages[0] as IUserMessage;
    expect(q).toMatchObject({ role: 'user', id: 'q1', text: request.message, request });
    expect(answer(s)).toMatchObject({ status: 'streaming', parts: [], questionId: 'q1' });
  });

  it('takes the conversation id from the first event', () => {
    const s = run([ask, ev({ type: 'conversation', conversation_id: 'c1' })]);
    expect(s.conversationId).toBe('c1');
    // The same id again changes nothing.
    expect(reduce(s, ev({ type: 'conversation', conversation_id: 'c1' }))).toBe(s);
  });

  it('appends text deltas into one part', () => {
    const s = run([ask, ev({ type: 'text', delta: 'Hel' }), ev({ type: 'text', delta: 'lo' })]);
    expect(answer(s).parts).toEqual([{ kind: 'text', text: 'Hello' }]);
    expect(answerText(answer(s))).toBe('Hello');
  });

  it('ignores empty deltas and unknown event types', () => {
    const s = run([ask, ev({ type: 'text', delta: 'a' })]);
    expect(reduce(s, ev({ type: 'text', delta: '' }))).toBe(s);
    expect(reduce(s, ev({ type: 'future_event', x: 1 }))).toBe(s);
  });

  it('keeps tool steps between text runs and pairs results with calls', () => {
    const s = run([
      ask,
      ev({ type: 'text', delta: 'Let me look. ' }),
      ev({ type: 'tool_call', id: 't1', name: 'search_course', input: { query: 'while loop' } }),
      ev({
        type: 'tool_result',
        id: 't1',
        name: 'search_course',
        is_error: false,
        output: 'Loops end when…'
      }),
      ev({ type: 'text', delta: 'Your condition ' }),
      ev({ type: 'text', delta: 'never changes.' })
    ]);
    expect(answer(s).parts).toEqual([
      { kind: 'text', text: 'Let me look. ' },
      {
        kind: 'tool',
        id: 't1',
        name: 'search_course',
        input: { query: 'while loop' },
        status: 'done',
        output: 'Loops end when…'
      },
      { kind: 'text', text: 'Your condition never changes.' }
    ]);
    expect(answerText(answer(s))).toBe('Let me look. Your condition never changes.');
  });

  it('marks a failed tool and shows a result that came without its call', () => {
    const s = run([
      ask,
      ev({ type: 'tool_call', id: 't1', name: 'run_code', input: { code: '1/0' } }),
      ev({ type: 'tool_result', id: 't1', name: 'run_code', is_error: true, output: 'boom' }),
      ev({ type: 'tool_result', id: 't2', name: 'read_cell', is_error: false, output: 'x = 1' })
    ]);
    const [first, second] = answer(s).parts;
    expect(first).toMatchObject({ kind: 'tool', status: 'error', output: 'boom' });
    expect(second).toMatchObject({ kind: 'tool', id: 't2', name: 'read_cell', status: 'done' });
  });

  it('collects citations once each', () => {
    const c = {
      type: 'citation' as const,
      course: 'intro-python',
      path: 'week1/loops.ipynb',
      cell: 3,
      heading: 'While loops',
      text: 'A while loop…'
    };
    const s = run([ask, ev(c), ev({ ...c, text: 'again' }), ev({ ...c, cell: 4 })]);
    expect(answer(s).citations).toEqual([
      {
        course: 'intro-python',
        path: 'week1/loops.ipynb',
        cell: 3,
        heading: 'While loops',
        text: 'A while loop…'
      },
      {
        course: 'intro-python',
        path: 'week1/loops.ipynb',
        cell: 4,
        heading: 'While loops',
        text: 'A while loop…'
      }
    ]);
  });

  it('keeps a citation without a cell (a file that is not a notebook) as null', () => {
    const c = {
      type: 'citation' as const,
      course: 'intro-python',
      path: 'notes/loops.md',
      cell: null,
      heading: 'Loops',
      text: 'A loop…'
    };
    const s = run([ask, ev(c), ev({ ...c, text: 'again' }), ev({ ...c, cell: 0 })]);
    expect(answer(s).citations.map(x => x.cell)).toEqual([null, 0]);
  });

  it('reads a citation cell that is not a 0-based index as null', () => {
    const c = { type: 'citation', course: 'c', path: 'p.ipynb', heading: '', text: '' };
    const s = run([
      ask,
      ev({ ...c, cell: '3' }),
      ev({ ...c, path: 'q.ipynb', cell: -1 }),
      ev({ ...c, path: 'r.ipynb', cell: 1.5 }),
      ev({ ...c, path: 's.ipynb' })
    ]);
    expect(answer(s).citations.map(x => x.cell)).toEqual([null, null, null, null]);
  });

  it('records usage and ends with done', () => {
    const s = run([
      ask,
      ev({ type: 'text', delta: 'ok' }),
      ev({ type: 'usage', input_tokens: 120, output_tokens: 30 }),
      ev({ type: 'done', stop_reason: 'end_turn' })
    ]);
    expect(s.streamingId).toBeNull();
    expect(answer(s)).toMatchObject({
      status: 'done',
      stopReason: 'end_turn',
      usage: { inputTokens: 120, outputTokens: 30 }
    });
  });

  it('ends as stopped when the stop reason is "stopped", interrupting running tools', () => {
    const s = run([
      ask,
      ev({ type: 'tool_call', id: 't1', name: 'run_code', input: { code: 'while True: pass' } }),
      ev({ type: 'done', stop_reason: 'stopped' })
    ]);
    expect(answer(s).status).toBe('stopped');
    expect(answer(s).parts[0]).toMatchObject({ status: 'interrupted' });
  });

  it('shows the server message of an error event', () => {
    const s = run([
      ask,
      ev({ type: 'text', delta: 'partial' }),
      ev({
        type: 'error',
        code: 'budget_exceeded',
        message: 'You have used today’s tutor budget. It resets at midnight UTC.'
      })
    ]);
    expect(s.streamingId).toBeNull();
    const a = answer(s);
    expect(a.status).toBe('error');
    expect(a.error).toEqual({
      code: 'budget_exceeded',
      title: 'Budget reached',
      message: 'You have used today’s tutor budget. It resets at midnight UTC.',
      retryable: false
    });
    // The partial text stays.
    expect(answerText(a)).toBe('partial');
  });

  it('keeps the courses to pick from when the course must be chosen', () => {
    const s = run([
      ask,
      ev({
        type: 'error',
        code: 'course_choice_required',
        message: 'You are in several courses: pick the course to ask about.',
        courses: ['data-pandas', 7, 'intro-python']
      })
    ]);
    expect(answer(s).error).toMatchObject({
      code: 'course_choice_required',
      title: 'Which course is this notebook for?',
      retryable: false,
      courses: ['data-pandas', 'intro-python']
    });
    // Other errors never carry a choice, even if a server sends one.
    const refused = run([
      ask,
      ev({ type: 'error', code: 'course_forbidden', message: 'No.', courses: ['x'] })
    ]);
    expect(answer(refused).error?.courses).toBeUndefined();
  });

  it('ignores everything after the final event', () => {
    const s = run([ask, ev({ type: 'done', stop_reason: 'end_turn' })]);
    expect(reduce(s, ev({ type: 'text', delta: 'late' }))).toBe(s);
    expect(reduce(s, ev({ type: 'error', code: 'internal', message: 'x' }))).toBe(s);
    expect(reduce(s, { type: 'closed' })).toBe(s);
  });

  it('reports a stream that closed without done or error as a lost connection', () => {
    const s = run([ask, ev({ type: 'text', delta: 'half an ans' }), { type: 'closed' }]);
    expect(answer(s)).toMatchObject({
      status: 'error',
      error: { code: 'network', retryable: true }
    });
  });

  it('marks an answer aborted by the student as stopped', () => {
    const s = run([ask, { type: 'closed', stopped: true }]);
    expect(answer(s)).toMatchObject({ status: 'stopped', stopReason: 'stopped' });
    expect(s.streamingId).toBeNull();
  });

  it('turns a refused request into an error with a retry delay', () => {
    const s = run([ask, { type: 'failed', code: 'rate_limited', message: '', retryAfter: 12 }]);
    expect(answer(s).error).toEqual({
      code: 'rate_limited',
      title: 'Too many questions at once',
      message: 'Please wait a moment before asking again.',
      retryAfter: 12,
      retryable: true
    });
  });

  it('stops a streaming answer when another question is asked', () => {
    const s = run([
      ask,
      ev({ type: 'text', delta: 'a' }),
      { type: 'ask', userId: 'q2', assistantId: 'a2', request: { message: 'next' } }
    ]);
    expect(answer(s, 'a1').status).toBe('stopped');
    expect(answer(s, 'a2').status).toBe('streaming');
    expect(s.streamingId).toBe('a2');
    expect(s.messages).toHaveLength(4);
  });

  it('replaces only the message that changed', () => {
    const s1 = run([ask, ev({ type: 'done', stop_reason: 'end_turn' })]);
    const s2 = run(
      [{ type: 'ask', userId: 'q2', assistantId: 'a2', request: { message: 'b' } }],
      s1
    );
    const s3 = reduce(s2, ev({ type: 'text', delta: 'x' }));
    expect(s3.messages[0]).toBe(s2.messages[0]);
    expect(s3.messages[1]).toBe(s2.messages[1]);
    expect(s3.messages[3]).not.toBe(s2.messages[3]);
  });

  it('starts over with "new"', () => {
    const s = run([ask, ev({ type: 'conversation', conversation_id: 'c1' }), { type: 'new' }]);
    expect(s).toEqual(INITIAL_STATE);
  });

  it('does nothing for events while idle', () => {
    expect(reduce(INITIAL_STATE, ev({ type: 'text', delta: 'x' }))).toBe(INITIAL_STATE);
    expect(reduce(INITIAL_STATE, { type: 'closed' })).toBe(INITIAL_STATE);
  });

  it('loads a stored conversation', () => {
    const s = run([
      ask,
      {
        type: 'load',
        conversation: {
          id: 'c9',
          title: 'Loops',
          messages: [
            { role: 'user', content: 'What is a loop?' },
            { role: 'assistant', content: [{ type: 'text', text: 'A loop repeats.' }] }
          ]
        }
      }
    ]);
    expect(s.conversationId).toBe('c9');
    expect(s.title).toBe('Loops');
    expect(s.streamingId).toBeNull();
    expect(s.messages.map(m => m.role)).toEqual(['user', 'assistant']);
  });
});

describe('messagesFromHistory', () => {
  it('joins tool rounds into one answer', () => {
    const messages = messagesFromHistory([
      { role: 'user', content: [{ type: 'text', text: 'Help with my error' }] },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Let me search. ' },
          { type: 'tool_use', id: 'tu1', name: 'search_course', input: { query: 'NameError' } }
        ]
      },
      {
        role: 'user',
        content: [
          {
            type: 'tool_result',
            tool_use_id: 'tu1',
            content: [{ type: 'text', text: 'A NameError means…' }]
          }
        ]
      },
      {
        role: 'assistant',
        content: [{ type: 'text', text: 'Define y first.' }],
        status: 'complete'
      },
      { role: 'user', content: 'thanks' },
      { role: 'assistant', content: 'You are welcome', status: 'interrupted' }
    ]);
    expect(messages.map(m => m.role)).toEqual(['user', 'assistant', 'user', 'assistant']);
    const first = messages[1] as IAssistantMessage;
    expect(first.status).toBe('done');
    expect(first.parts).toEqual([
      { kind: 'text', text: 'Let me search. ' },
      {
        kind: 'tool',
        id: 'tu1',
        name: 'search_course',
        input: { query: 'NameError' },
        status: 'done',
        output: 'A NameError means…'
      },
      { kind: 'text', text: 'Define y first.' }
    ]);
    expect((messages[2] as IUserMessage).text).toBe('thanks');
    expect(messages[3]).toMatchObject({ status: 'stopped', stopReason: 'interrupted' });
  });

  it('shows an interrupted stored answer as failed', () => {
    const [, a] = messagesFromHistory([
      { role: 'user', content: 'q' },
      { role: 'assistant', content: 'partial', status: 'error' }
    ]) as [IUserMessage, IAssistantMessage];
    expect(a.status).toBe('error');
    expect(a.error).toMatchObject({
      message: 'The tutor could not finish this answer.',
      retryable: false
    });
  });

  it('keeps the citations stored with an answer, once each, whatever else is on the wire', () => {
    const stored = {
      course: 'intro-python',
      path: 'week1/loops.ipynb',
      cell: 3,
      heading: 'While loops',
      text: 'A while loop runs while its condition holds.'
    };
    const [, a, , b] = messagesFromHistory([
      { role: 'user', content: 'Why does my loop never stop?' },
      {
        role: 'assistant',
        content: [{ type: 'tool_use', id: 'tu1', name: 'search_course', input: {} }],
        citations: [stored]
      },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'tu1', content: 'x' }] },
      {
        role: 'assistant',
        content: 'Change i inside the loop.',
        status: 'complete',
        citations: [
          stored,
          { course: 'intro-python', path: 'notes/loops.md', cell: null, heading: '', text: '' },
          { path: 'week2.ipynb', cell: '<b>7</b>' },
          'not a passage',
          null
        ]
      },
      { role: 'user', content: 'and a for loop?' },
      { role: 'assistant', content: 'No sources here.', status: 'complete' }
    ]) as IAssistantMessage[];
    expect(a.citations).toEqual([
      stored,
      { course: 'intro-python', path: 'notes/loops.md', cell: null, heading: '', text: '' },
      { course: '', path: 'week2.ipynb', cell: null, heading: '', text: '' }
    ]);
    expect(b.citations).toEqual([]);
  });

  it('skips blocks it cannot show', () => {
    expect(
      messagesFromHistory([
        { role: 'user', content: null },
        { role: 'user', content: 42 }
      ])
    ).toEqual([]);
  });
});

describe('describeError', () => {
  it('has a title and a student-facing message for every API code', () => {
    for (const code of [
      'budget_exceeded',
      'rate_limited',
      'unavailable',
      'bad_request',
      'unauthorized',
      'upstream',
      'internal',
      'network'
    ]) {
      const e = describeError(code);
      expect(e.title).toBeTruthy();
      expect(e.message).toBeTruthy();
      expect(e.message).not.toMatch(/Traceback|Exception/);
    }
  });

  it('prefers the server message and handles unknown codes', () => {
    expect(
      describeError('unavailable', '  The tutor is unavailable, try again in 30 s. ').message
    ).toBe('The tutor is unavailable, try again in 30 s.');
    expect(describeError('something_new')).toMatchObject({
      title: 'The tutor could not answer',
      retryable: true
    });
    expect(describeError('rate_limited', null, -1).retryAfter).toBeUndefined();
  });
});
