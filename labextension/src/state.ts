/**
 * The panel's conversation state: a pure reducer from chat-API events to a message model.
 *
 * Nothing here touches the DOM or JupyterLab, so the whole answer life cycle (streaming
 * text, tool steps, citations, usage, the one final `done` or `error`) is unit-tested.
 * States are never mutated: every action returns new objects for what changed, so the
 * view can tell a changed message from an unchanged one by identity.
 */

import {
  FeedbackVote,
  ICitationEvent,
  IChatRequest,
  IConversationDetail,
  IFeedbackRequest,
  IStoredMessage,
  IUnknownEvent,
  TutorEvent
} from './protocol';

/** A run of answer Markdown between tool steps. */
export interface ITextPart {
  kind: 'text';
  text: string;
}

/** What a tool step is doing. `interrupted`: the answer ended before its result. */
export type ToolStatus = 'running' | 'done' | 'error' | 'interrupted';

/** One tool the tutor used while answering. */
export interface IToolStep {
  kind: 'tool';
  /** The tool call id that pairs the call with its result. */
  id: string;
  /** The tool's name (`search_course`, `run_code`…). */
  name: string;
  /** The tool's input as the model gave it. */
  input: unknown;
  status: ToolStatus;
  /** The result shown to the student (already trimmed by the server). */
  output?: unknown;
}

/** The parts of an answer, in the order they streamed. */
export type AnswerPart = ITextPart | IToolStep;

/** A course passage the answer is grounded in. */
export type ICitation = Omit<ICitationEvent, 'type'>;

/** Tokens used by one answer. */
export interface IUsage {
  inputTokens: number;
  outputTokens: number;
}

/** Where an answer is in its life. */
export type AnswerStatus = 'streaming' | 'done' | 'stopped' | 'error';

/** Why an answer failed, ready to show. */
export interface IAnswerError {
  /** The API's error code, or `network` when the stream broke. */
  code: string;
  /** A short heading for the error box. */
  title: string;
  /** The explanation written for the student. */
  message: string;
  /** Seconds to wait before asking again, if the server said so. */
  retryAfter?: number;
  /** Whether asking again can help (not for a spent budget). */
  retryable: boolean;
  /** The student's courses, when the question's course must be picked among them. */
  courses?: string[];
}

/** A vote on an answer and where it is: being sent, recorded, or refused. */
export interface IFeedbackState {
  vote: FeedbackVote;
  status: 'sending' | 'sent' | 'failed';
  /** Why it failed, written for the student. */
  error?: string;
}

/** A question the student sent. */
export interface IUserMessage {
  role: 'user';
  id: string;
  text: string;
  /** The request as sent, kept so that Retry can send it again. */
  request?: IChatRequest;
}

/** One answer of the tutor. */
export interface IAssistantMessage {
  role: 'assistant';
  id: string;
  parts: readonly AnswerPart[];
  citations: readonly ICitation[];
  usage?: IUsage;
  status: AnswerStatus;
  /** The `done` event's stop reason. */
  stopReason?: string;
  error?: IAnswerError;
  /** The id of the user message this answers (for Retry). */
  questionId?: string;
  /**
   * The gateway's id of the answer (its last stored message), when known: answers of
   * a stored conversation, and a streamed answer once a vote on it was recorded.
   */
  messageId?: number;
  /** The student's vote on this answer, if any. */
  feedback?: IFeedbackState;
}

export type ChatMessage = IUserMessage | IAssistantMessage;

/** The state of the conversation shown in the panel. */
export interface IChatState {
  /** Set by the first `conversation` event, or when a stored conversation is opened. */
  conversationId: string | null;
  /** The stored title, when the conversation was opened from the list. */
  title: string | null;
  messages: readonly ChatMessage[];
  /** The id of the answer being streamed, or `null` when idle. */
  streamingId: string | null;
}

