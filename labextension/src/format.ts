/**
 * Pure helpers that turn notebook outputs and tool steps into text for the panel.
 */

import { ICellError } from './protocol';

// CSI sequences (colours, cursor moves) and OSC sequences (hyperlinks) that IPython
// puts in tracebacks.
// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-?]*[ -/]*[@-~]|\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)/g;

/** Remove terminal escape sequences from text. */
export function stripAnsi(text: string): string {
  return text.replace(ANSI, '');
}

/** The fields of an nbformat output this module reads. */
interface IOutputLike {
  output_type?: unknown;
  ename?: unknown;
  evalue?: unknown;
  traceback?: unknown;
  name?: unknown;
  text?: unknown;
}

/**
 * The error of a cell from its outputs: the last `error` output, else the text the
 * cell wrote to stderr (a failing shell command, a warning turned fatal).  Tracebacks
 * lose their colour codes.  `null` when the cell shows no error.
 */
export function errorFromOutputs(outputs: readonly unknown[]): ICellError | null {
  for (let i = outputs.length - 1; i >= 0; i--) {
    const o = outputs[i] as IOutputLike;
    if (o && o.output_type === 'error') {
      const traceback = Array.isArray(o.traceback)
        ? o.traceback.map(line => stripAnsi(String(line)))
        : [];
      return {
        ename: stripAnsi(String(o.ename ?? 'Error')),
        evalue: stripAnsi(String(o.evalue ?? '')),
        traceback
      };
    }
  }
  const stderr = outputs
    .map(o => o as IOutputLike)
    .filter(o => o && o.output_type === 'stream' && o.name === 'stderr')
    .map(o => (Array.isArray(o.text) ? o.text.join('') : String(o.text ?? '')))
    .join('');
  if (stderr.trim()) {
    const text = stripAnsi(stderr);
    const lines = text.trimEnd().split('\n');
    return { ename: 'stderr', evalue: lines[lines.length - 1].trim(), traceback: lines };
  }
  return null;
}

/** The question the panel sends when the student asks about an error. */
export function questionForError(error: ICellError): string {
  const what = error.evalue ? `${error.ename}: ${error.evalue}` : error.ename;
  if (error.ename === 'stderr') {
    return `My cell printed an error: ${error.evalue}. What does it mean and how can I fix it?`;
  }
  return `My cell fails with ${what}. What does this error mean and how can I fix it?`;
}

/** A value from a tool step as text: strings as they are, the rest as JSON. */
export function formatValue(value: unknown): string {
  if (value === undefined || value === null) {
    return '';
  }
  if (typeof value === 'string') {
    return value;
  }
  try {
    return JSON.stringify(value, null, 2);
  } catch {
    return String(value);
  }
}

/** What a tool step did, as a short phrase and the thing it did it on. */
export interface IToolSummary {
  /** "Searched the course", "Ran code"… */
  action: string;
  /** The query, path or first line of code; may be empty. */
  detail: string;
}

const ACTIONS: Array<[RegExp, string]> = [
  [/search/i, 'Searched the course'],
  [/(run|exec|eval)/i, 'Ran code'],
  [/(variable|inspect|namespace)/i, 'Looked at your variables'],
  [/(error|traceback)/i, 'Looked at the error'],
  [/(read|open|get|cell|notebook|file)/i, 'Read']
];

const DETAIL_KEYS = ['query', 'path', 'notebook_path', 'code', 'name', 'cell', 'cell_index'];

/**
 * Summarise a tool call for the step's one-line heading.  Tool names are the
 * orchestrator's; unknown tools still read well ("Used my_tool").
 */
export function summarizeTool(name: string, input: unknown): IToolSummary {
  const found = ACTIONS.find(([re]) => re.test(name));
  const action = found ? found[1] : `Used ${name}`;
  let detail = '';
  if (typeof input === 'string') {
    detail = input;
  } else if (input && typeof input === 'object') {
    const record = input as Record<string, unknown>;
    const key = DETAIL_KEYS.find(k => record[k] !== undefined && record[k] !== '');
    if (key) {
      const value = record[key];
      detail =
        key === 'cell' || key === 'cell_index' ? `cell ${String(value)}` : formatValue(value);
    }
  }
  detail = detail.split('\n')[0].trim();
  if (detail.length > 80) {
    detail = detail.slice(0, 79) + '…';
  }
  return { action, detail };
}

/** A short local date and time for the conversation list; `''` when there is none. */
export function formatDate(value: string | null | undefined): string {
  if (!value) {
    return '';
  }
  const date = new Date(value);
  return isNaN(date.getTime())
    ? ''
    : date.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'short' });
}
