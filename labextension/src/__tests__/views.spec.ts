/**
 * @jest-environment jsdom
 *
 * The views of one answer, each on its own: sources, the error box and its countdown,
 * the vote bar, tool steps, the footer, and the question.  Model and tool text must
 * reach the page as text, never as HTML.
 */

import { CitationList, citationPlace } from '../citations';
import { ErrorBox } from '../errorbox';
import { FeedbackBar, feedbackStatusText } from '../feedback';
import { AnswerFooter, endingNote } from '../footer';
import { QuestionView, questionAbout } from '../question';
import {
  IAnswerError,
  IAssistantMessage,
  ICitation,
  IToolStep,
  messagesFromHistory
} from '../state';
import { ToolStepView } from '../toolstep';
import { trans } from './fakes';
import oneAnswer from './one_answer.json';

const answer = (fields: Partial<IAssistantMessage> = {}): IAssistantMessage => ({
  role: 'assistant',
  id: 'a-1',
  parts: [],
  citations: [],
  status: 'done',
  ...fields
});

const testid = (root: Element, id: string): HTMLElement[] =>
  Array.from(root.querySelectorAll<HTMLElement>(`[data-testid="${id}"]`));

describe('CitationList', () => {
  const cell: ICitation = {
    course: 'intro-python',
    path: 'week1/loops.ipynb',
    cell: 3,
    heading: 'While loops',
    text: 'A while loop runs while its condition holds.'
  };
  const file: ICitation = { ...cell, path: 'notes/loops.md', cell: null, heading: '' };

  it('names the cell 1-based, or the file alone when the passage has no cell', () => {
    expect(citationPlace(trans, cell)).toBe('week1/loops.ipynb, cell 4');
    expect(citationPlace(trans, file)).toBe('notes/loops.md');
  });

  it('shows one button per source, and a null cell without a cell number', () => {
    const opened: ICitation[] = [];
    const list = new CitationList({ trans, openCitation: c => opened.push(c) });
    list.render([cell, file]);
    expect(list.node.hidden).toBe(false);
    const [first, second] = testid(list.node, 'tutor-citation');
    expect(first.dataset.cell).toBe('3');
    expect(first.querySelector('.jp-tutor-Citation-meta')!.textContent).toBe(
      'intro-python · week1/loops.ipynb, cell 4'
    );
    expect(first.getAttribute('aria-label')).toBe('Open While loops at week1/loops.ipynb, cell 4');
    expect(second.dataset.cell).toBeUndefined();
    expect(second.dataset.path).toBe('notes/loops.md');
    expect(second.textContent).not.toMatch(/cell|null|NaN/);
    second.click();
    expect(opened).toEqual([file]);
  });

  it('names a cell as the answer body, the magics and the dashboard do', () => {
    // tests/test_cell_numbers.py checks the same place in the other three
    expect(citationPlace(trans, oneAnswer.citation)).toBe(oneAnswer.place);
  });

  it('shows the sources of an answer reopened from the history', () => {
    const [, reopened] = messagesFromHistory([
      { role: 'user', content: 'Why does my loop never stop?' },
      { role: 'assistant', content: 'Change i.', status: 'complete', citations: [cell] }
    ]) as [unknown, IAssistantMessage];
    const list = new CitationList({ trans, openCitation: () => undefined });
    list.render(reopened.citations);
    const [link] = testid(list.node, 'tutor-citation');
    expect(link.dataset.cell).toBe('3');
    expect(link.querySelector('.jp-tutor-Citation-meta')!.textContent).toBe(
      'intro-python · week1/loops.ipynb, cell 4'
    );
  });

  it('is hidden without sources, and shows passages as text with a short tooltip', () => {
    const list = new CitationList({ trans, openCitation: () => undefined });
    list.render([{ ...cell, heading: '<img src=x onerror=alert(1)>', text: 'x'.repeat(400) }]);
    const [link] = testid(list.node, 'tutor-citation');
    expect(link.querySelector('img')).toBeNull();
    expect(link.title).toHaveLength(300);
    list.render([]);
    expect(list.node.hidden).toBe(true);
    expect(list.node.childElementCount).toBe(0);
  });
});

