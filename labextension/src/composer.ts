/**
 * The question box: the line that says what context goes with a question, the text
 * area (Enter sends, Shift+Enter starts a new line, Escape stops an answer), Send or
 * Stop, and the privacy notice (who reads conversations).
 */

import type { TranslationBundle } from '@jupyterlab/translation';

export class Composer {
  constructor(options: Composer.IOptions) {
    this._options = options;
    const trans = options.trans;
    this.node = document.createElement('form');
    this.node.className = 'jp-tutor-Composer';
    this.node.setAttribute('aria-label', trans.__('Ask the tutor'));
    this.node.addEventListener('submit', event => {
      event.preventDefault();
      this._submit();
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
    this._input.addEventListener('keydown', this._onKeydown);
    this._input.addEventListener('input', () => this._updateButtons());
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
    this._stopButton.addEventListener('click', () => options.stop());
    actions.append(this._stopButton, this._sendButton);
    this._notice = document.createElement('p');
    this._notice.className = 'jp-tutor-Notice';
    this._notice.dataset.testid = 'tutor-privacy-note';
    // Neutral until the course says who reads conversations (GET course).
    this._notice.textContent = trans.__(
      'Conversations are saved and may be visible to your instructors where your course allows it.'
    );
    this.node.append(this._context, this._input, actions, this._notice);
    this._updateButtons();
  }

  readonly node: HTMLFormElement;

  /** Put the keyboard focus in the question box. */
  focus(): void {
    this._input.focus();
  }

  /** Fill the question box (without sending). */
  setDraft(text: string): void {
    this._input.value = text;
    this._updateButtons();
  }

  /** The line describing the context sent with a question; `null` hides it. */
  setContext(text: string | null): void {
    this._context.hidden = !text;
    this._context.textContent = text ?? '';
    this._context.title = text ?? '';
  }

  /** The course's own sentence about who reads conversations. */
  setNotice(text: string): void {
    this._notice.textContent = text;
    this._notice.dataset.source = 'course';
  }

  /** Whether an answer streams: Stop instead of Send, and nothing is sent. */
  setStreaming(streaming: boolean): void {
    this._streaming = streaming;
    if (!streaming) {
      this._stopButton.disabled = false; // disabled while a stop is pending only
    }
    this._updateButtons();
  }

  /** A stop was asked for: Stop is disabled until the answer ends. */
  setStopping(): void {
    this._stopButton.disabled = true;
  }

  private _submit(): void {
    const text = this._input.value;
    if (!text.trim() || this._streaming) {
      return;
    }
    this._input.value = '';
    this._updateButtons();
    this._options.send(text);
  }

  private _onKeydown = (event: KeyboardEvent): void => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      if (event.altKey || event.ctrlKey || event.metaKey) {
        return;
      }
      event.preventDefault();
      this._submit();
    } else if (event.key === 'Escape' && this._streaming) {
      event.preventDefault();
      this._options.stop();
    }
  };

  private _updateButtons(): void {
    this._stopButton.hidden = !this._streaming;
    this._sendButton.hidden = this._streaming;
    this._sendButton.disabled = this._streaming || !this._input.value.trim();
  }

  private readonly _options: Composer.IOptions;
  private readonly _context: HTMLElement;
  private readonly _input: HTMLTextAreaElement;
  private readonly _sendButton: HTMLButtonElement;
  private readonly _stopButton: HTMLButtonElement;
  private readonly _notice: HTMLElement;
  private _streaming = false;
}

export namespace Composer {
  export interface IOptions {
    trans: TranslationBundle;
    /** Ask `text` (the box is already emptied). */
    send: (text: string) => void;
    /** Stop the answer being streamed. */
    stop: () => void;
  }
}
