/**
 * The student's stored conversations (hidden until asked for): newest first, each
 * with its title, notebook and date; the one shown is marked as current.
 */

import type { TranslationBundle } from '@jupyterlab/translation';
import { refreshIcon } from '@jupyterlab/ui-components';

import { iconButton } from './dom';
import { formatDate } from './format';
import type { IConversationSummary } from './protocol';

export class ConversationList {
  constructor(options: ConversationList.IOptions) {
    this._options = options;
    const trans = options.trans;
    this.node = document.createElement('div');
    this.node.className = 'jp-tutor-History';
    this.node.hidden = true;
    this.node.dataset.testid = 'tutor-conversations';
    const head = document.createElement('div');
    head.className = 'jp-tutor-History-header';
    const title = document.createElement('h3');
    title.textContent = trans.__('Your conversations');
    const refresh = iconButton(
      refreshIcon,
      trans.__('Refresh the conversation list'),
      'tutor-history-refresh'
    );
    refresh.addEventListener('click', () => options.refresh());
    head.append(title, refresh);
    this._list = document.createElement('ul');
    this._list.className = 'jp-tutor-History-list';
    this._list.setAttribute('aria-label', trans.__('Your conversations'));
    this._status = document.createElement('div');
    this._status.className = 'jp-tutor-History-status';
    this._status.setAttribute('role', 'status');
    this.node.append(head, this._status, this._list);
  }

  readonly node: HTMLElement;

  /** Whether no conversation is listed (none loaded yet, or none stored). */
  get isEmpty(): boolean {
    return this._list.childElementCount === 0;
  }

  /** The line above the list: loading, opening, an error, or nothing (`''`). */
  setStatus(text: string): void {
    this._status.textContent = text;
  }

  /** Mark the list as loading. */
  setBusy(busy: boolean): void {
    if (busy) {
      this._list.setAttribute('aria-busy', 'true');
    } else {
      this._list.removeAttribute('aria-busy');
    }
  }

  /** List `conversations`, marking `currentId` as the one shown. */
  render(conversations: readonly IConversationSummary[], currentId: string | null): void {
    const trans = this._options.trans;
    this._list.textContent = '';
    for (const c of conversations) {
      const item = document.createElement('li');
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'jp-tutor-ConversationItem';
      button.dataset.testid = 'tutor-conversation';
      button.dataset.conversationId = c.id;
      if (c.id === currentId) {
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
      button.addEventListener('click', () => this._options.open(c.id));
      item.appendChild(button);
      this._list.appendChild(item);
    }
  }

  private readonly _options: ConversationList.IOptions;
  private readonly _list: HTMLElement;
  private readonly _status: HTMLElement;
}

export namespace ConversationList {
  export interface IOptions {
    trans: TranslationBundle;
    /** Load the list again. */
    refresh: () => void;
    /** Open a stored conversation. */
    open: (id: string) => void;
  }
}
