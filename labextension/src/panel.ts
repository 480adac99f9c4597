/**
 * The tutor side panel: a conversation list, the chat view and the question box.
 *
 * The panel holds one `IChatState` and changes it only through the pure reducer of
 * `state.ts`; after each change it patches the DOM of the messages that changed
 * (messages are replaced, never mutated, so identity tells what changed).  Model text
 * reaches the page only through `MarkdownView` (rendermime, sanitized) or
 * `textContent`.
 */

import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { ITranslator, TranslationBundle, nullTranslator } from '@jupyterlab/translation';
import { addIcon, listIcon, refreshIcon } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { TutorClient, TutorRequestError, isAbortError } from './client';
import { formatValue, summarizeTool } from './format';
import { ICodeActions, MarkdownView, makeButton } from './markdown';
import {
  FEEDBACK_VOTES,
  FeedbackVote,
  IChatRequest,
  IConversationSummary,
  IQuestionContext
} from './protocol';
import {
  ChatAction,
  ChatMessage,
  IAssistantMessage,
  IChatState,
  ICitation,
  INITIAL_STATE,
  IToolStep,
  IUserMessage,
  feedbackTarget,
  reduce
} from './state';

/** How long to wait for the server to end a stopped stream before cutting it. */
const STOP_GRACE_MS = 5000;

/** Distance from the bottom (px) within which the view follows new text. */
const PIN_SLACK_PX = 40;

export class TutorPanel extends Widget {
  constructor(options: TutorPanel.IOptions) {
    super();
    this._client = options.client;
    this._rendermime = options.rendermime;
    this._translator = options.translator ?? nullTranslator;
    this._trans = this._translator.load('jupyter-tutor');
    this._getContext = options.getContext;
    this._describeContext = options.describeContext;
    this._codeActions = options.codeActions;
    this._openCitation = options.openCitation;

    const trans = this._trans;
    this.id = 'jp-tutor-panel';
    this.addClass('jp-tutor-Panel');
    this.title.caption = trans.__('Tutor');
    this.node.setAttribute('role', 'region');
    this.node.setAttribute('aria-label', trans.__('Tutor'));

    // Header: title, conversations, new conversation.
    const header = document.createElement('div');
    header.className = 'jp-tutor-Header';
    const titles = document.createElement('div');
    titles.className = 'jp-tutor-Header-titles';
    const heading = document.createElement('h2');
    heading.className = 'jp-tutor-Header-title';
    heading.textContent = trans.__('Tutor');
    this._subtitle = document.createElement('div');
    this._subtitle.className = 'jp-tutor-Header-subtitle';
    this._subtitle.dataset.testid = 'tutor-conversation-title';
    titles.append(heading, this._subtitle);
    this._historyButton = iconButton(
      listIcon,
      trans.__('Show your conversations'),
      'tutor-history'
    );
    this._historyButton.setAttribute('aria-pressed', 'false');
    this._historyButton.addEventListener('click', () => this.toggleHistory());
    const newButton = iconButton(addIcon, trans.__('New conversation'), 'tutor-new');
    newButton.addEventListener('click', () => this.newConversation());
    header.append(titles, this._historyButton, newButton);

    // Conversation list (hidden until asked for).
    this._history = document.createElement('div');
    this._history.className = 'jp-tutor-History';
    this._history.hidden = true;
    this._history.dataset.testid = 'tutor-conversations';
    const historyHead = document.createElement('div');
    historyHead.className = 'jp-tutor-History-header';
    const historyTitle = document.createElement('h3');
    historyTitle.textContent = trans.__('Your conversations');
    const refresh = iconButton(
      refreshIcon,
      trans.__('Refresh the conversation list'),
      'tutor-history-refresh'
    );
    refresh.addEventListener('click', () => void this.refreshConversations());
    historyHead.append(historyTitle, refresh);
    this._historyList = document.createElement('ul');
    this._historyList.className = 'jp-tutor-History-list';
    this._historyList.setAttribute('aria-label', trans.__('Your conversations'));
    this._historyStatus = document.createElement('div');
    this._historyStatus.className = 'jp-tutor-History-status';
    this._historyStatus.setAttribute('role', 'status');
    this._history.append(historyHead, this._historyStatus, this._historyList);

    // Messages.
    this._scroller = document.createElement('div');
    this._scroller.className = 'jp-tutor-Messages';
    this._scroller.dataset.testid = 'tutor-messages';
    this._scroller.setAttribute('role', 'log');
    this._scroller.setAttribute('aria-live', 'polite');
    this._scroller.setAttribute('aria-label', trans.__('Conversation with the tutor'));
    this._scroller.tabIndex = 0;
    this._scroller.addEventListener('scroll', () => {
      const s = this._scroller;
      this._pinned = s.scrollHeight - s.scrollTop - s.clientHeight < PIN_SLACK_PX;
    });
    this._empty = document.createElement('div');
    this._empty.className = 'jp-tutor-Empty';
    const hello = document.createElement('p');
    hello.textContent = trans.__(
      'Ask about your code, an error or the course. The tutor sees the notebook and cell you are working on, and points you to the course material it uses.'
    );
    const hint = document.createElement('p');
    hint.className = 'jp-tutor-Empty-hint';
    hint.textContent = trans.__(
      'Enter sends, Shift+Enter starts a new line. On a cell with an error, use “Ask the tutor”.'
    );
    this._empty.append(hello, hint);
    this._list = document.createElement('div');
    this._list.className = 'jp-tutor-MessageList';
    this._scroller.append(this._empty, this._list);

    // Question box.
    const composer = document.createElement('form');
    composer.className = 'jp-tutor-Composer';
    composer.setAttribute('aria-label', trans.__('Ask the tutor'));
    composer.addEventListener('submit', event => {
      event.preventDefault();
      this._send();
    });
    this._context = document.createElement('div');
    this._context.className = 'jp-tutor-Context';
    this._context.dataset.testid = 'tutor-context';
    this._input = document.createElement('textarea');
    this._input.className = 'jp-tutor-Input';
    this._input.rows = 3;
    this._input.placeholder = trans.__(
      'Ask the tutor… (Enter to send, Shift+Enter for a new line)'
    );
    this._input.setAttribute('aria-label', trans.__('Your question for the tutor'));
    this._input.dataset.testid = 'tutor-input';
    this._input.addEventListener('keydown', this._onInputKeydown);
    this._input.addEventListener('input', () => this._updateComposer());
    const actions = document.createElement('div');
    actions.className = 'jp-tutor-Composer-actions';
    this._sendButton = document.createElement('button');
    this._sendButton.type = 'submit';
    this._sendButton.className = 'jp-tutor-Button jp-tutor-SendButton jp-mod-accept';
    this._sendButton.textContent = trans.__('Send');
    this._sendButton.setAttribute('aria-label', trans.__('Send the question'));
    this._sendButton.dataset.testid = 'tutor-send';
    this._stopButton = document.createElement('button');
    this._stopButton.type = 'button';
    this._stopButton.className = 'jp-tutor-Button jp-tutor-StopButton';
    this._stopButton.textContent = trans.__('Stop');
    this._stopButton.setAttribute('aria-label', trans.__('Stop the answer'));
    this._stopButton.dataset.testid = 'tutor-stop';
    this._stopButton.addEventListener('click', () => void this.stop());
    actions.append(this._stopButton, this._sendButton);
    this._notice = document.createElement('p');
    this._notice.className = 'jp-tutor-Notice';
    this._notice.dataset.testid = 'tutor-privacy-note';
    // Neutral until the course says who reads conversations (GET course).
    this._notice.textContent = trans.__(
      'Conversations are saved and may be visible to your instructors where your course allows it.'
    );
    composer.append(this._context, this._input, actions, this._notice);

    this.node.append(header, this._history, this._scroller, composer);
    this._update(INITIAL_STATE, null);
    void this._loadCourse();
  }

