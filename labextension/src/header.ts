/**
 * The panel's header: its title, the title of the conversation shown, and the buttons
 * that show the conversation list and start a new conversation.
 */

import type { TranslationBundle } from '@jupyterlab/translation';
import { addIcon, listIcon } from '@jupyterlab/ui-components';

import { iconButton } from './dom';

export class PanelHeader {
  constructor(options: PanelHeader.IOptions) {
    const trans = options.trans;
    this.node = document.createElement('div');
    this.node.className = 'jp-tutor-Header';
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
    this._historyButton.addEventListener('click', () => options.toggleHistory());
    const newButton = iconButton(addIcon, trans.__('New conversation'), 'tutor-new');
    newButton.addEventListener('click', () => options.newConversation());
    this.node.append(titles, this._historyButton, newButton);
  }

  readonly node: HTMLElement;

  /** The title of the conversation shown (`null`: none yet). */
  setConversationTitle(title: string | null): void {
    this._subtitle.textContent = title ?? '';
    this._subtitle.hidden = !title;
  }

  /** Show the conversation-list button as pressed while the list is open. */
  setHistoryOpen(open: boolean): void {
    this._historyButton.setAttribute('aria-pressed', String(open));
    this._historyButton.classList.toggle('jp-mod-active', open);
  }

  private readonly _subtitle: HTMLElement;
  private readonly _historyButton: HTMLButtonElement;
}

export namespace PanelHeader {
  export interface IOptions {
    trans: TranslationBundle;
    /** Show or hide the conversation list. */
    toggleHistory: () => void;
    /** Start a new conversation. */
    newConversation: () => void;
  }
}
