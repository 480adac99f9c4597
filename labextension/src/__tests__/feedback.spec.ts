/**
 * Votes on answers (`POST feedback`) and the course settings (`GET course`): which answer
 * takes a vote and where it goes, the vote's life in the state, and reading the answers.
 */

import { parseCourseInfo, parseFeedbackResult } from '../protocol';
import {
  ChatAction,
  IAssistantMessage,
  IChatState,
  INITIAL_STATE,
  feedbackTarget,
  messagesFromHistory,
  reduce
} from '../state';

const CONVERSATION = '3f0c1d2e-0000-4000-8000-000000000001';

function run(actions: ChatAction[], state: IChatState = INITIAL_STATE): IChatState {
  return actions.reduce((s, a) => reduce(Object.freeze(s), a), state);
}

const DONE: ChatAction = { type: 'event', event: { type: 'done', stop_reason: 'end_turn' } };

/** Ask and receive a whole answer `n` (ids `q-n`, `a-n`), ended by `end`. */
function answered(n: number, end: ChatAction = DONE): ChatAction[] {
  return [
    { type: 'ask', userId: `q-${n}`, assistantId: `a-${n}`, request: { message: `question ${n}` } },
    { type: 'event', event: { type: 'conversation', conversation_id: CONVERSATION } },
    { type: 'event', event: { type: 'text', delta: `answer ${n}` } },
    end
  ];
}

function answer(state: IChatState, id: string): IAssistantMessage {
  const m = state.messages.find(x => x.id === id);
  if (!m || m.role !== 'assistant') {
    throw new Error(`no answer ${id}`);
  }
  return m;
}

describe('feedbackTarget', () => {
  it('targets the latest streamed answer without a message id', () => {
    const s = run(answered(1));
    expect(feedbackTarget(s, 'a-1')).toEqual({ conversation_id: CONVERSATION });
  });

  it('refuses while streaming, after a failure or a stop, and for unknown ids', () => {
    const streaming = run(answered(1).slice(0, 3));
    expect(feedbackTarget(streaming, 'a-1')).toBeNull();
    const failed = run(answered(1, { type: 'failed', code: 'upstream' }));
    expect(feedbackTarget(failed, 'a-1')).toBeNull();
    const stopped = run(answered(1, { type: 'closed', stopped: true }));
    expect(feedbackTarget(stopped, 'a-1')).toBeNull();
    expect(feedbackTarget(run(answered(1)), 'q-1')).toBeNull();
    expect(feedbackTarget(run(answered(1)), 'nope')).toBeNull();
  });

  it('refuses an answer without a conversation id', () => {
    const s = run([
      { type: 'ask', userId: 'q-1', assistantId: 'a-1', request: { message: 'q' } },
      { type: 'event', event: { type: 'done', stop_reason: 'end_turn' } }
    ]);
    expect(feedbackTarget(s, 'a-1')).toBeNull();
  });

  it('only the latest answer, when ids are unknown, and not while the next streams', () => {
    const two = run([...answered(1), ...answered(2)]);
    expect(feedbackTarget(two, 'a-1')).toBeNull();
    expect(feedbackTarget(two, 'a-2')).toEqual({ conversation_id: CONVERSATION });
    const next = run([...answered(1)].concat(answered(2).slice(0, 1)));
    expect(feedbackTarget(next, 'a-1')).toBeNull();
  });

  it('any stored answer of a loaded conversation, by its message id', () => {
    const s = reduce(INITIAL_STATE, {
      type: 'load',
      conversation: {
        id: CONVERSATION,
        messages: [
          { id: 1, role: 'user', content: 'q1' },
          { id: 2, role: 'assistant', content: 'a1', status: 'complete' },
          { id: 3, role: 'user', content: 'q2' },
          { id: 4, role: 'assistant', content: 'a2', status: 'complete' }
        ]
      }
    });
    const [first, second] = s.messages.filter(m => m.role === 'assistant');
    expect(feedbackTarget(s, first.id)).toEqual({ conversation_id: CONVERSATION, message_id: 2 });
    expect(feedbackTarget(s, second.id)).toEqual({ conversation_id: CONVERSATION, message_id: 4 });
  });
});

describe('messagesFromHistory keeps message ids', () => {
  it('uses the last stored message of an answer with tool rounds', () => {
    const [, a] = messagesFromHistory([
      { id: 10, role: 'user', content: 'help' },
      {
        id: 11,
        role: 'assistant',
        content: [{ type: 'tool_use', id: 't', name: 'search_course', input: {} }]
      },
      { id: 12, role: 'user', content: [{ type: 'tool_result', tool_use_id: 't', content: 'x' }] },
      { id: 13, role: 'assistant', content: 'done', status: 'complete' }
    ]) as IAssistantMessage[];
    expect(a.messageId).toBe(13);
  });

  it('leaves it out when the gateway sends none', () => {
    const [, a] = messagesFromHistory([
      { role: 'user', content: 'q' },
      { role: 'assistant', content: 'a', id: null }
    ]) as IAssistantMessage[];
    expect(a.messageId).toBeUndefined();
  });
});