  /** The conversation shown. */
  get state(): IChatState {
    return this._state;
  }

  /** Whether an answer is streaming. */
  get isStreaming(): boolean {
    return this._controller !== null;
  }

  /**
   * Ask a question.  `context` replaces the page context the panel would send
   * (the "explain this error" command passes the failing cell's context).
   * Ignored while another answer streams.
   */
  async ask(message: string, context?: IQuestionContext): Promise<void> {
    const text = message.trim();
    if (!text || this._controller) {
      return;
    }
    const request: IChatRequest = { message: text };
    if (this._state.conversationId) {
      request.conversation_id = this._state.conversationId;
    }
    const pageContext = context ?? this._getContext?.();
    if (pageContext) {
      request.context = pageContext;
    }
    const controller = new AbortController();
    this._controller = controller;
    this._pinned = true;
    this._setHistoryVisible(false);
    const n = ++this._counter;
    this._dispatch({
      type: 'ask',
      userId: `q-${n}`,
      assistantId: `a-${n}`,
      request
    });
    try {
      await this._client.chat(
        request,
        event => this._dispatch({ type: 'event', event }),
        controller.signal
      );
      this._dispatch({ type: 'closed' });
    } catch (err) {
      if (isAbortError(err)) {
        this._dispatch({ type: 'closed', stopped: true });
      } else if (err instanceof TutorRequestError) {
        this._dispatch({
          type: 'failed',
          code: err.code,
          message: err.message,
          retryAfter: err.retryAfter
        });
      } else {
        console.error('jupyter-tutor: the question failed', err);
        this._dispatch({ type: 'failed', code: 'internal' });
      }
    } finally {
      if (this._controller === controller) {
        this._controller = null;
      }
      this._conversationsStale = true;
      this._updateComposer();
    }
  }

