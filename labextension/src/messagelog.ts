/**
 * The conversation shown as a live log: one view per message, kept in line with the
 * state, and a greeting while there are none.  It follows new text at the bottom
 * unless the student scrolled up to read.
 *
 * Messages are replaced, never mutated, so an unchanged object keeps its view as it is;
 * a conversation loaded or started anew rebuilds every view.
 */

import type { TranslationBundle } from '@jupyterlab/translation';

import type { IMessageView } from './messageview';
import { ChatMessage, IChatState, feedbackTarget } from './state';

/** Distance from the bottom (px) within which the view follows new text. */
const PIN_SLACK_PX = 40;

export class MessageLog {
  constructor(options: MessageLog.IOptions) {
    this._createView = options.createView;
    const trans = options.trans;
    this.node = document.createElement('div');
    this.node.className = 'jp-tutor-Messages';
    this.node.dataset.testid = 'tutor-messages';
    this.node.setAttribute('role', 'log');
    this.node.setAttribute('aria-live', 'polite');
    this.node.setAttribute('aria-label', trans.__('Conversation with the tutor'));
    this.node.tabIndex = 0;
    this.node.addEventListener('scroll', () => {
      const s = this.node;
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
    this.node.append(this._empty, this._list);
  }

  /** The scrolling log. */
  readonly node: HTMLElement;

  /**
   * Bring the views in line with `state`.  `previous` null: rebuild every message.
   */
  update(state: IChatState, previous: IChatState | null): void {
    if (previous === null) {
      this._disposeViews();
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
      if (message.role === 'assistant') {
        const allowed = feedbackTarget(state, message.id) !== null;
        this._views.get(message.id)?.setFeedback?.(message, allowed);
      }
    }
    this._empty.hidden = state.messages.length > 0;
    this.scrollToBottom(false);
  }

  /** Follow new text again (a question was just asked). */
  pin(): void {
    this._pinned = true;
  }

  /** Scroll to the newest text: always (`force`), or if the student has not scrolled up. */
  scrollToBottom(force: boolean): void {
    if (!force && !this._pinned) {
      return;
    }
    this.node.scrollTop = this.node.scrollHeight;
  }

  dispose(): void {
    this._disposeViews();
  }

  private _disposeViews(): void {
    for (const view of this._views.values()) {
      view.dispose();
    }
    this._views.clear();
  }

  private readonly _createView: (message: ChatMessage) => IMessageView;
  private readonly _empty: HTMLElement;
  private readonly _list: HTMLElement;
  /** Message views by message id. */
  private readonly _views = new Map<string, IMessageView>();
  /** Whether the view follows new text (the student has not scrolled up). */
  private _pinned = true;
}

export namespace MessageLog {
  export interface IOptions {
    trans: TranslationBundle;
    /** The view of a new message (a question or an answer). */
    createView: (message: ChatMessage) => IMessageView;
  }
}