describe('ErrorBox', () => {
  const limited: IAnswerError = {
    code: 'rate_limited',
    title: 'Too many questions',
    message: 'Wait a little.',
    retryAfter: 2.2,
    retryable: true
  };

  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('counts down before Retry can be pressed, then asks again', () => {
    const retry = jest.fn();
    const box = new ErrorBox({ trans, retry });
    box.show(limited);
    const [button] = testid(box.node, 'tutor-retry') as HTMLButtonElement[];
    const wait = box.node.querySelector('.jp-tutor-Error-wait')!;
    expect(box.node.dataset.code).toBe('rate_limited');
    expect(box.node.textContent).toContain('Wait a little.');
    expect(wait.textContent).toBe('You can ask again in 3 seconds.');
    expect(button.disabled).toBe(true);
    jest.advanceTimersByTime(2000);
    expect(wait.textContent).toBe('You can ask again in 1 second.');
    jest.advanceTimersByTime(1000);
    expect(wait.textContent).toBe('');
    expect(button.disabled).toBe(false);
    expect(jest.getTimerCount()).toBe(0);
    button.click();
    expect(retry).toHaveBeenCalledTimes(1);
  });

  it('offers no Retry when asking again cannot help, and hides when the error goes', () => {
    const box = new ErrorBox({ trans, retry: () => undefined });
    box.show({ code: 'budget_exceeded', title: 'Budget', message: 'Spent.', retryable: false });
    expect(testid(box.node, 'tutor-retry')).toHaveLength(0);
    expect(box.node.hidden).toBe(false);
    box.show(undefined);
    expect(box.node.hidden).toBe(true);
    expect(box.node.textContent).toBe('');
  });

  it('offers one button per course when the course must be picked', () => {
    const pickCourse = jest.fn();
    const box = new ErrorBox({ trans, retry: () => undefined, pickCourse });
    box.show({
      code: 'course_choice_required',
      title: 'Which course is this notebook for?',
      message: 'Pick one.',
      retryable: false,
      courses: ['data-pandas', '<b>intro</b>']
    });
    const buttons = testid(box.node, 'tutor-course-choice');
    expect(buttons.map(b => b.textContent)).toEqual(['data-pandas', '<b>intro</b>']);
    expect(box.node.querySelector('b')).toBeNull(); // names are text, never HTML
    expect(testid(box.node, 'tutor-retry')).toHaveLength(0);
    buttons[1].click();
    expect(pickCourse).toHaveBeenCalledWith('<b>intro</b>');
  });

  it('does not restart the countdown for the same error, and stops it when disposed', () => {
    const box = new ErrorBox({ trans, retry: () => undefined });
    box.show(limited);
    jest.advanceTimersByTime(1000);
    box.show(limited);
    expect(box.node.querySelector('.jp-tutor-Error-wait')!.textContent).toBe(
      'You can ask again in 2 seconds.'
    );
    box.dispose();
    expect(jest.getTimerCount()).toBe(0);
  });
});

describe('FeedbackBar', () => {
  it('is hidden while the answer takes no vote and none was given', () => {
    const bar = new FeedbackBar({ trans, vote: () => undefined });
    bar.set(answer(), false);
    expect(bar.node.hidden).toBe(true);
  });

  it('votes on the answer it shows, and says what became of the vote', () => {
    const vote = jest.fn();
    const bar = new FeedbackBar({ trans, vote });
    const message = answer();
    bar.set(message, true);
    expect(bar.node.hidden).toBe(false);
    const stuck = testid(bar.node, 'tutor-vote-stuck')[0] as HTMLButtonElement;
    stuck.click();
    expect(vote).toHaveBeenCalledWith(message, 'stuck');

    bar.set(answer({ feedback: { vote: 'stuck', status: 'sending' } }), false);
    expect(stuck.disabled).toBe(true);
    expect(stuck.getAttribute('aria-pressed')).toBe('true');
    expect(testid(bar.node, 'tutor-feedback-status')[0].textContent).toBe('Sending…');
    expect(bar.node.dataset.status).toBe('sending');

    bar.set(answer({ feedback: { vote: 'up', status: 'failed', error: 'No.' } }), true);
    const status = testid(bar.node, 'tutor-feedback-status')[0];
    expect(status.textContent).toBe('No.');
    expect(status.classList.contains('jp-mod-error')).toBe(true);
    expect(stuck.disabled).toBe(false);
  });

  it.each([
    [undefined, ''],
    [{ vote: 'up', status: 'sent' }, 'Thanks — noted.'],
    [
      { vote: 'stuck', status: 'sent' },
      'Noted — ask again and the tutor will go one step further.'
    ],
    [{ vote: 'down', status: 'failed' }, 'Your vote was not recorded.']
  ] as const)('status of %j', (feedback, text) => {
    expect(feedbackStatusText(trans, feedback)).toBe(text);
  });
});

