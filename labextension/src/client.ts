/**
 * The panel's HTTP client for the chat API of the student's own Jupyter server.
 *
 * Every request goes through `ServerConnection.makeRequest`, which adds the token or
 * the XSRF header and resolves against the server's base URL, so the same code works
 * in plain `jupyter lab` and under JupyterHub's `/user/NAME/` prefix.
 */

import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import {
  IChatRequest,
  IConversationDetail,
  IConversationSummary,
  ICourseInfo,
  ICourseQuery,
  IFeedbackRequest,
  IFeedbackResult,
  IUnknownEvent,
  TutorEvent,
  parseCourseInfo,
  parseFeedbackResult,
  parseTutorEvent
} from './protocol';
import { readEventStream } from './sse';

/** The chat API's prefix under the server's base URL. */
export const API_PATH = 'tutor/api';

/**
 * A request the server refused or that never reached it.  `code` is one of the chat
 * API's error codes (or `network`), so the state module can show it like an `error`
 * event.
 */
export class TutorRequestError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly status?: number,
    readonly retryAfter?: number
  ) {
    super(message);
    this.name = 'TutorRequestError';
  }
}

/** The error code for an HTTP status without a usable error body. */
function codeForStatus(status: number): string {
  if (status === 401 || status === 403) {
    return 'unauthorized';
  }
  if (status === 400 || status === 422) {
    return 'bad_request';
  }
  if (status === 402) {
    return 'budget_exceeded';
  }
  if (status === 429) {
    return 'rate_limited';
  }
  if (status === 404 || status === 502 || status === 503 || status === 504) {
    return 'unavailable';
  }
  return 'internal';
}

/** Whether an error is the abort of a request (Stop, or the panel closing). */
export function isAbortError(err: unknown): boolean {
  return (
    !!err &&
    typeof err === 'object' &&
    ((err as { name?: string }).name === 'AbortError' ||
      (err as { name?: string }).name === 'TimeoutError')
  );
}

export class TutorClient {
  /**
   * @param serverSettings - the app's server settings (`app.serviceManager.serverSettings`).
   */
  constructor(serverSettings?: ServerConnection.ISettings) {
    this.serverSettings = serverSettings ?? ServerConnection.makeSettings();
  }

  /** The connection settings every request uses. */
  readonly serverSettings: ServerConnection.ISettings;

  /** The URL of a chat API route. */
  url(...parts: string[]): string {
    return URLExt.join(this.serverSettings.baseUrl, API_PATH, ...parts);
  }

  /** The caller's conversations, newest first as the server orders them. */
  async listConversations(): Promise<IConversationSummary[]> {
    const body = await this._json(this.url('conversations'), { method: 'GET' });
    if (Array.isArray(body)) {
      return body as IConversationSummary[];
    }
    const list = (body as { conversations?: unknown })?.conversations;
    return Array.isArray(list) ? (list as IConversationSummary[]) : [];
  }

  /** One stored conversation with its messages. */
  async getConversation(id: string): Promise<IConversationDetail> {
    const body = (await this._json(this.url('conversations', encodeURIComponent(id)), {
      method: 'GET'
    })) as IConversationDetail;
    return { ...body, id: body?.id ?? id, messages: body?.messages ?? [] };
  }

  /**
   * Ask the server to stop the answer streaming for a conversation.
   *
   * @returns `false` when nothing was running there (404).
   */
  async stop(conversationId: string): Promise<boolean> {
    const response = await this._fetch(this.url('stop'), {
      method: 'POST',
      body: JSON.stringify({ conversation_id: conversationId })
    });
    if (response.status === 404) {
      return false;
    }
    if (!response.ok) {
      throw await this._error(response);
    }
    return true;
  }

  /**
   * Vote on an answer (`POST feedback`).  Rejects with a `TutorRequestError` carrying the
   * server's message when it refuses (400: a bad field; 404: no such answer).
   */
  async sendFeedback(request: IFeedbackRequest): Promise<IFeedbackResult> {
    const body = await this._json(this.url('feedback'), {
      method: 'POST',
      body: JSON.stringify(request)
    });
    const result = parseFeedbackResult(body);
    if (!result) {
      throw new TutorRequestError('internal', 'The tutor gave an unexpected answer to the vote.');
    }
    return result;
  }

