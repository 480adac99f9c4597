/**
 * One tool step of an answer (search the course, read a cell, run code…) as a
 * collapsible `<details>`: what was done, on what, its status, and the input and result
 * as plain text (tool output is never rendered as HTML).
 */

import type { TranslationBundle } from '@jupyterlab/translation';

import { formatValue, summarizeTool } from './format';
import type { IToolStep } from './state';

export class ToolStepView {
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

  update(step: IToolStep): void {
    const previous = this._step;
    this._step = step;
    const trans = this._trans;
    const { action, detail } = summarizeTool(step.name, step.input);
    this.node.dataset.status = step.status;
    this.node.dataset.tool = step.name;
    this._action.textContent = trans.__(action);
    this._detail.textContent = detail;
    this._detail.hidden = !detail;
    const statusText: Record<IToolStep['status'], string> = {
      running: trans.__('running'),
      done: trans.__('done'),
      error: trans.__('failed'),
      interrupted: trans.__('interrupted')
    };
    this._status.dataset.status = step.status;
    this._summary.setAttribute(
      'aria-label',
      `${trans.__(action)} ${detail} (${statusText[step.status]})`.replace('  ', ' ')
    );
    if (previous && previous.input === step.input && previous.output === step.output) {
      return;
    }
    this._content.textContent = '';
    const input = formatValue(step.input);
    if (input) {
      this._content.append(labelled(trans.__('Input'), input, 'jp-tutor-ToolStep-input'));
    }
    if (step.output !== undefined) {
      const block = labelled(
        step.status === 'error' ? trans.__('Error') : trans.__('Result'),
        formatValue(step.output) || trans.__('(nothing)'),
        'jp-tutor-ToolStep-output'
      );
      block.classList.toggle('jp-mod-error', step.status === 'error');
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
  /** The step shown (the input and result are redrawn only when they change). */
  private _step: IToolStep | null = null;
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
