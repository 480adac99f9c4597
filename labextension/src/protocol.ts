/**
 * The chat API's wire format (docs/chat-api.md), as the panel reads it.
 *
 * Every event of the answer stream is one `data:` line holding a JSON object with a
 * `type`.  Clients ignore types they do not know, so `parseTutorEvent` keeps any object
 * with a string `type` and the state module skips the ones it does not handle.
 */

/** `conversation`: always first; the id to send with follow-up questions. */
export interface IConversationEvent {
  type: 'conversation';
  conversation_id: string;
}

/** `text`: a piece of the answer's Markdown, to append. */
export interface ITextEvent {
  type: 'text';
  delta: string;
}

/** `tool_call`: the tutor started a tool (search, read, run…). */
export interface IToolCallEvent {
  type: 'tool_call';
  id: string;
  name: string;
  input: unknown;
}

/** `tool_result`: what the tool gave back (trimmed for display). */
export interface IToolResultEvent {
  type: 'tool_result';
  id: string;
  name: string;
  is_error: boolean;
  output: unknown;
}

/** `citation`: a course passage the answer is grounded in. */
export interface ICitationEvent {
  type: 'citation';
  /** The course the passage belongs to. */
  course: string;
  /** The notebook, relative to the course folder. */
  path: string;
  /**
   * The 0-based cell index in that notebook; `null` where the passage is not a notebook
   * cell (a Markdown or Python file of the course).
   */
  cell: number | null;
  /** The heading the passage sits under. */
  heading: string;
  /** The passage itself (may be trimmed). */
  text: string;
}

/** `usage`: tokens of this answer, summed over tool rounds. */
export interface IUsageEvent {
  type: 'usage';
  input_tokens: number;
  output_tokens: number;
}

/** `done`: the answer ended. */
export interface IDoneEvent {
  type: 'done';
  /** `end_turn`, `stopped`, `max_tokens` or `max_tool_rounds`. */
  stop_reason: string;
}

/** The error codes of the chat API, plus the panel's own `network`. */
export type TutorErrorCode =
  | 'budget_exceeded'
  | 'rate_limited'
  | 'unavailable'
  | 'bad_request'
  | 'unauthorized'
  | 'upstream'
  | 'internal'
  | 'course_choice_required'
  | 'course_forbidden'
  | 'network';

/** `error`: the answer failed; `message` is written for the student. */
export interface IErrorEvent {
  type: 'error';
  code: TutorErrorCode | string;
  message: string;
  /** Seconds to wait before asking again (rate limits). */
  retry_after?: number;
  /** With `course_choice_required`: the student's courses, to pick the question's from. */
  courses?: string[];
}

/** Any event type this version of the panel does not know. */
export interface IUnknownEvent {
  type: string;
  [key: string]: unknown;
}

/** The events the panel understands. */
export type TutorEvent =
  | IConversationEvent
  | ITextEvent
  | IToolCallEvent
  | IToolResultEvent
  | ICitationEvent
  | IUsageEvent
  | IDoneEvent
  | IErrorEvent;

/** What the student is looking at when asking (all optional). */
export interface IQuestionContext {
  /** The active notebook, relative to the server root. */
  notebook_path?: string;
  /** 0-based index of the active cell in that notebook. */
  cell_index?: number;
  /** The nbformat id of that cell, if known. */
  cell_id?: string;
  /** The code in question. */
  code?: string;
  /** The error the student asks about. */
  error?: ICellError;
  /** `question`, `explain` (an error) or `hint`. */
  kind?: 'question' | 'explain' | 'hint';
  /**
   * The course the student picked for this notebook (the gateway accepts it only for a
   * course they are in; the server remembers it for the notebook).
   */
  course?: string;
}

/** An error output of a cell, as nbformat stores it. */
export interface ICellError {
  ename: string;
  evalue: string;
  traceback: string[];
}

/** The body of `POST chat`. */
export interface IChatRequest {
  message: string;
  conversation_id?: string;
  context?: IQuestionContext;
}

/** One row of `GET conversations`. */
export interface IConversationSummary {
  id: string;
  title?: string | null;
  notebook_path?: string | null;
  created_at?: string | null;
  updated_at?: string | null;
}

/** One stored message of `GET conversations/{id}`. */
export interface IStoredMessage {
  /** The gateway's id of the message (what `POST feedback` takes as `message_id`). */
  id?: number | null;
  role: string;
  /** A string or a list of Anthropic content blocks. */
  content: unknown;
  status?: string | null;
  model?: string | null;
  created_at?: string | null;
  /**
   * An answer's course passages (its source cards), as the `citation` events gave them:
   * `{course, path, cell (0-based or null), heading, text}`.
   */
  citations?: unknown;
}