  /**
   * Stop the answer being streamed: ask the server (which ends the stream with
   * `done`/`stopped`), and cut the connection if it does not end soon.
   */
  async stop(): Promise<void> {
    const controller = this._controller;
    if (!controller) {
      return;
    }
    this._stopButton.disabled = true;
    const id = this._state.conversationId;
    let accepted = false;
    if (id) {
      try {
        accepted = await this._client.stop(id);
      } catch (err) {
        console.warn('jupyter-tutor: stop failed', err);
      }
    }
    if (!accepted) {
      controller.abort();
      return;
    }
    window.setTimeout(() => {
      if (this._controller === controller) {
        controller.abort();
      }
    }, STOP_GRACE_MS);
  }

  /** Leave the current conversation (stopping its answer) and start an empty one. */
  newConversation(): void {
    if (this._controller) {
      void this.stop();
    }
    this._dispatch({ type: 'new' });
    this._setHistoryVisible(false);
    this.focusInput();
  }

  /** Open a stored conversation. */
  async openConversation(id: string): Promise<void> {
    if (this._controller) {
      await this.stop();
    }
    this._historyStatus.textContent = this._trans.__('Opening…');
    try {
      const conversation = await this._client.getConversation(id);
      this._dispatch({ type: 'load', conversation });
      this._setHistoryVisible(false);
      this._historyStatus.textContent = '';
      this._scrollToBottom(true);
    } catch (err) {
      this._historyStatus.textContent = errorText(this._trans, err);
    }
  }

  /** Show or hide the conversation list. */
  toggleHistory(): void {
    this._setHistoryVisible(this._history.hidden);
  }

  /** Load the conversation list again. */
  async refreshConversations(): Promise<void> {
    const trans = this._trans;
    this._historyStatus.textContent = trans.__('Loading…');
    this._historyList.setAttribute('aria-busy', 'true');
    try {
      const conversations = await this._client.listConversations();
      this._renderConversations(conversations);
      this._historyStatus.textContent = conversations.length
        ? ''
        : trans.__('No conversations yet.');
      this._conversationsStale = false;
    } catch (err) {
      this._historyStatus.textContent = errorText(trans, err);
    } finally {
      this._historyList.removeAttribute('aria-busy');
    }
  }

  /** Put the keyboard focus in the question box. */
  focusInput(): void {
    this._input.focus();
  }

  /** Fill the question box (without sending). */
  setDraft(text: string): void {
    this._input.value = text;
    this._updateComposer();
  }

  /** The page context changed (notebook or cell): refresh the context line. */
  updateContext(): void {
    const text = this._describeContext?.() ?? null;
    this._context.hidden = !text;
    this._context.textContent = text ?? '';
    this._context.title = text ?? '';
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._controller?.abort();
    this._controller = null;
    for (const view of this._views.values()) {
      view.dispose();
    }
    this._views.clear();
    super.dispose();
  }

  protected onActivateRequest(msg: Message): void {
    if (this.isAttached) {
      this.focusInput();
    }
  }

  protected onAfterShow(msg: Message): void {
    this.updateContext();
    this._scrollToBottom(false);
    if (!this._courseLoaded) {
      void this._loadCourse(); // the first try failed (server starting, gateway down)
    }
  }

  /** Show the course's privacy notice (who reads conversations) once it is known. */
  private async _loadCourse(): Promise<void> {
    if (this._courseLoading) {
      return;
    }
    this._courseLoading = true;
    try {
      const course = await this._client.getCourse();
      this._courseLoaded = true;
      const notice = course?.privacy.notice;
      if (notice && !this.isDisposed) {
        this._notice.textContent = notice;
        this._notice.dataset.source = 'course';
      }
    } catch (err) {
      // Keep the neutral text; the tutor may be unavailable altogether.
      console.debug('jupyter-tutor: no course settings', err);
    } finally {
      this._courseLoading = false;
    }
  }

  /** Send a vote on an answer, and show what became of it. */
  private async _vote(answer: IAssistantMessage, vote: FeedbackVote): Promise<void> {
    const target = feedbackTarget(this._state, answer.id);
    if (!target) {
      return;
    }
    const answerId = answer.id;
    const conversationId = target.conversation_id;
    this._dispatch({ type: 'feedback', answerId, vote });
    // The panel may show another conversation by the time the server answers.
    const still = () => this._state.conversationId === conversationId;
    try {
      const result = await this._client.sendFeedback({ ...target, vote });
      if (still()) {
        this._dispatch({ type: 'feedbackSent', answerId, vote, messageId: result.message_id });
      }
    } catch (err) {
      if (!(err instanceof TutorRequestError)) {
        console.error('jupyter-tutor: the vote failed', err);
      }
      if (still()) {
        const message = this._trans.__(
          'Your vote was not recorded: %1',
          errorText(this._trans, err)
        );
        this._dispatch({ type: 'feedbackFailed', answerId, vote, message });
      }
    }
  }

  private _send(): void {
    const text = this._input.value;
    if (!text.trim() || this._controller) {
      return;
    }
    this._input.value = '';
    this._updateComposer();
    void this.ask(text);
  }

