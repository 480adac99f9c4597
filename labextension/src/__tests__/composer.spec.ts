/**
 * @jest-environment jsdom
 *
 * The question box and the message log, without a browser: what Enter, Shift+Enter and
 * Escape do, Send and Stop while an answer streams, and which message views are made,
 * redrawn and removed as the state changes.
 */

import { Composer } from '../composer';
import { MessageLog } from '../messagelog';
import type { IMessageView } from '../messageview';
import { ChatMessage, IAssistantMessage, IChatState, INITIAL_STATE } from '../state';
import { trans } from './fakes';

describe('Composer', () => {
  function make() {
    const sent: string[] = [];
    const stop = jest.fn();
    const composer = new Composer({ trans, send: text => sent.push(text), stop });
    const q = (id: string) =>
      composer.node.querySelector<HTMLElement>(`[data-testid="${id}"]`) as HTMLElement;
    const input = q('tutor-input') as HTMLTextAreaElement;
    const type = (text: string) => {
      input.value = text;
      input.dispatchEvent(new Event('input'));
    };
    const key = (key: string, init: KeyboardEventInit = {}) => {
      const event = new KeyboardEvent('keydown', { key, cancelable: true, ...init });
      input.dispatchEvent(event);
      return event;
    };
    return {
      composer,
      sent,
      stop,
      input,
      type,
      key,
      send: q('tutor-send') as HTMLButtonElement,
      stopButton: q('tutor-stop') as HTMLButtonElement
    };
  }

  it('sends with Enter and empties the box; Shift+Enter is a new line', () => {
    const c = make();
    expect(c.send.disabled).toBe(true);
    c.type('why?');
    expect(c.send.disabled).toBe(false);
    expect(c.key('Enter', { shiftKey: true }).defaultPrevented).toBe(false);
    expect(c.sent).toEqual([]);
    expect(c.key('Enter').defaultPrevented).toBe(true);
    expect(c.sent).toEqual(['why?']);
    expect(c.input.value).toBe('');
    expect(c.send.disabled).toBe(true);
  });

  it('sends nothing blank, nor with Ctrl+Enter', () => {
    const c = make();
    c.type('   ');
    c.key('Enter');
    c.type('x');
    c.key('Enter', { ctrlKey: true });
    expect(c.sent).toEqual([]);
  });

  it('shows Stop instead of Send while an answer streams; Escape stops it', () => {
    const c = make();
    expect(c.stopButton.hidden).toBe(true);
    c.composer.setStreaming(true);
    expect(c.stopButton.hidden).toBe(false);
    expect(c.send.hidden).toBe(true);
    c.type('next question');
    c.key('Enter');
    expect(c.sent).toEqual([]);
    expect(c.input.value).toBe('next question');
    c.key('Escape');
    c.stopButton.click();
    expect(c.stop).toHaveBeenCalledTimes(2);
    c.composer.setStopping();
    expect(c.stopButton.disabled).toBe(true);
    c.composer.setStreaming(false);
    expect(c.stopButton.disabled).toBe(false);
    expect(c.stopButton.hidden).toBe(true);
    c.key('Escape');
    expect(c.stop).toHaveBeenCalledTimes(2);
  });

  it('shows the context line only when there is one, and the course notice', () => {
    const c = make();
    const context = c.composer.node.querySelector<HTMLElement>('[data-testid="tutor-context"]')!;
    c.composer.setContext('Context: week1.ipynb, cell 2');
    expect(context.hidden).toBe(false);
    expect(context.textContent).toBe('Context: week1.ipynb, cell 2');
    c.composer.setContext(null);
    expect(context.hidden).toBe(true);
    c.composer.setNotice('Your instructors read conversations.');
    const notice = c.composer.node.querySelector<HTMLElement>(
      '[data-testid="tutor-privacy-note"]'
    )!;
    expect(notice.textContent).toBe('Your instructors read conversations.');
    expect(notice.dataset.source).toBe('course');
  });
});

describe('MessageLog', () => {
  /** A view that records what it was asked to do. */
  class FakeView implements IMessageView {
    constructor(readonly id: string) {
      this.node.dataset.id = id;
    }
    readonly node = document.createElement('div');
    updates: ChatMessage[] = [];
    votes: boolean[] = [];
    disposed = false;
    update(message: ChatMessage): void {
      this.updates.push(message);
    }
    setFeedback(message: IAssistantMessage, allowed: boolean): void {
      this.votes.push(allowed);
    }
    dispose(): void {
      this.disposed = true;
      this.node.remove();
    }
  }

  const question: ChatMessage = { role: 'user', id: 'q-1', text: 'why?' };
  const streaming: IAssistantMessage = {
    role: 'assistant',
    id: 'a-1',
    parts: [],
    citations: [],
    status: 'streaming',
    questionId: 'q-1'
  };
  const state = (messages: ChatMessage[], fields: Partial<IChatState> = {}): IChatState => ({
    ...INITIAL_STATE,
    conversationId: 'c-1',
    messages,
    ...fields
  });

  function make() {
    const views = new Map<string, FakeView>();
    const log = new MessageLog({
      trans,
      createView: message => {
        const view = new FakeView(message.id);
        views.set(message.id, view);
        return view;
      }
    });
    const list = log.node.querySelector('.jp-tutor-MessageList')!;
    const empty = log.node.querySelector<HTMLElement>('.jp-tutor-Empty')!;
    return { log, views, list, empty };
  }

  it('greets while empty, then makes one view per message in order', () => {
    const { log, views, list, empty } = make();
    log.update(INITIAL_STATE, null);
    expect(empty.hidden).toBe(false);
    const s1 = state([question, streaming], { streamingId: 'a-1' });
    log.update(s1, INITIAL_STATE);
    expect(empty.hidden).toBe(true);
    expect(Array.from(list.children).map(n => (n as HTMLElement).dataset.id)).toEqual([
      'q-1',
      'a-1'
    ]);
    expect(views.get('a-1')!.updates).toEqual([streaming]);
    expect(views.get('a-1')!.votes).toEqual([false]); // no vote while it streams
    expect(views.get('q-1')!.votes).toEqual([]);
  });

  it('redraws only the messages that changed, and rebuilds on a new conversation', () => {
    const { log, views } = make();
    const s1 = state([question, streaming], { streamingId: 'a-1' });
    log.update(s1, null);
    const done: IAssistantMessage = { ...streaming, status: 'done' };
    const s2 = state([question, done]);
    log.update(s2, s1);
    expect(views.get('q-1')!.updates).toHaveLength(1);
    expect(views.get('a-1')!.updates).toEqual([streaming, done]);
    expect(views.get('a-1')!.votes).toEqual([false, true]);

    const first = views.get('a-1')!;
    log.update(s2, null);
    expect(first.disposed).toBe(true);
    expect(views.get('a-1')).not.toBe(first);
  });

  it('removes the views of messages that are gone', () => {
    const { log, views, list } = make();
    const s1 = state([question, streaming]);
    log.update(s1, null);
    log.update(state([]), s1);
    expect(views.get('q-1')!.disposed).toBe(true);
    expect(list.childElementCount).toBe(0);
  });
});