/** Everything that changes the state. */
export type ChatAction =
  /** The student asked: add the question and an empty streaming answer. */
  | {
      type: 'ask';
      userId: string;
      assistantId: string;
      request: IChatRequest;
    }
  /** One event of the answer stream. */
  | { type: 'event'; event: TutorEvent | IUnknownEvent }
  /**
   * The stream ended.  If no `done`/`error` arrived, the answer is marked as failed
   * (`network`), or as stopped when the student aborted it.
   */
  | { type: 'closed'; stopped?: boolean }
  /** The request failed before or while streaming (HTTP error, network). */
  | { type: 'failed'; code: string; message?: string; retryAfter?: number }
  /** Show a stored conversation. */
  | { type: 'load'; conversation: IConversationDetail }
  /** Start a new conversation. */
  | { type: 'new' }
  /** A vote on an answer was sent. */
  | { type: 'feedback'; answerId: string; vote: FeedbackVote }
  /** The vote was recorded, on the stored answer `messageId`. */
  | { type: 'feedbackSent'; answerId: string; vote: FeedbackVote; messageId?: number }
  /** The vote was refused or did not arrive; `message` says why. */
  | { type: 'feedbackFailed'; answerId: string; vote: FeedbackVote; message: string };

/** The empty state of a new conversation. */
export const INITIAL_STATE: IChatState = Object.freeze({
  conversationId: null,
  title: null,
  messages: Object.freeze([]) as readonly ChatMessage[],
  streamingId: null
});

const ERROR_TEXT: Record<string, { title: string; message: string; retryable: boolean }> = {
  budget_exceeded: {
    title: 'Budget reached',
    message: 'You have used your tutor budget for now.',
    retryable: false
  },
  rate_limited: {
    title: 'Too many questions at once',
    message: 'Please wait a moment before asking again.',
    retryable: true
  },
  unavailable: {
    title: 'Tutor unavailable',
    message: 'The tutor cannot be reached right now. Try again in a moment.',
    retryable: true
  },
  bad_request: {
    title: 'The question could not be sent',
    message: 'The tutor did not understand the request.',
    retryable: false
  },
  unauthorized: {
    title: 'Not signed in',
    message: 'Your session has expired. Reload the page and sign in again.',
    retryable: false
  },
  upstream: {
    title: 'The AI service had a problem',
    message: 'The model service failed to answer. Try again in a moment.',
    retryable: true
  },
  internal: {
    title: 'Something went wrong',
    message: 'The tutor hit an internal error. Try again.',
    retryable: true
  },
  course_choice_required: {
    title: 'Which course is this notebook for?',
    message: 'You are in several courses: pick the one this question is about.',
    retryable: false
  },
  course_forbidden: {
    title: 'Not one of your courses',
    message: 'The tutor cannot answer about a course you are not enrolled in.',
    retryable: false
  },
  network: {
    title: 'Connection lost',
    message: 'The connection to the tutor was lost before the answer finished.',
    retryable: true
  }
};

/**
 * Turn an error code (and the server's message, if any) into what the panel shows.
 */
export function describeError(
  code: string,
  message?: string | null,
  retryAfter?: number | null,
  courses?: unknown
): IAnswerError {
  const known = ERROR_TEXT[code] ?? {
    title: 'The tutor could not answer',
    message: 'Something went wrong. Try again.',
    retryable: true
  };
  const error: IAnswerError = {
    code,
    title: known.title,
    message: (message ?? '').trim() || known.message,
    retryable: known.retryable
  };
  if (typeof retryAfter === 'number' && isFinite(retryAfter) && retryAfter > 0) {
    error.retryAfter = retryAfter;
  }
  if (code === 'course_choice_required' && Array.isArray(courses)) {
    const names = courses.filter((c): c is string => typeof c === 'string' && c !== '');
    if (names.length) {
      error.courses = names;
    }
  }
  return error;
}

/** The whole Markdown of an answer (its text parts, joined). */
export function answerText(message: IAssistantMessage): string {
  return message.parts
    .filter((p): p is ITextPart => p.kind === 'text')
    .map(p => p.text)
    .join('');
}

/** Whether a citation refers to the same passage as another. */
function sameCitation(a: ICitation, b: ICitation): boolean {
  return a.course === b.course && a.path === b.path && a.cell === b.cell;
}

/** A citation's cell: a 0-based index, or `null` (no cell, or anything else on the wire). */
function cellIndexOrNull(value: unknown): number | null {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 ? value : null;
}

/** A citation as read from the wire (a stream event or a stored answer's `citations`). */
function citationFrom(e: Record<string, unknown>): ICitation {
  return {
    course: String(e.course ?? ''),
    path: String(e.path ?? ''),
    cell: cellIndexOrNull(e.cell),
    heading: String(e.heading ?? ''),
    text: String(e.text ?? '')
  };
}

