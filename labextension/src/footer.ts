/**
 * The line under an answer: how it ended when that was not normally (stopped,
 * interrupted, cut short) and, once it is complete, the tokens it used.
 */

import type { TranslationBundle } from '@jupyterlab/translation';

import type { IAssistantMessage } from './state';

/** How an answer ended, in words, when it did not end normally; else `''`. */
export function endingNote(trans: TranslationBundle, message: IAssistantMessage): string {
  if (message.stopReason === 'interrupted') {
    return trans.__('This answer was interrupted.');
  }
  if (message.status === 'stopped') {
    return trans.__('Stopped.');
  }
  if (message.stopReason === 'max_tokens') {
    return trans.__('The answer was cut short (length limit).');
  }
  if (message.stopReason === 'max_tool_rounds') {
    return trans.__('The tutor stopped after too many steps.');
  }
  return '';
}

export class AnswerFooter {
  constructor(trans: TranslationBundle) {
    this._trans = trans;
    this.node = document.createElement('div');
    this.node.className = 'jp-tutor-Answer-footer';
  }

  readonly node: HTMLElement;

  render(message: IAssistantMessage): void {
    const trans = this._trans;
    this.node.textContent = endingNote(trans, message);
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
      this.node.appendChild(usage);
    }
    this.node.hidden = !this.node.childNodes.length;
  }

  private readonly _trans: TranslationBundle;
}
