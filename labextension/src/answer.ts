/**
 * An answer of the tutor: its Markdown runs and tool steps in stream order, a
 * "Thinking…" line while it waits, its sources, its error, how it ended, and the vote
 * bar.  Each of these is a view of its own; this one puts them together and redraws
 * only what changed (state objects are replaced, never mutated).
 */

import type { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import type { ITranslator, TranslationBundle } from '@jupyterlab/translation';

import { CitationList } from './citations';
import { ErrorBox } from './errorbox';
import { FeedbackBar } from './feedback';
import { AnswerFooter } from './footer';
import { ICodeActions, MarkdownView } from './markdown';
import type { IMessageView } from './messageview';
import type { FeedbackVote } from './protocol';
import type { AnswerPart, ChatMessage, IAssistantMessage, ICitation } from './state';
import { ToolStepView } from './toolstep';

/** The view of one part of an answer, and the part it shows. */
interface IPartSlot {
  readonly kind: AnswerPart['kind'];
  readonly view: MarkdownView | ToolStepView;
  part: AnswerPart | null;
}

export class AnswerView implements IMessageView {
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
    this._citations = new CitationList({ trans, openCitation: options.openCitation });
    this._error = new ErrorBox({
      trans,
      retry: () => {
        if (this._message) {
          options.retry(this._message);
        }
      },
      pickCourse: course => {
        if (this._message) {
          options.pickCourse(this._message, course);
        }
      }
    });
    this._footer = new AnswerFooter(trans);
    this._feedback = new FeedbackBar({ trans, vote: options.vote });
    this.node.append(
      this._body,
      this._thinking,
      this._citations.node,
      this._error.node,
      this._footer.node,
      this._feedback.node
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
      let slot: IPartSlot | undefined = this._parts[i];
      if (slot && slot.kind !== part.kind) {
        slot.view.dispose();
        slot = undefined;
      }
      if (!slot) {
        slot = this._createSlot(part);
        this._parts[i] = slot;
        const after = this._parts[i - 1]?.view.node ?? null;
        this._body.insertBefore(slot.view.node, after ? after.nextSibling : this._body.firstChild);
      }
      if (slot.part !== part || finished || !previous) {
        renderPart(slot, part, !streaming);
      }
    });
    for (const slot of this._parts.splice(message.parts.length)) {
      slot.view.dispose();
    }

    this._thinking.hidden = !(
      streaming &&
      (message.parts.length === 0 || message.parts[message.parts.length - 1].kind === 'tool')
    );
    if (!previous || previous.citations !== message.citations) {
      this._citations.render(message.citations);
    }
    this._error.show(message.status === 'error' ? message.error : undefined);
    this._footer.render(message);
  }

  /** Show the vote bar when the answer takes a vote, and what became of a vote. */
  setFeedback(message: IAssistantMessage, allowed: boolean): void {
    this._feedback.set(message, allowed);
  }

  dispose(): void {
    for (const slot of this._parts) {
      slot.view.dispose();
    }
    this._parts = [];
    this._error.dispose();
    this.node.remove();
  }

  private _createSlot(part: AnswerPart): IPartSlot {
    const options = this._options;
    const view =
      part.kind === 'text'
        ? new MarkdownView({
            rendermime: options.rendermime,
            actions: options.codeActions,
            trans: options.trans,
            translator: options.translator,
            onRender: options.onRender
          })
        : new ToolStepView(options.trans);
    return { kind: part.kind, view, part: null };
  }

  private readonly _options: AnswerView.IOptions;
  private readonly _body: HTMLElement;
  private readonly _thinking: HTMLElement;
  private readonly _citations: CitationList;
  private readonly _error: ErrorBox;
  private readonly _footer: AnswerFooter;
  private readonly _feedback: FeedbackBar;
  private _parts: IPartSlot[] = [];
  private _message: IAssistantMessage | null = null;
}

export namespace AnswerView {
  export interface IOptions {
    rendermime: IRenderMimeRegistry;
    translator: ITranslator;
    trans: TranslationBundle;
    codeActions: ICodeActions;
    openCitation: (citation: ICitation) => void;
    retry: (answer: IAssistantMessage) => void;
    /** Ask the answer's question again in the course the student picked. */
    pickCourse: (answer: IAssistantMessage, course: string) => void;
    /** Vote on the answer. */
    vote: (answer: IAssistantMessage, vote: FeedbackVote) => void;
    /** Called after each render of Markdown (the log keeps the newest text in view). */
    onRender: () => void;
  }
}

/** Show `part` in its slot; Markdown is `final` (typeset, unthrottled) once the answer ended. */
function renderPart(slot: IPartSlot, part: AnswerPart, final: boolean): void {
  slot.part = part;
  if (part.kind === 'text' && slot.view instanceof MarkdownView) {
    slot.view.setText(part.text, final);
  } else if (part.kind === 'tool' && slot.view instanceof ToolStepView) {
    slot.view.update(part);
  }
}
