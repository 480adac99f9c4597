/**
 * The tutor side panel: it puts the views together (header, conversation list, message
 * log, question box) and talks to the chat API.
 *
 * The panel holds one `IChatState` and changes it only through the pure reducer of
 * `state.ts`; after each change the message log patches the views of the messages that
 * changed (messages are replaced, never mutated, so identity tells what changed).
 * Model text reaches the page only through `MarkdownView` (rendermime, sanitized) or
 * `textContent`.  Each view lives in a module of its own (`answer.ts`, `question.ts`,
 * `toolstep.ts`, `citations.ts`, `feedback.ts`, `errorbox.ts`, `footer.ts`,
 * `conversations.ts`, `header.ts`, `composer.ts`, `messagelog.ts`).
 */

import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { ITranslator, TranslationBundle, nullTranslator } from '@jupyterlab/translation';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { AnswerView } from './answer';
import { TutorClient, TutorRequestError, isAbortError } from './client';
import { Composer } from './composer';
import { ConversationList } from './conversations';
import { PanelHeader } from './header';
import { ICodeActions } from './markdown';
import { MessageLog } from './messagelog';
import type { IMessageView } from './messageview';
import { FeedbackVote, IChatRequest, IQuestionContext } from './protocol';
import { QuestionView } from './question';
import {
  ChatAction,
  ChatMessage,
  IAssistantMessage,
  IChatState,
  ICitation,
  INITIAL_STATE,
  IUserMessage,
  feedbackTarget,
  reduce
} from './state';

/** How long to wait for the server to end a stopped stream before cutting it. */
const STOP_GRACE_MS = 5000;

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

    this._header = new PanelHeader({
      trans,
      toggleHistory: () => this.toggleHistory(),
      newConversation: () => this.newConversation()
    });
    this._conversations = new ConversationList({
      trans,
      refresh: () => void this.refreshConversations(),
      open: id => void this.openConversation(id)
    });
    this._log = new MessageLog({ trans, createView: message => this._createView(message) });
    this._composer = new Composer({
      trans,
      send: text => void this.ask(text),
      stop: () => void this.stop()
    });
    this.node.append(
      this._header.node,
      this._conversations.node,
      this._log.node,
      this._composer.node
    );
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
    // A pick made in this panel for a question without a notebook (the server remembers
    // picks per notebook, but has no notebook to remember this one by).
    const picked = this._picks.get(pageContext?.notebook_path ?? '');
    if (picked && !pageContext?.course) {
      request.context = { ...pageContext, course: picked };
    } else if (pageContext) {
      request.context = pageContext;
    }
    const controller = new AbortController();
    this._controller = controller;
    this._log.pin();
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
      this._forgetRefusedPick(`a-${n}`, request.context);
      this._conversationsStale = true;
      this._updateStreaming();
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
    this._composer.setStopping();
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
    this._conversations.setStatus(this._trans.__('Opening…'));
    try {
      const conversation = await this._client.getConversation(id);
      this._dispatch({ type: 'load', conversation });
      this._setHistoryVisible(false);
      this._conversations.setStatus('');
      this._log.scrollToBottom(true);
    } catch (err) {
      this._conversations.setStatus(errorText(this._trans, err));
    }
  }

  /** Show or hide the conversation list. */
  toggleHistory(): void {
    this._setHistoryVisible(this._conversations.node.hidden);
  }

  /** Load the conversation list again. */
  async refreshConversations(): Promise<void> {
    const trans = this._trans;
    const list = this._conversations;
    list.setStatus(trans.__('Loading…'));
    list.setBusy(true);
    try {
      const conversations = await this._client.listConversations();
      list.render(conversations, this._state.conversationId);
      list.setStatus(conversations.length ? '' : trans.__('No conversations yet.'));
      this._conversationsStale = false;
    } catch (err) {
      list.setStatus(errorText(trans, err));
    } finally {
      list.setBusy(false);
    }
  }

  /** Put the keyboard focus in the question box. */
  focusInput(): void {
    this._composer.focus();
  }

  /** Fill the question box (without sending). */
  setDraft(text: string): void {
    this._composer.setDraft(text);
  }

  /** The page context changed (notebook or cell): refresh the context line. */
  updateContext(): void {
    this._composer.setContext(this._describeContext?.() ?? null);
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._controller?.abort();
    this._controller = null;
    this._log.dispose();
    super.dispose();
  }

  protected onActivateRequest(msg: Message): void {
    if (this.isAttached) {
      this.focusInput();
    }
  }

  protected onAfterShow(msg: Message): void {
    this.updateContext();
    this._log.scrollToBottom(false);
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
        this._composer.setNotice(notice);
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
   * Bring the views in line with `state`.  `previous` null: rebuild every message.
   */
  private _update(state: IChatState, previous: IChatState | null): void {
    this._log.update(state, previous);
    this._header.setConversationTitle(state.title);
    this._updateStreaming();
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
      pickCourse: (answer, course) => this._pickCourse(answer, course),
      vote: (answer, vote) => void this._vote(answer, vote),
      onRender: () => this._log.scrollToBottom(false)
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

  /** A pick the gateway refused (not one of the student's courses) is asked for again. */
  private _forgetRefusedPick(answerId: string, context: IQuestionContext | undefined): void {
    const answer = this._state.messages.find(m => m.id === answerId);
    if (answer?.role === 'assistant' && answer.error?.code === 'course_forbidden') {
      this._picks.delete(context?.notebook_path ?? '');
    }
  }

  /** Ask `answer`'s question again in `course`, and use that course from now on. */
  private _pickCourse(answer: IAssistantMessage, course: string): void {
    const question = this._state.messages.find(
      (m): m is IUserMessage => m.role === 'user' && m.id === answer.questionId
    );
    if (!question?.request) {
      return;
    }
    const context = { ...question.request.context, course };
    this._picks.set(context.notebook_path ?? '', course);
    void this.ask(question.request.message, context);
  }

  /** Tell the views whether an answer streams (Stop instead of Send). */
  private _updateStreaming(): void {
    const streaming = this._controller !== null || this._state.streamingId !== null;
    this._composer.setStreaming(streaming);
    this.node.classList.toggle('jp-tutor-mod-streaming', streaming);
  }

  private _setHistoryVisible(visible: boolean): void {
    this._conversations.node.hidden = !visible;
    this._log.node.hidden = visible;
    this._header.setHistoryOpen(visible);
    if (visible && (this._conversationsStale || this._conversations.isEmpty)) {
      void this.refreshConversations();
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
  private readonly _header: PanelHeader;
  private readonly _conversations: ConversationList;
  private readonly _log: MessageLog;
  private readonly _composer: Composer;
  private _state: IChatState = INITIAL_STATE;
  /** The request of the answer being streamed. */
  private _controller: AbortController | null = null;
  /** Source of local message ids. */
  private _counter = 0;
  /** A question was asked since the list was loaded. */
  private _conversationsStale = true;
  private _courseLoaded = false;
  private _courseLoading = false;
  /** Courses picked in this panel, by notebook path ('' for no notebook). */
  private readonly _picks = new Map<string, string>();
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

/** A line for a failed list, open or vote request. */
function errorText(trans: TranslationBundle, err: unknown): string {
  if (err instanceof TutorRequestError) {
    return err.message || trans.__('The tutor could not be reached.');
  }
  return trans.__('The tutor could not be reached.');
}