  private _onInputKeydown = (event: KeyboardEvent): void => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      if (event.altKey || event.ctrlKey || event.metaKey) {
        return;
      }
      event.preventDefault();
      this._send();
    } else if (event.key === 'Escape' && this._controller) {
      event.preventDefault();
      void this.stop();
    }
  };

  private _dispatch(action: ChatAction): void {
    const previous = this._state;
    const next = reduce(previous, action);
    if (next === previous) {
      return;
    }
    this._state = next;
    this._update(next, action.type === 'load' || action.type === 'new' ? null : previous);
  }

  /**
   * Bring the DOM in line with `state`.  `previous` null: rebuild every message.
   */
  private _update(state: IChatState, previous: IChatState | null): void {
    if (previous === null) {
      for (const view of this._views.values()) {
        view.dispose();
      }
      this._views.clear();
    }
    const seen = new Set<string>();
    for (const message of state.messages) {
      seen.add(message.id);
      const view = this._views.get(message.id);
      if (!view) {
        const created = this._createView(message);
        this._views.set(message.id, created);
        this._list.appendChild(created.node);
        created.update(message);
      } else if (!previous || !previous.messages.includes(message)) {
        view.update(message);
      }
    }
    for (const [id, view] of this._views) {
      if (!seen.has(id)) {
        view.dispose();
        this._views.delete(id);
      }
    }
    // Which answers take a vote depends on the whole conversation (the latest answer,
    // whether one streams), not only on the answer itself.
    for (const message of state.messages) {
      const view = this._views.get(message.id);
      if (message.role === 'assistant' && view instanceof AnswerView) {
        view.setFeedback(message, feedbackTarget(state, message.id) !== null);
      }
    }
    this._empty.hidden = state.messages.length > 0;
    this._subtitle.textContent = state.title ?? '';
    this._subtitle.hidden = !state.title;
    this._updateComposer();
    this._scrollToBottom(false);
  }

  private _createView(message: ChatMessage): IMessageView {
    if (message.role === 'user') {
      return new QuestionView(this._trans);
    }
    return new AnswerView({
      rendermime: this._rendermime,
      translator: this._translator,
      trans: this._trans,
      codeActions: this._codeActions,
      openCitation: this._openCitation,
      retry: answer => this._retry(answer),
      vote: (answer, vote) => void this._vote(answer, vote),
      onRender: () => this._scrollToBottom(false)
    });
  }

  private _retry(answer: IAssistantMessage): void {
    const question = this._state.messages.find(
      (m): m is IUserMessage => m.role === 'user' && m.id === answer.questionId
    );
    if (question?.request) {
      void this.ask(question.request.message, question.request.context);
    }
  }

  private _updateComposer(): void {
    const streaming = this._controller !== null || this._state.streamingId !== null;
    this._stopButton.hidden = !streaming;
    if (!streaming) {
      this._stopButton.disabled = false; // disabled while a stop is pending only
    }
    this._sendButton.hidden = streaming;
    this._sendButton.disabled = streaming || !this._input.value.trim();
    this.node.classList.toggle('jp-tutor-mod-streaming', streaming);
  }

  private _scrollToBottom(force: boolean): void {
    if (!force && !this._pinned) {
      return;
    }
    const s = this._scroller;
    s.scrollTop = s.scrollHeight;
  }

  private _setHistoryVisible(visible: boolean): void {
    this._history.hidden = !visible;
    this._scroller.hidden = visible;
    this._historyButton.setAttribute('aria-pressed', String(visible));
    this._historyButton.classList.toggle('jp-mod-active', visible);
    if (visible && (this._conversationsStale || !this._historyList.childElementCount)) {
      void this.refreshConversations();
    }
  }

  private _renderConversations(conversations: IConversationSummary[]): void {
    const trans = this._trans;
    this._historyList.textContent = '';
    for (const c of conversations) {
      const item = document.createElement('li');
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'jp-tutor-ConversationItem';
      button.dataset.testid = 'tutor-conversation';
      button.dataset.conversationId = c.id;
      if (c.id === this._state.conversationId) {
        button.classList.add('jp-mod-current');
        button.setAttribute('aria-current', 'true');
      }
      const title = document.createElement('span');
      title.className = 'jp-tutor-ConversationItem-title';
      title.textContent = c.title || trans.__('Untitled conversation');
      const meta = document.createElement('span');
      meta.className = 'jp-tutor-ConversationItem-meta';
      meta.textContent = [c.notebook_path, formatDate(c.updated_at ?? c.created_at)]
        .filter(Boolean)
        .join(' · ');
      button.append(title, meta);
      button.addEventListener('click', () => void this.openConversation(c.id));
      item.appendChild(button);
      this._historyList.appendChild(item);
    }
  }

  private readonly _client: TutorClient;
  private readonly _rendermime: IRenderMimeRegistry;
  private readonly _translator: ITranslator;
  private readonly _trans: TranslationBundle;
  private readonly _getContext: (() => IQuestionContext | undefined) | undefined;
  private readonly _describeContext: (() => string | null) | undefined;
  private readonly _codeActions: ICodeActions;
  private readonly _openCitation: (citation: ICitation) => void;
  private _state: IChatState = INITIAL_STATE;
  /** The request of the answer being streamed. */
  private _controller: AbortController | null = null;
  /** Message views by message id. */
  private readonly _views = new Map<string, IMessageView>();
  /** Source of local message ids. */
  private _counter = 0;
  /** Whether the view follows new text (the student has not scrolled up). */
  private _pinned = true;
  /** A question was asked since the list was loaded. */
  private _conversationsStale = true;
  private readonly _subtitle: HTMLElement;
  private readonly _historyButton: HTMLButtonElement;
  private readonly _history: HTMLElement;
  private readonly _historyList: HTMLElement;
  private readonly _historyStatus: HTMLElement;
  private readonly _scroller: HTMLElement;
  private readonly _empty: HTMLElement;
  private readonly _list: HTMLElement;
  private readonly _context: HTMLElement;
  private readonly _input: HTMLTextAreaElement;
  private readonly _sendButton: HTMLButtonElement;
  private readonly _stopButton: HTMLButtonElement;
  private readonly _notice: HTMLElement;
  private _courseLoaded = false;
  private _courseLoading = false;
}

