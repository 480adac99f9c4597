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
  /** The 0-based cell index in that notebook. */
  cell: number;
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
  | 'network';

/** `error`: the answer failed; `message` is written for the student. */
export interface IErrorEvent {
  type: 'error';
  code: TutorErrorCode | string;
  message: string;
  /** Seconds to wait before asking again (rate limits). */
  retry_after?: number;
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
  role: string;
  /** A string or a list of Anthropic content blocks. */
  content: unknown;
  status?: string | null;
  model?: string | null;
  created_at?: string | null;
}

/** `GET conversations/{id}`. */
export interface IConversationDetail extends IConversationSummary {
  messages: IStoredMessage[];
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