describe('ToolStepView', () => {
  const step: IToolStep = {
    kind: 'tool',
    id: 't1',
    name: 'search_course',
    input: { query: 'while loops' },
    status: 'running'
  };

  it('shows what the step does and its status, then its result as plain text', () => {
    const view = new ToolStepView(trans);
    view.update(step);
    expect(view.node.dataset.status).toBe('running');
    expect(view.node.dataset.tool).toBe('search_course');
    expect(view.node.querySelector('.jp-tutor-ToolStep-detail')!.textContent).toBe('while loops');
    expect(view.node.querySelector('summary')!.getAttribute('aria-label')).toMatch(/\(running\)$/);
    expect(view.node.querySelector('.jp-tutor-ToolStep-output')).toBeNull();

    view.update({ ...step, status: 'done', output: '<b onclick="x()">found</b>' });
    const output = view.node.querySelector('.jp-tutor-ToolStep-output pre')!;
    expect(output.textContent).toBe('<b onclick="x()">found</b>');
    expect(view.node.querySelector('b')).toBeNull();
    expect(view.node.dataset.status).toBe('done');
  });

  it('marks a failed step', () => {
    const view = new ToolStepView(trans);
    view.update({ ...step, status: 'error', output: 'boom' });
    const output = view.node.querySelector('.jp-tutor-ToolStep-output')!;
    expect(output.classList.contains('jp-mod-error')).toBe(true);
    expect(output.textContent).toBe('Errorboom');
  });
});

describe('AnswerFooter', () => {
  it.each([
    [{ stopReason: 'interrupted', status: 'stopped' }, 'This answer was interrupted.'],
    [{ status: 'stopped' }, 'Stopped.'],
    [{ stopReason: 'max_tokens' }, 'The answer was cut short (length limit).'],
    [{ stopReason: 'max_tool_rounds' }, 'The tutor stopped after too many steps.'],
    [{ stopReason: 'end_turn' }, '']
  ] as const)('%j ends with %j', (fields, note) => {
    expect(endingNote(trans, answer(fields))).toBe(note);
  });

  it('shows the tokens once the answer is complete, and hides when empty', () => {
    const footer = new AnswerFooter(trans);
    const usage = { inputTokens: 1200, outputTokens: 34 };
    footer.render(answer({ status: 'streaming', usage }));
    expect(footer.node.hidden).toBe(true);
    footer.render(answer({ usage }));
    const tokens = footer.node.querySelector('.jp-tutor-Usage') as HTMLElement;
    expect(tokens.textContent).toBe(`${(1234).toLocaleString()} tokens`);
    expect(tokens.title).toContain('input tokens');
    expect(footer.node.hidden).toBe(false);
  });
});

describe('QuestionView', () => {
  it('shows the question as text, and what it was about', () => {
    const view = new QuestionView(trans);
    view.update({
      role: 'user',
      id: 'q-1',
      text: '<img src=x onerror=alert(1)> why?',
      request: {
        message: 'why?',
        context: {
          notebook_path: 'week1.ipynb',
          cell_index: 0,
          error: { ename: 'NameError', evalue: "name 'x' is not defined", traceback: [] }
        }
      }
    });
    expect(view.node.querySelector('img')).toBeNull();
    expect(view.node.querySelector('.jp-tutor-Question-text')!.textContent).toBe(
      '<img src=x onerror=alert(1)> why?'
    );
    expect(view.node.querySelector('.jp-tutor-Question-about')!.textContent).toBe(
      "NameError: name 'x' is not defined · week1.ipynb, cell 1"
    );
  });

  it('says nothing about a question without context', () => {
    expect(questionAbout(trans, undefined)).toEqual([]);
    expect(
      questionAbout(trans, { error: { ename: 'KeyError', evalue: '', traceback: [] } })
    ).toEqual(['KeyError']);
    expect(questionAbout(trans, { notebook_path: 'a.ipynb' })).toEqual(['a.ipynb']);
  });
});