/**
 * `citations` with those of `items` it does not hold yet (items that are not objects
 * are skipped); the same array when nothing is new.
 */
function withCitations(citations: readonly ICitation[], items: unknown): readonly ICitation[] {
  let out = citations;
  for (const item of Array.isArray(items) ? items : []) {
    if (item === null || typeof item !== 'object') {
      continue;
    }
    const citation = citationFrom(item as Record<string, unknown>);
    if (!out.some(c => sameCitation(c, citation))) {
      out = [...out, citation];
    }
  }
  return out;
}

/** Tool steps still running when an answer ends never get a result. */
function interruptRunning(parts: readonly AnswerPart[]): readonly AnswerPart[] {
  if (!parts.some(p => p.kind === 'tool' && p.status === 'running')) {
    return parts;
  }
  return parts.map(p =>
    p.kind === 'tool' && p.status === 'running' ? { ...p, status: 'interrupted' } : p
  );
}

/**
 * Apply one stream event to an answer.  Returns the same object when nothing changed
 * (unknown types, events after the end, `conversation`, which belongs to the chat).
 */
export function applyEvent(
  message: IAssistantMessage,
  event: TutorEvent | IUnknownEvent
): IAssistantMessage {
  if (message.status !== 'streaming') {
    return message; // a stream ends with exactly one done or error
  }
  const e = event as TutorEvent;
  switch (e.type) {
    case 'text': {
      if (typeof e.delta !== 'string' || e.delta === '') {
        return message;
      }
      const parts = message.parts.slice();
      const last = parts[parts.length - 1];
      if (last && last.kind === 'text') {
        parts[parts.length - 1] = { kind: 'text', text: last.text + e.delta };
      } else {
        parts.push({ kind: 'text', text: e.delta });
      }
      return { ...message, parts };
    }
    case 'tool_call': {
      const id = String(e.id ?? '');
      const index = message.parts.findIndex(p => p.kind === 'tool' && p.id === id);
      const parts = message.parts.slice();
      if (index >= 0) {
        const step = parts[index] as IToolStep;
        parts[index] = { ...step, name: e.name ?? step.name, input: e.input };
      } else {
        parts.push({
          kind: 'tool',
          id,
          name: String(e.name ?? 'tool'),
          input: e.input,
          status: 'running'
        });
      }
      return { ...message, parts };
    }
    case 'tool_result': {
      const id = String(e.id ?? '');
      const status: ToolStatus = e.is_error ? 'error' : 'done';
      const index = message.parts.findIndex(p => p.kind === 'tool' && p.id === id);
      const parts = message.parts.slice();
      if (index >= 0) {
        parts[index] = { ...(parts[index] as IToolStep), status, output: e.output };
      } else {
        parts.push({
          kind: 'tool',
          id,
          name: String(e.name ?? 'tool'),
          input: undefined,
          status,
          output: e.output
        });
      }
      return { ...message, parts };
    }
    case 'citation': {
      const citations = withCitations(message.citations, [e]);
      return citations === message.citations ? message : { ...message, citations };
    }
    case 'usage':
      return {
        ...message,
        usage: {
          inputTokens: Number(e.input_tokens) || 0,
          outputTokens: Number(e.output_tokens) || 0
        }
      };
    case 'done': {
      const stopReason = String(e.stop_reason ?? 'end_turn');
      return {
        ...message,
        parts: interruptRunning(message.parts),
        status: stopReason === 'stopped' ? 'stopped' : 'done',
        stopReason
      };
    }
    case 'error':
      return {
        ...message,
        parts: interruptRunning(message.parts),
        status: 'error',
        error: describeError(String(e.code ?? 'internal'), e.message, e.retry_after, e.courses)
      };
    default:
      return message;
  }
}

/**
 * Where a vote on the answer `answerId` goes (`POST feedback` without its `vote`), or
 * `null` when the answer cannot be voted on (yet): it must have ended normally, in a
 * conversation the gateway knows, and not be voted on already.  Without the stored
 * id of the answer, only the conversation's latest answer can be voted on, while
 * nothing streams (the gateway then takes the latest stored answer).
 */