export namespace TutorPanel {
  export interface IOptions {
    client: TutorClient;
    rendermime: IRenderMimeRegistry;
    translator?: ITranslator;
    /** The page context sent with a typed question (`undefined`: none). */
    getContext?: () => IQuestionContext | undefined;
    /** One line describing that context for the student, or `null`. */
    describeContext?: () => string | null;
    codeActions: ICodeActions;
    openCitation: (citation: ICitation) => void;
  }
}

/** The DOM of one message. */
interface IMessageView {
  readonly node: HTMLElement;
  update(message: ChatMessage): void;
  dispose(): void;
}

/** A question of the student: plain text, never HTML. */
class QuestionView implements IMessageView {
  constructor(trans: TranslationBundle) {
    this._trans = trans;
    this.node = document.createElement('div');
    this.node.className = 'jp-tutor-Message jp-tutor-Question';
    this.node.dataset.testid = 'tutor-question';
    this._text = document.createElement('div');
    this._text.className = 'jp-tutor-Question-text';
    this._about = document.createElement('div');
    this._about.className = 'jp-tutor-Question-about';
    this.node.append(this._text, this._about);
  }

  readonly node: HTMLElement;

  update(message: ChatMessage): void {
    if (message.role !== 'user') {
      return;
    }
    this._text.textContent = message.text;
    const context = message.request?.context;
    const about: string[] = [];
    if (context?.error) {
      about.push(`${context.error.ename}: ${context.error.evalue}`.replace(/: $/, ''));
    }
    if (context?.notebook_path) {
      about.push(
        typeof context.cell_index === 'number'
          ? this._trans.__('%1, cell %2', context.notebook_path, context.cell_index + 1)
          : context.notebook_path
      );
    }
    this._about.textContent = about.join(' · ');
    this._about.hidden = about.length === 0;
  }

  dispose(): void {
    this.node.remove();
  }

  private readonly _trans: TranslationBundle;
  private readonly _text: HTMLElement;
  private readonly _about: HTMLElement;
}

/** An answer: Markdown runs and tool steps in stream order, sources, status, errors. */
class AnswerView implements IMessageView {
  constructor(options: AnswerView.IOptions) {
    this._options = options;
    const trans = options.trans;
    this.node = document.createElement('div');
    this.node.className = 'jp-tutor-Message jp-tutor-Answer';
    this.node.dataset.testid = 'tutor-answer';
    this._body = document.createElement('div');
    this._body.className = 'jp-tutor-Answer-body';
    this._thinking = document.createElement('div');
    this._thinking.className = 'jp-tutor-Thinking';
    this._thinking.setAttribute('role', 'status');
    this._thinking.textContent = trans.__('Thinking…');
    this._citations = document.createElement('div');
    this._citations.className = 'jp-tutor-Citations';
    this._citations.dataset.testid = 'tutor-citations';
    this._footer = document.createElement('div');
    this._footer.className = 'jp-tutor-Answer-footer';
    this._error = document.createElement('div');
    this._error.className = 'jp-tutor-Error';
    this._error.setAttribute('role', 'alert');
    this._error.dataset.testid = 'tutor-error';
    this._feedback = this._createFeedback();
    this.node.append(
      this._body,
      this._thinking,
      this._citations,
      this._error,
      this._footer,
      this._feedback
    );
  }

  readonly node: HTMLElement;

