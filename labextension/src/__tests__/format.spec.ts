/** Turning notebook outputs and tool steps into text for the panel. */

import {
  errorFromOutputs,
  formatDate,
  formatValue,
  questionForError,
  stripAnsi,
  summarizeTool
} from '../format';

describe('errorFromOutputs', () => {
  it('takes the last error output, without colour codes', () => {
    const error = errorFromOutputs([
      { output_type: 'stream', name: 'stdout', text: 'hi\n' },
      {
        output_type: 'error',
        ename: 'NameError',
        evalue: "name 'y' is not defined",
        traceback: ["\u001b[0;31mNameError\u001b[0m: name \u001b[1m'y'\u001b[0m is not defined"]
      }
    ]);
    expect(error).toEqual({
      ename: 'NameError',
      evalue: "name 'y' is not defined",
      traceback: ["NameError: name 'y' is not defined"]
    });
  });

  it('falls back to stderr text, and to null when the cell shows no error', () => {
    expect(
      errorFromOutputs([{ output_type: 'stream', name: 'stderr', text: ['ls: cannot access\n'] }])
    ).toEqual({ ename: 'stderr', evalue: 'ls: cannot access', traceback: ['ls: cannot access'] });
    expect(errorFromOutputs([{ output_type: 'stream', name: 'stdout', text: 'ok' }])).toBeNull();
    expect(errorFromOutputs([])).toBeNull();
  });
});

describe('text helpers', () => {
  it('strips CSI and OSC sequences', () => {
    expect(stripAnsi('\u001b[31mred\u001b[0m \u001b]8;;http://x\u0007link\u001b]8;;\u0007')).toBe(
      'red link'
    );
  });

  it('asks about an error in words', () => {
    expect(
      questionForError({ ename: 'ZeroDivisionError', evalue: 'division by zero', traceback: [] })
    ).toBe(
      'My cell fails with ZeroDivisionError: division by zero. What does this error mean and how can I fix it?'
    );
  });

  it('formats tool values', () => {
    expect(formatValue(undefined)).toBe('');
    expect(formatValue('text')).toBe('text');
    expect(formatValue({ a: 1 })).toBe('{\n  "a": 1\n}');
  });

  it('summarises tool calls for the step heading', () => {
    expect(summarizeTool('search_course', { query: 'while loops' })).toEqual({
      action: 'Searched the course',
      detail: 'while loops'
    });
    expect(summarizeTool('run_code', { code: 'print(1)\nprint(2)' })).toEqual({
      action: 'Ran code',
      detail: 'print(1)'
    });
    expect(summarizeTool('read_cell', { cell_index: 3 })).toEqual({
      action: 'Read',
      detail: 'cell 3'
    });
    expect(summarizeTool('frobnicate', {})).toEqual({ action: 'Used frobnicate', detail: '' });
    expect(summarizeTool('search_course', { query: 'x'.repeat(200) }).detail).toHaveLength(80);
  });
});

describe('formatDate', () => {
  it('is empty without a valid date', () => {
    expect(formatDate(null)).toBe('');
    expect(formatDate(undefined)).toBe('');
    expect(formatDate('')).toBe('');
    expect(formatDate('not a date')).toBe('');
  });

  it('shows a date and a time', () => {
    const text = formatDate('2026-03-04T05:06:00Z');
    expect(text).toMatch(/2026/);
    expect(text).toMatch(/\d{1,2}:\d{2}/);
  });
});