  /** The course's settings for the panel (`GET course`), optionally where the student is. */
  async getCourse(where: ICourseQuery = {}): Promise<ICourseInfo | null> {
    const query: Record<string, string> = {};
    if (where.notebook_path) {
      query.notebook_path = where.notebook_path;
    }
    if (typeof where.cell_index === 'number') {
      query.cell_index = String(where.cell_index);
    }
    if (where.cell_id) {
      query.cell_id = where.cell_id;
    }
    const url = this.url('course') + URLExt.objectToQueryString(query);
    return parseCourseInfo(await this._json(url, { method: 'GET' }));
  }

  /**
   * Send a question and call `onEvent` for every event of the answer as it arrives.
   * Resolves when the stream ends; rejects with a `TutorRequestError` when the server
   * refuses the request or the connection fails, and with an `AbortError` when
   * `signal` aborts.
   */
  async chat(
    request: IChatRequest,
    onEvent: (event: TutorEvent | IUnknownEvent) => void,
    signal?: AbortSignal
  ): Promise<void> {
    const response = await this._fetch(this.url('chat'), {
      method: 'POST',
      body: JSON.stringify(request),
      headers: { Accept: 'text/event-stream' },
      signal
    });
    if (!response.ok) {
      throw await this._error(response);
    }
    if (!response.body) {
      throw new TutorRequestError('internal', 'The answer arrived without a body.');
    }
    try {
      await readEventStream(
        response.body,
        sse => {
          const event = parseTutorEvent(sse.data);
          if (event) {
            onEvent(event);
          }
        },
        signal
      );
    } catch (err) {
      if (isAbortError(err)) {
        throw err;
      }
      throw new TutorRequestError('network', '');
    }
  }

  private async _fetch(url: string, init: RequestInit): Promise<Response> {
    const headers = new Headers(init.headers ?? {});
    if (init.body !== undefined && !headers.has('Content-Type')) {
      headers.set('Content-Type', 'application/json');
    }
    try {
      return await ServerConnection.makeRequest(url, { ...init, headers }, this.serverSettings);
    } catch (err) {
      if (isAbortError(err) || isAbortError((err as { cause?: unknown })?.cause)) {
        throw err;
      }
      if (init.signal?.aborted) {
        throw init.signal.reason ?? new DOMException('Aborted', 'AbortError');
      }
      throw new TutorRequestError('network', '');
    }
  }

  private async _json(url: string, init: RequestInit): Promise<unknown> {
    const response = await this._fetch(url, init);
    if (!response.ok) {
      throw await this._error(response);
    }
    return response.json();
  }

  /** A `TutorRequestError` from an error response (`{"error": {type, message}}`). */
  private async _error(response: Response): Promise<TutorRequestError> {
    let code = codeForStatus(response.status);
    let message = '';
    let retryAfter: number | undefined;
    const header = response.headers.get('Retry-After');
    if (header && /^\d+$/.test(header.trim())) {
      retryAfter = Number(header.trim());
    }
    try {
      const body = (await response.json()) as {
        error?: { type?: unknown; code?: unknown; message?: unknown; retry_after?: unknown };
        message?: unknown;
      };
      const error = body?.error;
      const type = error?.type ?? error?.code;
      if (typeof type === 'string' && type) {
        code = type;
      }
      if (typeof error?.message === 'string') {
        message = error.message;
      } else if (response.status >= 500 || response.status === 404) {
        message = ''; // a server page, not a message for the student
      }
      if (typeof error?.retry_after === 'number') {
        retryAfter = error.retry_after;
      }
    } catch {
      // Not JSON (a proxy's error page): the status alone decides.
    }
    if (response.status === 404 && code === 'unavailable' && !message) {
      message = 'The tutor is not installed on this Jupyter server.';
    }
    return new TutorRequestError(code, message, response.status, retryAfter);
  }
}
