/**
 * "Ask the tutor" buttons on the error outputs of notebook cells.
 *
 * JupyterLab renders error outputs (and stderr streams) with the mime type
 * `application/vnd.jupyter.stderr`.  Output widgets are created and replaced as cells
 * run and as the notebook's windowing attaches them, so the buttons are added by a
 * MutationObserver per notebook that looks, at most once per animation frame, for
 * error outputs without a button.  Only real `error` outputs get one (a warning on
 * stderr is not an error to explain).
 */

import { CodeCell, Cell } from '@jupyterlab/cells';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { TranslationBundle } from '@jupyterlab/translation';
import { IDisposable } from '@lumino/disposable';

import { tutorIcon } from './icons';

/** The selector of rendered error and stderr outputs. */
export const ERROR_OUTPUT_SELECTOR =
  '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]';

/** Marks a stderr-typed output node that is not an error (a stream), so it is skipped. */
const NOT_ERROR_ATTRIBUTE = 'data-jp-tutor-not-error';

export class ErrorButtons implements IDisposable {
  /**
   * @param tracker - the notebooks to watch.
   * @param onAsk - what a click does (open the panel and explain the cell's error).
   */
  constructor(
    tracker: INotebookTracker,
    onAsk: (panel: NotebookPanel, cell: CodeCell) => void,
    trans: TranslationBundle
  ) {
    this._tracker = tracker;
    this._onAsk = onAsk;
    this._trans = trans;
    tracker.forEach(panel => this._watch(panel));
    tracker.widgetAdded.connect(this._onAdded, this);
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  /** Whether buttons are shown (the `showErrorButton` setting). */
  get enabled(): boolean {
    return this._enabled;
  }
  set enabled(value: boolean) {
    if (value === this._enabled) {
      return;
    }
    this._enabled = value;
    if (value) {
      this._tracker.forEach(panel => this._watch(panel));
    } else {
      for (const [panel, observer] of this._observers) {
        observer.disconnect();
        panel.node.querySelectorAll('.jp-tutor-AskErrorButton').forEach(b => b.remove());
        panel.node
          .querySelectorAll(`[${NOT_ERROR_ATTRIBUTE}]`)
          .forEach(n => n.removeAttribute(NOT_ERROR_ATTRIBUTE));
      }
      this._observers.clear();
    }
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    this._tracker.widgetAdded.disconnect(this._onAdded, this);
    this.enabled = false;
  }

  private _onAdded(_: INotebookTracker, panel: NotebookPanel): void {
    this._watch(panel);
  }

  private _watch(panel: NotebookPanel): void {
    if (!this._enabled || this._observers.has(panel) || panel.isDisposed) {
      return;
    }
    let scheduled = false;
    const schedule = () => {
      if (scheduled) {
        return;
      }
      scheduled = true;
      requestAnimationFrame(() => {
        scheduled = false;
        if (!panel.isDisposed && this._observers.has(panel)) {
          this._scan(panel);
        }
      });
    };
    const observer = new MutationObserver(records => {
      for (const record of records) {
        // An error output re-rendered in place loses its button.
        if (
          record.target instanceof HTMLElement &&
          record.target.closest(ERROR_OUTPUT_SELECTOR) &&
          record.addedNodes.length
        ) {
          schedule();
          return;
        }
        for (const node of Array.from(record.addedNodes)) {
          if (
            node instanceof HTMLElement &&
            (node.matches('.jp-OutputArea-child, .jp-OutputArea-output') ||
              node.querySelector('.jp-OutputArea-output'))
          ) {
            schedule();
            return;
          }
        }
      }
    });
    observer.observe(panel.content.node, { childList: true, subtree: true });
    this._observers.set(panel, observer);
    panel.disposed.connect(() => {
      observer.disconnect();
      this._observers.delete(panel);
    });
    schedule();
  }

  private _scan(panel: NotebookPanel): void {
    const nodes = panel.content.node.querySelectorAll<HTMLElement>(
      `${ERROR_OUTPUT_SELECTOR}:not([${NOT_ERROR_ATTRIBUTE}])`
    );
    nodes.forEach(output => {
      if (output.querySelector(':scope > .jp-tutor-AskErrorButton')) {
        return;
      }
      const cell = findCell(panel, output);
      if (!cell) {
        return;
      }
      if (!isErrorOutput(cell, output)) {
        output.setAttribute(NOT_ERROR_ATTRIBUTE, '');
        return;
      }
      const button = document.createElement('button');
      button.type = 'button';
      button.className = 'jp-tutor-AskErrorButton';
      button.dataset.testid = 'tutor-ask-error';
      const label = this._trans.__('Ask the tutor about this error');
      button.setAttribute('aria-label', label);
      button.title = label;
      button.appendChild(tutorIcon.element({ tag: 'span', elementSize: 'small' }));
      const text = document.createElement('span');
      text.textContent = this._trans.__('Ask the tutor');
      button.appendChild(text);
      button.addEventListener('click', event => {
        event.preventDefault();
        event.stopPropagation();
        const current = findCell(panel, button);
        if (current) {
          this._onAsk(panel, current);
        }
      });
      // Inside the output node, so it goes when the output is cleared or replaced.
      output.appendChild(button);
    });
  }

  private readonly _tracker: INotebookTracker;
  private readonly _onAsk: (panel: NotebookPanel, cell: CodeCell) => void;
  private readonly _trans: TranslationBundle;
  private readonly _observers = new Map<NotebookPanel, MutationObserver>();
  private _enabled = true;
  private _disposed = false;
}

/** The code cell of a notebook that contains `node`. */
export function findCell(panel: NotebookPanel, node: Node): CodeCell | null {
  const cell = panel.content.widgets.find(c => c.node.contains(node));
  return cell && cell.model.type === 'code' ? (cell as CodeCell) : null;
}

/** Whether a rendered stderr-typed output node shows an `error` output of its cell. */
function isErrorOutput(cell: Cell, output: HTMLElement): boolean {
  const code = cell as CodeCell;
  const area = code.outputArea;
  if (!area) {
    return false;
  }
  const children = Array.from(area.node.children).filter(c =>
    c.classList.contains('jp-OutputArea-child')
  );
  const index = children.findIndex(child => child.contains(output));
  if (index < 0 || index >= code.model.outputs.length) {
    return false;
  }
  return code.model.outputs.get(index).type === 'error';
}