  update(message: ChatMessage): void {
    if (message.role !== 'assistant') {
      return;
    }
    const previous = this._message;
    this._message = message;
    const streaming = message.status === 'streaming';
    const finished = !streaming && previous?.status === 'streaming';
    this.node.dataset.status = message.status;
    this.node.setAttribute('aria-busy', String(streaming));

    // Parts, in order.  A part object that did not change keeps its view, except that
    // text is rendered once more, with math, when the answer ends.
    message.parts.forEach((part, i) => {
      let slot = this._parts[i];
      if (slot && slot.kind !== part.kind) {
        slot.dispose();
        slot = undefined as unknown as PartSlot;
      }
      if (!slot) {
        slot =
          part.kind === 'text'
            ? new TextSlot(
                new MarkdownView({
                  rendermime: this._options.rendermime,
                  actions: this._options.codeActions,
                  trans: this._options.trans,
                  translator: this._options.translator,
                  onRender: this._options.onRender
                })
              )
            : new ToolSlot(this._options.trans);
        this._parts[i] = slot;
        const after = this._parts[i - 1]?.node ?? null;
        this._body.insertBefore(slot.node, after ? after.nextSibling : this._body.firstChild);
      }
      if (slot.part !== part || finished || !previous) {
        slot.update(part, !streaming);
      }
    });
    for (const slot of this._parts.splice(message.parts.length)) {
      slot.dispose();
    }

    this._thinking.hidden = !(
      streaming &&
      (message.parts.length === 0 || message.parts[message.parts.length - 1].kind === 'tool')
    );
    if (!previous || previous.citations !== message.citations) {
      this._renderCitations(message.citations);
    }
    this._renderError(message);
    this._renderFooter(message);
  }

  /**
   * Show the vote buttons when the answer takes a vote (`allowed`), and what became of
   * a vote once one was given (the buttons then stay, disabled, beside the outcome).
   */
  setFeedback(message: IAssistantMessage, allowed: boolean): void {
    const feedback = message.feedback;
    const key = JSON.stringify([allowed, feedback ?? null]);
    if (key === this._feedbackKey) {
      return;
    }
    this._feedbackKey = key;
    this._message = message;
    const trans = this._options.trans;
    this._feedback.hidden = !allowed && !feedback;
    const busy = feedback?.status === 'sending' || feedback?.status === 'sent';
    for (const [vote, button] of this._voteButtons) {
      button.disabled = busy || !allowed;
      button.setAttribute('aria-pressed', String(!!feedback && feedback.vote === vote && busy));
    }
    const status = this._feedbackStatus;
    status.classList.toggle('jp-mod-error', feedback?.status === 'failed');
    this._feedback.dataset.status = feedback?.status ?? '';
    if (!feedback) {
      status.textContent = '';
    } else if (feedback.status === 'sending') {
      status.textContent = trans.__('Sending…');
    } else if (feedback.status === 'failed') {
      status.textContent = feedback.error ?? trans.__('Your vote was not recorded.');
    } else if (feedback.vote === 'stuck') {
      status.textContent = trans.__('Noted — ask again and the tutor will go one step further.');
    } else {
      status.textContent = trans.__('Thanks — noted.');
    }
  }

  /** The vote buttons and the line that says what became of a vote. */
  private _createFeedback(): HTMLElement {
    const trans = this._options.trans;
    const group = document.createElement('div');
    group.className = 'jp-tutor-Feedback';
    group.dataset.testid = 'tutor-feedback';
    group.setAttribute('role', 'group');
    group.setAttribute('aria-label', trans.__('Was this answer helpful?'));
    group.hidden = true;
    // Words, not 👍/👎: emoji fonts are missing on some systems (boxes instead).
    const labels: Record<FeedbackVote, { text: string; aria: string }> = {
      up: { text: trans.__('Helpful'), aria: trans.__('Helpful: vote this answer up') },
      down: {
        text: trans.__('Not helpful'),
        aria: trans.__('Not helpful: vote this answer down')
      },
      stuck: {
        text: trans.__('Still stuck'),
        aria: trans.__('Still stuck: the next hint goes one step further')
      }
    };
    for (const vote of FEEDBACK_VOTES) {
      const { text, aria } = labels[vote];
      const button = makeButton(text, aria, `tutor-vote-${vote}`);
      button.classList.add('jp-tutor-VoteButton');
      button.dataset.vote = vote;
      button.addEventListener('click', () => {
        if (this._message) {
          this._options.vote(this._message, vote);
        }
      });
      this._voteButtons.set(vote, button);
      group.appendChild(button);
    }
    this._feedbackStatus = document.createElement('span');
    this._feedbackStatus.className = 'jp-tutor-Feedback-status';
    this._feedbackStatus.dataset.testid = 'tutor-feedback-status';
    this._feedbackStatus.setAttribute('role', 'status');
    group.appendChild(this._feedbackStatus);
    return group;
  }

  dispose(): void {
    for (const slot of this._parts) {
      slot.dispose();
    }
    this._parts = [];
    if (this._retryTimer !== null) {
      window.clearInterval(this._retryTimer);
    }
    this.node.remove();
  }

