/**
 * The vote bar under an answer (Helpful, Not helpful, Still stuck) and the line that
 * says what became of a vote.  Which answers take a vote is decided by the state
 * (`feedbackTarget`); this view only shows it.
 */

import type { TranslationBundle } from '@jupyterlab/translation';

import { makeButton } from './dom';
import { FEEDBACK_VOTES, FeedbackVote } from './protocol';
import type { IAssistantMessage, IFeedbackState } from './state';

/** What became of a vote, in words (empty before any vote). */
export function feedbackStatusText(
  trans: TranslationBundle,
  feedback: IFeedbackState | undefined
): string {
  if (!feedback) {
    return '';
  }
  if (feedback.status === 'sending') {
    return trans.__('Sending…');
  }
  if (feedback.status === 'failed') {
    return feedback.error ?? trans.__('Your vote was not recorded.');
  }
  if (feedback.vote === 'stuck') {
    return trans.__('Noted — ask again and the tutor will go one step further.');
  }
  return trans.__('Thanks — noted.');
}

export class FeedbackBar {
  constructor(options: FeedbackBar.IOptions) {
    this._options = options;
    const trans = options.trans;
    this.node = document.createElement('div');
    this.node.className = 'jp-tutor-Feedback';
    this.node.dataset.testid = 'tutor-feedback';
    this.node.setAttribute('role', 'group');
    this.node.setAttribute('aria-label', trans.__('Was this answer helpful?'));
    this.node.hidden = true;
    // Words, not 👍/👎: emoji fonts are missing on some systems (boxes instead).
    const labels: Record<FeedbackVote, { text: string; aria: string }> = {
      up: { text: trans.__('Helpful'), aria: trans.__('Helpful: vote this answer up') },
      down: {
        text: trans.__('Not helpful'),
        aria: trans.__('Not helpful: vote this answer down')
      },
      stuck: {
        text: trans.__('Still stuck'),
        aria: trans.__('Still stuck: the next hint goes one step further')
      }
    };
    for (const vote of FEEDBACK_VOTES) {
      const { text, aria } = labels[vote];
      const button = makeButton(text, aria, `tutor-vote-${vote}`);
      button.classList.add('jp-tutor-VoteButton');
      button.dataset.vote = vote;
      button.addEventListener('click', () => {
        if (this._message) {
          this._options.vote(this._message, vote);
        }
      });
      this._voteButtons.set(vote, button);
      this.node.appendChild(button);
    }
    this._status = document.createElement('span');
    this._status.className = 'jp-tutor-Feedback-status';
    this._status.dataset.testid = 'tutor-feedback-status';
    this._status.setAttribute('role', 'status');
    this.node.appendChild(this._status);
  }

  readonly node: HTMLElement;

  /**
   * Show the vote buttons when the answer takes a vote (`allowed`), and what became of
   * a vote once one was given (the buttons then stay, disabled, beside the outcome).
   */
  set(message: IAssistantMessage, allowed: boolean): void {
    this._message = message;
    const feedback = message.feedback;
    const key = JSON.stringify([allowed, feedback ?? null]);
    if (key === this._key) {
      return;
    }
    this._key = key;
    this.node.hidden = !allowed && !feedback;
    const busy = feedback?.status === 'sending' || feedback?.status === 'sent';
    for (const [vote, button] of this._voteButtons) {
      button.disabled = busy || !allowed;
      button.setAttribute('aria-pressed', String(!!feedback && feedback.vote === vote && busy));
    }
    this._status.classList.toggle('jp-mod-error', feedback?.status === 'failed');
    this.node.dataset.status = feedback?.status ?? '';
    this._status.textContent = feedbackStatusText(this._options.trans, feedback);
  }

  private readonly _options: FeedbackBar.IOptions;
  private readonly _status: HTMLElement;
  private readonly _voteButtons = new Map<FeedbackVote, HTMLButtonElement>();
  /** The answer the buttons vote on. */
  private _message: IAssistantMessage | null = null;
  /** What is shown, to skip redrawing the same. */
  private _key = '';
}

export namespace FeedbackBar {
  export interface IOptions {
    trans: TranslationBundle;
    /** Vote on the answer. */
    vote: (answer: IAssistantMessage, vote: FeedbackVote) => void;
  }
}