export function feedbackTarget(
  state: IChatState,
  answerId: string
): Omit<IFeedbackRequest, 'vote'> | null {
  const message = state.messages.find(m => m.id === answerId);
  if (
    !message ||
    message.role !== 'assistant' ||
    message.status !== 'done' ||
    !state.conversationId ||
    message.feedback?.status === 'sending' ||
    message.feedback?.status === 'sent'
  ) {
    return null;
  }
  if (typeof message.messageId === 'number') {
    return { conversation_id: state.conversationId, message_id: message.messageId };
  }
  const answers = state.messages.filter(m => m.role === 'assistant');
  if (state.streamingId !== null || answers[answers.length - 1] !== message) {
    return null;
  }
  return { conversation_id: state.conversationId };
}

/** Replace the answer `id` through `update`; the same state when it is not an answer. */
function updateAnswer(
  state: IChatState,
  id: string,
  update: (message: IAssistantMessage) => IAssistantMessage
): IChatState {
  const index = state.messages.findIndex(m => m.id === id);
  const current = state.messages[index];
  if (!current || current.role !== 'assistant') {
    return state;
  }
  const messages = state.messages.slice();
  messages[index] = update(current);
  return { ...state, messages };
}

/** Replace the streaming answer through `update`; no-op when nothing streams. */
function updateStreaming(
  state: IChatState,
  update: (message: IAssistantMessage) => IAssistantMessage
): IChatState {
  if (state.streamingId === null) {
    return state;
  }
  const index = state.messages.findIndex(m => m.id === state.streamingId);
  if (index < 0) {
    return { ...state, streamingId: null };
  }
  const current = state.messages[index] as IAssistantMessage;
  const next = update(current);
  const streamingId = next.status === 'streaming' ? state.streamingId : null;
  if (next === current && streamingId === state.streamingId) {
    return state;
  }
  const messages = state.messages.slice();
  messages[index] = next;
  return { ...state, messages, streamingId };
}

/**
 * The reducer.  Pure: same state and action, same result.
 */
export function reduce(state: IChatState, action: ChatAction): IChatState {
  switch (action.type) {
    case 'new':
      return INITIAL_STATE;
    case 'load':
      return {
        conversationId: action.conversation.id,
        title: action.conversation.title ?? null,
        messages: messagesFromHistory(action.conversation.messages ?? []),
        streamingId: null
      };
    case 'ask': {
      // A question while another streams is refused by the view; if it happens anyway,
      // the old answer ends as stopped rather than streaming forever.
      const settled = updateStreaming(state, m => ({
        ...m,
        parts: interruptRunning(m.parts),
        status: 'stopped',
        stopReason: 'stopped'
      }));
      const user: IUserMessage = {
        role: 'user',
        id: action.userId,
        text: action.request.message,
        request: action.request
      };
      const assistant: IAssistantMessage = {
        role: 'assistant',
        id: action.assistantId,
        parts: [],
        citations: [],
        status: 'streaming',
        questionId: action.userId
      };
      return {
        ...settled,
        messages: [...settled.messages, user, assistant],
        streamingId: assistant.id
      };
    }
    case 'event': {
      const event = action.event;
      if (event.type === 'conversation') {
        const id = (event as { conversation_id?: unknown }).conversation_id;
        if (typeof id === 'string' && id && id !== state.conversationId) {
          return { ...state, conversationId: id };
        }
        return state;
      }
      return updateStreaming(state, m => applyEvent(m, event));
    }
    case 'closed':
      return updateStreaming(state, m =>
        m.status !== 'streaming'
          ? m
          : action.stopped
            ? {
                ...m,
                parts: interruptRunning(m.parts),
                status: 'stopped',
                stopReason: 'stopped'
              }
            : applyEvent(m, { type: 'error', code: 'network', message: '' })
      );
    case 'failed':
      return updateStreaming(state, m =>
        applyEvent(m, {
          type: 'error',
          code: action.code,
          message: action.message ?? '',
          retry_after: action.retryAfter
        })
      );
    case 'feedback':
      if (!feedbackTarget(state, action.answerId)) {
        return state;
      }
      return updateAnswer(state, action.answerId, m => ({
        ...m,
        feedback: { vote: action.vote, status: 'sending' }
      }));
    case 'feedbackSent':
      return updateAnswer(state, action.answerId, m => ({
        ...m,
        messageId: action.messageId ?? m.messageId,
        feedback: { vote: action.vote, status: 'sent' }
      }));
    case 'feedbackFailed':
      return updateAnswer(state, action.answerId, m => ({
        ...m,
        feedback: { vote: action.vote, status: 'failed', error: action.message }
      }));
    default:
      return state;
  }
}