  private _renderCitations(citations: readonly ICitation[]): void {
    const trans = this._options.trans;
    this._citations.textContent = '';
    this._citations.hidden = citations.length === 0;
    if (!citations.length) {
      return;
    }
    const title = document.createElement('div');
    title.className = 'jp-tutor-Citations-title';
    title.textContent = trans.__('Sources from the course');
    const list = document.createElement('ul');
    for (const c of citations) {
      const item = document.createElement('li');
      const link = document.createElement('button');
      link.type = 'button';
      link.className = 'jp-tutor-Citation';
      link.dataset.testid = 'tutor-citation';
      link.dataset.path = c.path;
      if (c.cell !== null) {
        link.dataset.cell = String(c.cell);
      }
      // A passage of a Markdown or Python file has no cell: name the file only.
      const where = c.cell === null ? c.path : trans.__('%1, cell %2', c.path, c.cell + 1);
      link.setAttribute('aria-label', trans.__('Open %1 at %2', c.heading || c.path, where));
      if (c.text) {
        link.title = c.text.length > 300 ? c.text.slice(0, 299) + '…' : c.text;
      }
      const heading = document.createElement('span');
      heading.className = 'jp-tutor-Citation-heading';
      heading.textContent = c.heading || c.path;
      const meta = document.createElement('span');
      meta.className = 'jp-tutor-Citation-meta';
      meta.textContent = c.course ? `${c.course} · ${where}` : where;
      link.append(heading, meta);
      link.addEventListener('click', () => this._options.openCitation(c));
      item.appendChild(link);
      list.appendChild(item);
    }
    this._citations.append(title, list);
  }

  private _renderError(message: IAssistantMessage): void {
    const error = message.status === 'error' ? message.error : undefined;
    if (this._shownError === error) {
      return;
    }
    this._shownError = error;
    if (this._retryTimer !== null) {
      window.clearInterval(this._retryTimer);
      this._retryTimer = null;
    }
    this._error.textContent = '';
    this._error.hidden = !error;
    if (!error) {
      return;
    }
    const trans = this._options.trans;
    this._error.dataset.code = error.code;
    const title = document.createElement('strong');
    title.className = 'jp-tutor-Error-title';
    title.textContent = error.title;
    const text = document.createElement('p');
    text.className = 'jp-tutor-Error-message';
    text.textContent = error.message;
    this._error.append(title, text);
    if (error.retryable) {
      const retry = makeButton(
        trans.__('Retry'),
        trans.__('Ask this question again'),
        'tutor-retry'
      );
      retry.addEventListener('click', () => {
        if (this._message) {
          this._options.retry(this._message);
        }
      });
      this._error.appendChild(retry);
      if (error.retryAfter) {
        // Count down to the moment the server will accept the question again.
        let left = Math.ceil(error.retryAfter);
        const wait = document.createElement('span');
        wait.className = 'jp-tutor-Error-wait';
        const tick = () => {
          wait.textContent = trans._n(
            'You can ask again in %1 second.',
            'You can ask again in %1 seconds.',
            left,
            left
          );
          retry.disabled = left > 0;
          if (left <= 0) {
            wait.textContent = '';
            if (this._retryTimer !== null) {
              window.clearInterval(this._retryTimer);
              this._retryTimer = null;
            }
          }
          left--;
        };
        tick();
        this._retryTimer = window.setInterval(tick, 1000);
        this._error.insertBefore(wait, retry);
      }
    }
  }

  private _renderFooter(message: IAssistantMessage): void {
    const trans = this._options.trans;
    const notes: string[] = [];
    if (message.stopReason === 'interrupted') {
      notes.push(trans.__('This answer was interrupted.'));
    } else if (message.status === 'stopped') {
      notes.push(trans.__('Stopped.'));
    } else if (message.stopReason === 'max_tokens') {
      notes.push(trans.__('The answer was cut short (length limit).'));
    } else if (message.stopReason === 'max_tool_rounds') {
      notes.push(trans.__('The tutor stopped after too many steps.'));
    }
    this._footer.textContent = notes.join(' ');
    if (message.usage && message.status !== 'streaming') {
      const usage = document.createElement('span');
      usage.className = 'jp-tutor-Usage';
      const total = message.usage.inputTokens + message.usage.outputTokens;
      usage.textContent = trans.__('%1 tokens', total.toLocaleString());
      usage.title = trans.__(
        '%1 input tokens, %2 output tokens',
        message.usage.inputTokens.toLocaleString(),
        message.usage.outputTokens.toLocaleString()
      );
      this._footer.appendChild(usage);
    }
    this._footer.hidden = !this._footer.childNodes.length;
  }

  private readonly _options: AnswerView.IOptions;
  private readonly _body: HTMLElement;
  private readonly _thinking: HTMLElement;
  private readonly _citations: HTMLElement;
  private readonly _footer: HTMLElement;
  private readonly _error: HTMLElement;
  private _parts: PartSlot[] = [];
  private _message: IAssistantMessage | null = null;
  private _shownError: IAssistantMessage['error'] | undefined | null = null;
  private _retryTimer: number | null = null;
  private readonly _feedback: HTMLElement;
  private _feedbackStatus!: HTMLElement;
  private readonly _voteButtons = new Map<FeedbackVote, HTMLButtonElement>();
  private _feedbackKey = '';
}

namespace AnswerView {
  export interface IOptions {
    rendermime: IRenderMimeRegistry;
    translator: ITranslator;
    trans: TranslationBundle;
    codeActions: ICodeActions;
    openCitation: (citation: ICitation) => void;
    retry: (answer: IAssistantMessage) => void;
    /** Vote on the answer. */
    vote: (answer: IAssistantMessage, vote: FeedbackVote) => void;
    onRender: () => void;
  }
}

