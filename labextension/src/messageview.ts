/**
 * What the message log asks of the view of one message (a question or an answer).
 */

import type { ChatMessage, IAssistantMessage } from './state';

/** The DOM of one message. */
export interface IMessageView {
  readonly node: HTMLElement;
  /** Show `message` (a new object each time it changed: the state is immutable). */
  update(message: ChatMessage): void;
  /** Whether the answer takes a vote now (answers only). */
  setFeedback?(message: IAssistantMessage, allowed: boolean): void;
  dispose(): void;
}