describe('the vote in the state', () => {
  it('goes sending, then sent with the stored id, and takes no second vote', () => {
    let s = run([...answered(1), { type: 'feedback', answerId: 'a-1', vote: 'stuck' }]);
    expect(answer(s, 'a-1').feedback).toEqual({ vote: 'stuck', status: 'sending' });
    expect(feedbackTarget(s, 'a-1')).toBeNull();
    expect(reduce(s, { type: 'feedback', answerId: 'a-1', vote: 'up' })).toBe(s);
    s = reduce(s, { type: 'feedbackSent', answerId: 'a-1', vote: 'stuck', messageId: 42 });
    expect(answer(s, 'a-1')).toMatchObject({
      messageId: 42,
      feedback: { vote: 'stuck', status: 'sent' }
    });
    expect(feedbackTarget(s, 'a-1')).toBeNull();
    // The recorded answer keeps its vote shown after the next question.
    s = run(answered(2), s);
    expect(answer(s, 'a-1').feedback?.status).toBe('sent');
  });

  it('a refused vote can be given again', () => {
    const s = run([
      ...answered(1),
      { type: 'feedback', answerId: 'a-1', vote: 'up' },
      { type: 'feedbackFailed', answerId: 'a-1', vote: 'up', message: 'No such answer.' }
    ]);
    expect(answer(s, 'a-1').feedback).toEqual({
      vote: 'up',
      status: 'failed',
      error: 'No such answer.'
    });
    expect(feedbackTarget(s, 'a-1')).toEqual({ conversation_id: CONVERSATION });
    const again = reduce(s, { type: 'feedback', answerId: 'a-1', vote: 'down' });
    expect(answer(again, 'a-1').feedback).toEqual({ vote: 'down', status: 'sending' });
  });

  it('ignores votes for what is not an answer', () => {
    const s = run(answered(1));
    expect(reduce(s, { type: 'feedback', answerId: 'q-1', vote: 'up' })).toBe(s);
    expect(reduce(s, { type: 'feedbackSent', answerId: 'gone', vote: 'up' })).toBe(s);
    expect(reduce(s, { type: 'feedbackFailed', answerId: 'q-1', vote: 'up', message: '' })).toBe(s);
  });
});

describe('parseFeedbackResult', () => {
  it('reads the gateway answer', () => {
    expect(
      parseFeedbackResult({
        id: 7,
        conversation_id: CONVERSATION,
        message_id: 13,
        vote: 'stuck',
        hint_level: 2
      })
    ).toEqual({
      id: 7,
      conversation_id: CONVERSATION,
      message_id: 13,
      vote: 'stuck',
      hint_level: 2
    });
    expect(
      parseFeedbackResult({ id: 8, conversation_id: CONVERSATION, message_id: 13, vote: 'up' })
    ).toMatchObject({ hint_level: null });
  });

  it.each([
    null,
    [],
    'ok',
    { conversation_id: CONVERSATION, message_id: 1, vote: 'meh' },
    { conversation_id: CONVERSATION, message_id: '1', vote: 'up' },
    { message_id: 1, vote: 'up' }
  ])('returns null for %j', value => {
    expect(parseFeedbackResult(value)).toBeNull();
  });
});

describe('parseCourseInfo', () => {
  it('reads the course settings and the privacy notice', () => {
    const info = parseCourseInfo({
      course: 'intro-python',
      title: 'Introduction to Python',
      published: true,
      language: 'English',
      model: 'claude-sonnet-4-6',
      policy: 'hints-only',
      privacy: { instructors_read_conversations: false, notice: ' They cannot read them. ' },
      here: { notebook_path: 'w1.ipynb', cell_index: 3, exercise: 'Exercise 2', policy: 'no-help' }
    });
    expect(info).toMatchObject({
      course: 'intro-python',
      published: true,
      privacy: { instructors_read_conversations: false, notice: 'They cannot read them.' },
      here: { notebook_path: 'w1.ipynb', cell_index: 3, exercise: 'Exercise 2', policy: 'no-help' }
    });
  });

  it('turns missing or mistyped fields into null', () => {
    const info = parseCourseInfo({
      privacy: { notice: '   ', instructors_read_conversations: 'yes' },
      here: 5
    });
    expect(info?.privacy).toEqual({ instructors_read_conversations: null, notice: null });
    expect(info?.here).toEqual({
      notebook_path: null,
      cell_index: null,
      exercise: null,
      policy: null
    });
    expect(info?.published).toBe(false);
  });

  it.each([null, 'x', [], 3])('returns null for %j', value => {
    expect(parseCourseInfo(value)).toBeNull();
  });
});