/** The view of one part of an answer. */
type PartSlot = TextSlot | ToolSlot;

class TextSlot {
  readonly kind = 'text';
  constructor(view: MarkdownView) {
    this._view = view;
  }
  get node(): HTMLElement {
    return this._view.node;
  }
  part: unknown = null;
  update(part: IAssistantMessage['parts'][number], final: boolean): void {
    this.part = part;
    if (part.kind === 'text') {
      this._view.setText(part.text, final);
    }
  }
  dispose(): void {
    this._view.dispose();
  }
  private readonly _view: MarkdownView;
}

/** A tool step as a collapsible `<details>`: what was done, on what, and the result. */
class ToolSlot {
  readonly kind = 'tool';
  constructor(trans: TranslationBundle) {
    this._trans = trans;
    this.node = document.createElement('details');
    this.node.className = 'jp-tutor-ToolStep';
    this.node.dataset.testid = 'tutor-tool-step';
    this._summary = document.createElement('summary');
    this._summary.className = 'jp-tutor-ToolStep-summary';
    this._status = document.createElement('span');
    this._status.className = 'jp-tutor-ToolStep-status';
    this._status.setAttribute('aria-hidden', 'true');
    this._action = document.createElement('span');
    this._action.className = 'jp-tutor-ToolStep-action';
    this._detail = document.createElement('code');
    this._detail.className = 'jp-tutor-ToolStep-detail';
    this._summary.append(this._status, this._action, this._detail);
    this._content = document.createElement('div');
    this._content.className = 'jp-tutor-ToolStep-content';
    this.node.append(this._summary, this._content);
  }

  readonly node: HTMLDetailsElement;
  part: unknown = null;

  update(part: IAssistantMessage['parts'][number], final?: boolean): void {
    if (part.kind !== 'tool') {
      return;
    }
    const previous = this.part as IToolStep | null;
    this.part = part;
    const trans = this._trans;
    const { action, detail } = summarizeTool(part.name, part.input);
    this.node.dataset.status = part.status;
    this.node.dataset.tool = part.name;
    this._action.textContent = trans.__(action);
    this._detail.textContent = detail;
    this._detail.hidden = !detail;
    const statusText: Record<IToolStep['status'], string> = {
      running: trans.__('running'),
      done: trans.__('done'),
      error: trans.__('failed'),
      interrupted: trans.__('interrupted')
    };
    this._status.dataset.status = part.status;
    this._summary.setAttribute(
      'aria-label',
      `${trans.__(action)} ${detail} (${statusText[part.status]})`.replace('  ', ' ')
    );
    if (previous && previous.input === part.input && previous.output === part.output) {
      return;
    }
    this._content.textContent = '';
    const input = formatValue(part.input);
    if (input) {
      this._content.append(labelled(trans.__('Input'), input, 'jp-tutor-ToolStep-input'));
    }
    if (part.output !== undefined) {
      const block = labelled(
        part.status === 'error' ? trans.__('Error') : trans.__('Result'),
        formatValue(part.output) || trans.__('(nothing)'),
        'jp-tutor-ToolStep-output'
      );
      block.classList.toggle('jp-mod-error', part.status === 'error');
      this._content.append(block);
    }
  }

  dispose(): void {
    this.node.remove();
  }

  private readonly _trans: TranslationBundle;
  private readonly _summary: HTMLElement;
  private readonly _status: HTMLElement;
  private readonly _action: HTMLElement;
  private readonly _detail: HTMLElement;
  private readonly _content: HTMLElement;
}

/** A labelled preformatted block (plain text only). */
function labelled(label: string, text: string, className: string): HTMLElement {
  const block = document.createElement('div');
  block.className = className;
  const head = document.createElement('div');
  head.className = 'jp-tutor-ToolStep-label';
  head.textContent = label;
  const pre = document.createElement('pre');
  pre.textContent = text;
  block.append(head, pre);
  return block;
}

/** A square icon button with an accessible label. */
function iconButton(icon: typeof addIcon, label: string, testId: string): HTMLButtonElement {
  const button = document.createElement('button');
  button.type = 'button';
  button.className = 'jp-tutor-IconButton';
  button.setAttribute('aria-label', label);
  button.title = label;
  button.dataset.testid = testId;
  button.appendChild(icon.element({ tag: 'span', elementSize: 'normal' }));
  return button;
}

/** A short local date for the conversation list. */
function formatDate(value: string | null | undefined): string {
  if (!value) {
    return '';
  }
  const date = new Date(value);
  return isNaN(date.getTime())
    ? ''
    : date.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}

/** A line for a failed list or open request. */
function errorText(trans: TranslationBundle, err: unknown): string {
  if (err instanceof TutorRequestError) {
    return err.message || trans.__('The tutor could not be reached.');
  }
  return trans.__('The tutor could not be reached.');
}
