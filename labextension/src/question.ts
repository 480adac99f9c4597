/**
 * A question of the student, as plain text (never HTML), with a line that says what it
 * was about (the error, the notebook and cell).
 */

import type { TranslationBundle } from '@jupyterlab/translation';

import type { IMessageView } from './messageview';
import type { IQuestionContext } from './protocol';
import type { ChatMessage } from './state';

/** What a question was about, in words: the error, then `notebook, cell N`. */
export function questionAbout(
  trans: TranslationBundle,
  context: IQuestionContext | undefined
): string[] {
  const about: string[] = [];
  if (context?.error) {
    about.push(`${context.error.ename}: ${context.error.evalue}`.replace(/: $/, ''));
  }
  if (context?.notebook_path) {
    about.push(
      typeof context.cell_index === 'number'
        ? trans.__('%1, cell %2', context.notebook_path, context.cell_index + 1)
        : context.notebook_path
    );
  }
  return about;
}

export class QuestionView implements IMessageView {
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
    const about = questionAbout(this._trans, message.request?.context);
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