/** `GET conversations/{id}`. */
export interface IConversationDetail extends IConversationSummary {
  messages: IStoredMessage[];
}

/** A vote on an answer: 👍, 👎, or "still stuck" (the next hint goes one step further). */
export type FeedbackVote = 'up' | 'down' | 'stuck';

/** The votes, in the order the panel shows them. */
export const FEEDBACK_VOTES: readonly FeedbackVote[] = ['up', 'down', 'stuck'];

/** The body of `POST feedback`. */
export interface IFeedbackRequest {
  conversation_id: string;
  vote: FeedbackVote;
  /** The stored answer; without it the conversation's latest answer. */
  message_id?: number;
  comment?: string;
}

/** What `POST feedback` answers (201). */
export interface IFeedbackResult {
  id: number;
  conversation_id: string;
  /** The answer the vote was recorded on. */
  message_id: number;
  vote: FeedbackVote;
  /** The hint level of the exercise after a "stuck" vote, if the answer was about one. */
  hint_level: number | null;
}

/** Where the student is, for `GET course` (all optional). */
export interface ICourseQuery {
  notebook_path?: string;
  cell_index?: number;
  cell_id?: string;
}

/** What `GET course` tells the panel about the course. */
export interface ICourseInfo {
  course: string | null;
  title: string | null;
  published: boolean;
  language: string | null;
  model: string | null;
  policy: string | null;
  privacy: {
    instructors_read_conversations: boolean | null;
    /** The sentence to show the student about who reads their conversations. */
    notice: string | null;
  };
  here: {
    notebook_path: string | null;
    cell_index: number | null;
    exercise: string | null;
    policy: string | null;
  };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function stringOrNull(value: unknown): string | null {
  return typeof value === 'string' && value.trim() ? value : null;
}

function integerOrNull(value: unknown): number | null {
  return typeof value === 'number' && Number.isInteger(value) ? value : null;
}

/** Read `POST feedback`'s answer; `null` when it is not one. */
export function parseFeedbackResult(value: unknown): IFeedbackResult | null {
  if (!isObject(value)) {
    return null;
  }
  const vote = value.vote;
  const messageId = integerOrNull(value.message_id);
  if (
    typeof vote !== 'string' ||
    !(FEEDBACK_VOTES as readonly string[]).includes(vote) ||
    messageId === null ||
    typeof value.conversation_id !== 'string'
  ) {
    return null;
  }
  return {
    id: integerOrNull(value.id) ?? 0,
    conversation_id: value.conversation_id,
    message_id: messageId,
    vote: vote as FeedbackVote,
    hint_level: integerOrNull(value.hint_level)
  };
}

/**
 * Read `GET course`'s answer; `null` when it is not an object.  Missing or mistyped
 * fields become `null` (a newer or older gateway must not break the panel).
 */
export function parseCourseInfo(value: unknown): ICourseInfo | null {
  if (!isObject(value)) {
    return null;
  }
  const privacy = isObject(value.privacy) ? value.privacy : {};
  const here = isObject(value.here) ? value.here : {};
  const reads = privacy.instructors_read_conversations;
  return {
    course: stringOrNull(value.course),
    title: stringOrNull(value.title),
    published: value.published === true,
    language: stringOrNull(value.language),
    model: stringOrNull(value.model),
    policy: stringOrNull(value.policy),
    privacy: {
      instructors_read_conversations: typeof reads === 'boolean' ? reads : null,
      notice: stringOrNull(privacy.notice)?.trim() ?? null
    },
    here: {
      notebook_path: stringOrNull(here.notebook_path),
      cell_index: integerOrNull(here.cell_index),
      exercise: stringOrNull(here.exercise),
      policy: stringOrNull(here.policy)
    }
  };
}

/**
 * Read one `data:` payload.  Returns `null` for anything that is not a JSON object
 * with a string `type` (a broken line must not break the panel).
 */
export function parseTutorEvent(data: string): TutorEvent | IUnknownEvent | null {
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return null;
  }
  if (
    value === null ||
    typeof value !== 'object' ||
    Array.isArray(value) ||
    typeof (value as { type?: unknown }).type !== 'string'
  ) {
    return null;
  }
  return value as TutorEvent | IUnknownEvent;
}