/** The text of a stored message's content (a string or content blocks). */
function blocksOf(content: unknown): Array<Record<string, unknown>> {
  if (typeof content === 'string') {
    return [{ type: 'text', text: content }];
  }
  if (Array.isArray(content)) {
    return content.filter((b): b is Record<string, unknown> => b !== null && typeof b === 'object');
  }
  if (content && typeof content === 'object') {
    return [content as Record<string, unknown>];
  }
  return [];
}

/** The printable form of a tool result's content. */
function toolResultOutput(content: unknown): unknown {
  if (Array.isArray(content)) {
    return content
      .map(b =>
        b && typeof b === 'object' && typeof (b as { text?: unknown }).text === 'string'
          ? (b as { text: string }).text
          : JSON.stringify(b)
      )
      .join('\n');
  }
  return content;
}

/**
 * Rebuild the message model from a stored conversation.  Stored messages follow the
 * Messages API: an answer with tool rounds is several assistant messages with the
 * tool results in user messages between them; they become one answer again here.
 */
export function messagesFromHistory(stored: readonly IStoredMessage[]): ChatMessage[] {
  const out: ChatMessage[] = [];
  let answer: IAssistantMessage | null = null;
  const flush = () => {
    if (answer) {
      out.push(answer);
      answer = null;
    }
  };
  stored.forEach((m, i) => {
    const blocks = blocksOf(m.content);
    if (m.role === 'assistant') {
      const current: IAssistantMessage = answer ?? {
        role: 'assistant',
        id: `history-${i}`,
        parts: [],
        citations: [],
        status: 'done'
      };
      const parts = current.parts.slice();
      for (const b of blocks) {
        if (b.type === 'text' && typeof b.text === 'string' && b.text) {
          const last = parts[parts.length - 1];
          if (last && last.kind === 'text') {
            parts[parts.length - 1] = { kind: 'text', text: last.text + b.text };
          } else {
            parts.push({ kind: 'text', text: b.text });
          }
        } else if (b.type === 'tool_use') {
          parts.push({
            kind: 'tool',
            id: String(b.id ?? ''),
            name: String(b.name ?? 'tool'),
            input: b.input,
            status: 'done'
          });
        }
      }
      // The gateway stores `complete`, `interrupted` (stopped, or the stream broke) or
      // `error`.  A stored answer cannot be retried from here: no Retry button.
      let status: AnswerStatus = 'done';
      let stopReason: string | undefined;
      let error: IAnswerError | undefined;
      if (m.status === 'stopped' || m.status === 'interrupted') {
        status = 'stopped';
        stopReason = m.status;
      } else if (m.status === 'error' || m.status === 'failed') {
        status = 'error';
        error = {
          code: 'internal',
          title: 'No answer',
          message: 'The tutor could not finish this answer.',
          retryable: false
        };
      }
      // The passages the gateway stored with the answer: its source cards, as streamed.
      const citations = withCitations(current.citations, m.citations);
      answer = { ...current, parts, citations, status, error, stopReason };
      if (typeof m.id === 'number' && Number.isInteger(m.id)) {
        answer.messageId = m.id; // the last stored message of the answer
      }
      return;
    }
    // A user message holding only tool results continues the answer before it.
    const results = blocks.filter(b => b.type === 'tool_result');
    const texts = blocks.filter(b => b.type === 'text' && typeof b.text === 'string');
    if (results.length && !texts.length && answer) {
      const parts = (answer as IAssistantMessage).parts.map(p => {
        if (p.kind !== 'tool') {
          return p;
        }
        const r = results.find(b => b.tool_use_id === p.id);
        return r
          ? {
              ...p,
              status: (r.is_error ? 'error' : 'done') as ToolStatus,
              output: toolResultOutput(r.content)
            }
          : p;
      });
      answer = { ...(answer as IAssistantMessage), parts };
      return;
    }
    flush();
    const text = texts.map(b => b.text as string).join('\n');
    if (text) {
      out.push({ role: 'user', id: `history-${i}`, text });
    }
  });
  flush();
  return out;
}
