/**
 * Why an answer failed, in words written for the student, with Retry where asking
 * again can help; after a rate limit, Retry stays disabled while a countdown runs to
 * the moment the server accepts the question again.  When the student must pick the
 * question's course, one button per course asks it again in that course.
 */

import type { TranslationBundle } from '@jupyterlab/translation';

import { makeButton } from './dom';
import type { IAnswerError } from './state';

export class ErrorBox {
  constructor(options: ErrorBox.IOptions) {
    this._options = options;
    this.node = document.createElement('div');
    this.node.className = 'jp-tutor-Error';
    this.node.setAttribute('role', 'alert');
    this.node.dataset.testid = 'tutor-error';
  }

  readonly node: HTMLElement;

  /** Show `error`, or hide the box (`undefined`).  Showing the same error again is a no-op. */
  show(error: IAnswerError | undefined): void {
    if (this._shown === error) {
      return;
    }
    this._shown = error;
    this._stopCountdown();
    this.node.textContent = '';
    this.node.hidden = !error;
    if (!error) {
      return;
    }
    const trans = this._options.trans;
    this.node.dataset.code = error.code;
    const title = document.createElement('strong');
    title.className = 'jp-tutor-Error-title';
    title.textContent = error.title;
    const text = document.createElement('p');
    text.className = 'jp-tutor-Error-message';
    text.textContent = error.message;
    this.node.append(title, text);
    if (error.courses?.length) {
      this.node.appendChild(this._courseChoice(error.courses));
    }
    if (!error.retryable) {
      return;
    }
    const retry = makeButton(trans.__('Retry'), trans.__('Ask this question again'), 'tutor-retry');
    retry.addEventListener('click', () => this._options.retry());
    this.node.appendChild(retry);
    if (error.retryAfter) {
      this._countdown(Math.ceil(error.retryAfter), retry);
    }
  }

  /** One button per course; pressing one asks the question again in that course. */
  private _courseChoice(courses: string[]): HTMLElement {
    const trans = this._options.trans;
    const group = document.createElement('div');
    group.className = 'jp-tutor-Error-courses';
    group.setAttribute('role', 'group');
    group.setAttribute('aria-label', trans.__('Your courses'));
    for (const course of courses) {
      const button = makeButton(
        course,
        trans.__('Ask in the course %1 (remembered for this notebook)', course),
        'tutor-course-choice'
      );
      button.dataset.course = course;
      button.addEventListener('click', () => this._options.pickCourse?.(course));
      group.appendChild(button);
    }
    return group;
  }

  /** Stop the countdown (the view goes away). */
  dispose(): void {
    this._stopCountdown();
  }

  /** Count down to the moment the server will accept the question again. */
  private _countdown(seconds: number, retry: HTMLButtonElement): void {
    const trans = this._options.trans;
    let left = seconds;
    const wait = document.createElement('span');
    wait.className = 'jp-tutor-Error-wait';
    const tick = () => {
      wait.textContent = trans._n(
        'You can ask again in %1 second.',
        'You can ask again in %1 seconds.',
        left,
        left
      );
      retry.disabled = left > 0;
      if (left <= 0) {
        wait.textContent = '';
        this._stopCountdown();
      }
      left--;
    };
    tick();
    this._timer = window.setInterval(tick, 1000);
    this.node.insertBefore(wait, retry);
  }

  private _stopCountdown(): void {
    if (this._timer !== null) {
      window.clearInterval(this._timer);
      this._timer = null;
    }
  }

  private readonly _options: ErrorBox.IOptions;
  /** The error shown (`null`: nothing shown yet). */
  private _shown: IAnswerError | undefined | null = null;
  private _timer: number | null = null;
}

export namespace ErrorBox {
  export interface IOptions {
    trans: TranslationBundle;
    /** Ask the failed question again. */
    retry: () => void;
    /** Ask the failed question again in the course the student picked. */
    pickCourse?: (course: string) => void;
  }
}
