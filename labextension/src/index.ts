/**
 * Jupyter Tutor: the JupyterLab plugin that adds the tutor's side panel, its commands
 * (open, ask about an error, new conversation), the "Ask the tutor" buttons on cell
 * errors and the settings.
 */

import { ILayoutRestorer, JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { Clipboard, ICommandPalette, Notification } from '@jupyterlab/apputils';
import { CodeCell } from '@jupyterlab/cells';
import { PathExt } from '@jupyterlab/coreutils';
import { IDocumentManager } from '@jupyterlab/docmanager';
import { INotebookTracker, Notebook, NotebookActions, NotebookPanel } from '@jupyterlab/notebook';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { ITranslator, nullTranslator } from '@jupyterlab/translation';
import { ReadonlyPartialJSONObject } from '@lumino/coreutils';

import { TutorClient } from './client';
import { ERROR_OUTPUT_SELECTOR, ErrorButtons, findCell } from './errorbutton';
import { errorFromOutputs, questionForError } from './format';
import { tutorIcon } from './icons';
import { TutorPanel } from './panel';
import { IQuestionContext } from './protocol';
import { widenWhenShown } from './sidebar';
import { ICitation } from './state';

/** The plugin id; also the id of the settings in `schema/plugin.json`. */
const PLUGIN_ID = 'jupyter-tutor:plugin';

/** The command ids. */
export namespace CommandIDs {
  /** Open the panel and focus the question box. */
  export const open = 'tutor:open';
  /** Explain the error of a cell (the context-menu target, or the active cell). */
  export const askError = 'tutor:ask-error';
  /** Start a new conversation. */
  export const newConversation = 'tutor:new-conversation';
  /** Ask a question given as `message` (and optional `kind`); for scripts and tests. */
  export const ask = 'tutor:ask';
}

/** The settings of `schema/plugin.json`. */
interface ITutorSettings {
  courseRoot: string;
  sendContext: boolean;
  showErrorButton: boolean;
  position: 'left' | 'right';
}

const DEFAULT_SETTINGS: ITutorSettings = {
  courseRoot: '',
  sendContext: true,
  showErrorButton: true,
  position: 'right'
};

/** The rank of the panel among the side panels. */
const PANEL_RANK = 600;

/** Longest active-cell source sent as context (characters). */
const MAX_CONTEXT_CODE = 20000;

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description: 'The course tutor: a side panel that answers questions about your code.',
  autoStart: true,
  requires: [IRenderMimeRegistry, INotebookTracker, IDocumentManager],
  optional: [ICommandPalette, ILayoutRestorer, ISettingRegistry, ITranslator],
  activate: async (
    app: JupyterFrontEnd,
    rendermime: IRenderMimeRegistry,
    tracker: INotebookTracker,
    docManager: IDocumentManager,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null,
    settingRegistry: ISettingRegistry | null,
    translator: ITranslator | null
  ): Promise<void> => {
    const trans = (translator ?? nullTranslator).load('jupyter-tutor');
    const settings: ITutorSettings = { ...DEFAULT_SETTINGS };
    const client = new TutorClient(app.serviceManager.serverSettings);

    /** Where the student is: the active notebook and cell (if sharing is on). */
    const pageContext = (): IQuestionContext | undefined => {
      const nb = tracker.currentWidget;
      if (!settings.sendContext || !nb || nb.isDisposed) {
        return undefined;
      }
      const context: IQuestionContext = { notebook_path: nb.context.path, kind: 'question' };
      const cell = nb.content.activeCell;
      if (cell) {
        context.cell_index = nb.content.activeCellIndex;
        context.cell_id = cell.model.id;
        const source = cell.model.sharedModel.getSource();
        if (cell.model.type === 'code' && source.trim() && source.length <= MAX_CONTEXT_CODE) {
          context.code = source;
        }
        if (cell.model.type === 'code') {
          // The error the active cell shows, if any: most questions are about it.
          const error = errorFromOutputs((cell as CodeCell).model.outputs.toJSON());
          if (error) {
            context.error = error;
          }
        }
      }
      return context;
    };

    const describeContext = (): string | null => {
      const context = pageContext();
      if (!context?.notebook_path) {
        return null;
      }
      const name = PathExt.basename(context.notebook_path);
      return typeof context.cell_index === 'number'
        ? trans.__('Context: %1, cell %2', name, context.cell_index + 1)
        : trans.__('Context: %1', name);
    };

    const insertBelow = (code: string): void => {
      const nb = tracker.currentWidget;
      if (!nb || nb.isDisposed || !nb.content.model) {
        Notification.warning(trans.__('Open a notebook to insert the code into.'), {
          autoClose: 4000
        });
        return;
      }
      NotebookActions.insertBelow(nb.content);
      if (nb.content.activeCell?.model.type !== 'code') {
        NotebookActions.changeCellType(nb.content, 'code');
      }
      nb.content.activeCell?.model.sharedModel.setSource(code);
      app.shell.activateById(nb.id);
    };

    /** The first of `citationPaths(...)` that exists in the file browser, or null. */
    const findCitedFile = async (citation: ICitation): Promise<string | null> => {
      for (const path of citationPaths(settings.courseRoot, citation)) {
        try {
          const model = await docManager.services.contents.get(path, { content: false });
          if (model.type !== 'directory') {
            return path;
          }
        } catch {
          // not there: try the next place
        }
      }
      return null;
    };

    const openCitation = async (citation: ICitation): Promise<void> => {
      const path = await findCitedFile(citation);
      if (!path) {
        Notification.error(
          trans.__(
            'The course notebook %1 was not found. Check the “Course folder” setting of the tutor.',
            citation.path
          ),
          { autoClose: 6000 }
        );
        return;
      }
      const widget = docManager.openOrReveal(path);
      if (!widget) {
        return;
      }
      try {
        await widget.context.ready;
        await widget.revealed;
      } catch {
        return;
      }
      app.shell.activateById(widget.id);
      const content = widget.content;
      // A passage that is not a notebook cell (cell null) opens its file at the top.
      if (content instanceof Notebook && content.widgets.length && citation.cell !== null) {
        const index = Math.max(0, Math.min(citation.cell, content.widgets.length - 1));
        content.activeCellIndex = index;
        await content.scrollToItem(index, 'start');
        const cell = content.widgets[index];
        cell.addClass('jp-tutor-mod-cited');
        window.setTimeout(() => cell.removeClass('jp-tutor-mod-cited'), 2500);
      }
    };

    const panel = new TutorPanel({
      client,
      rendermime,
      translator: translator ?? undefined,
      getContext: pageContext,
      describeContext,
      codeActions: {
        copy: code => Clipboard.copyToSystem(code),
        insert: insertBelow
      },
      openCitation: citation => void openCitation(citation)
    });
    panel.title.icon = tutorIcon;

    const openPanel = (): void => {
      if (!panel.isAttached) {
        app.shell.add(panel, settings.position, { rank: PANEL_RANK });
      }
      app.shell.activateById(panel.id);
    };

    const askAboutError = (nb: NotebookPanel, cell: CodeCell): void => {
      const error = errorFromOutputs(cell.model.outputs.toJSON());
      if (!error) {
        Notification.info(trans.__('This cell shows no error to explain.'), { autoClose: 4000 });
        return;
      }
      if (panel.isStreaming) {
        openPanel();
        Notification.info(
          trans.__('The tutor is still answering. Ask again when it is done, or press Stop.'),
          { autoClose: 5000 }
        );
        return;
      }
      const context: IQuestionContext = {
        kind: 'explain',
        error,
        code: cell.model.sharedModel.getSource().slice(0, MAX_CONTEXT_CODE)
      };
      if (settings.sendContext) {
        context.notebook_path = nb.context.path;
        context.cell_index = nb.content.widgets.indexOf(cell);
        context.cell_id = cell.model.id;
      }
      openPanel();
      void panel.ask(questionForError(error), context);
    };

    // Settings: applied now and whenever they change.
    const errorButtons = new ErrorButtons(tracker, askAboutError, trans);
    const applySettings = (loaded: ISettingRegistry.ISettings): void => {
      const composite = loaded.composite as unknown as Partial<ITutorSettings>;
      const previousPosition = settings.position;
      settings.courseRoot = String(composite.courseRoot ?? '');
      settings.sendContext = composite.sendContext !== false;
      settings.showErrorButton = composite.showErrorButton !== false;
      settings.position = composite.position === 'left' ? 'left' : 'right';
      errorButtons.enabled = settings.showErrorButton;
      panel.updateContext();
      if (panel.isAttached && previousPosition !== settings.position) {
        const wasVisible = panel.isVisible;
        app.shell.add(panel, settings.position, { rank: PANEL_RANK });
        if (wasVisible) {
          app.shell.activateById(panel.id);
        }
      }
    };
    if (settingRegistry) {
      try {
        const loaded = await settingRegistry.load(PLUGIN_ID);
        applySettings(loaded);
        loaded.changed.connect(applySettings);
      } catch (err) {
        console.warn('jupyter-tutor: could not load the settings, using the defaults', err);
      }
    }

    app.shell.add(panel, settings.position, { rank: PANEL_RANK });
    if (restorer) {
      restorer.add(panel, 'jupyter-tutor-panel');
    }
    // Open wide enough for code, once the saved layout (which sets the side areas'
    // widths) is back.
    void app.restored.then(() => widenWhenShown(panel));
    tracker.currentChanged.connect(() => panel.updateContext());
    tracker.activeCellChanged.connect(() => panel.updateContext());

    // Commands.
    const { commands } = app;
    const isPalette = (args: ReadonlyPartialJSONObject) => args.isPalette === true;
    commands.addCommand(CommandIDs.open, {
      label: args => (isPalette(args) ? trans.__('Open') : trans.__('Tutor')),
      caption: trans.__('Open the tutor panel'),
      icon: args => (isPalette(args) ? undefined : tutorIcon),
      execute: () => {
        openPanel();
        panel.focusInput();
      }
    });

    /** The cell a command is about: the context-menu target, else the active cell. */
    const targetCell = (
      args: ReadonlyPartialJSONObject
    ): { nb: NotebookPanel; cell: CodeCell } | null => {
      if (args.origin === 'context-menu') {
        const node = app.contextMenuHitTest(n => n.classList.contains('jp-Cell'));
        const nb = node ? tracker.find(p => p.content.node.contains(node)) : undefined;
        const cell = nb && node ? findCell(nb, node) : null;
        return nb && cell ? { nb, cell } : null;
      }
      const nb = tracker.currentWidget;
      const active = nb?.content.activeCell;
      if (!nb || !active || active.model.type !== 'code') {
        return null;
      }
      return { nb, cell: active as CodeCell };
    };

    commands.addCommand(CommandIDs.askError, {
      label: args =>
        isPalette(args)
          ? trans.__('Ask about this error')
          : trans.__('Ask the Tutor about This Error'),
      caption: trans.__('Ask the tutor to explain the error of the cell'),
      icon: args => (isPalette(args) ? undefined : tutorIcon),
      isEnabled: args => args.origin === 'context-menu' || !!tracker.currentWidget,
      execute: args => {
        const target = targetCell(args);
        if (!target) {
          Notification.info(trans.__('Select a code cell with an error first.'), {
            autoClose: 4000
          });
          return;
        }
        askAboutError(target.nb, target.cell);
      }
    });

    commands.addCommand(CommandIDs.newConversation, {
      label: args =>
        isPalette(args) ? trans.__('New conversation') : trans.__('New Tutor Conversation'),
      caption: trans.__('Start a new conversation with the tutor'),
      execute: () => {
        openPanel();
        panel.newConversation();
      }
    });

    commands.addCommand(CommandIDs.ask, {
      label: trans.__('Ask the Tutor'),
      describedBy: {
        args: {
          type: 'object',
          properties: {
            message: { type: 'string', description: trans.__('The question') },
            kind: { type: 'string', enum: ['question', 'explain', 'hint'] }
          },
          required: ['message']
        }
      },
      execute: async args => {
        const message = typeof args.message === 'string' ? args.message : '';
        if (!message.trim()) {
          openPanel();
          return;
        }
        const context = pageContext() ?? {};
        if (typeof args.kind === 'string') {
          context.kind = args.kind as IQuestionContext['kind'];
        }
        openPanel();
        await panel.ask(message, Object.keys(context).length ? context : undefined);
      }
    });

    if (palette) {
      const category = trans.__('Tutor');
      for (const command of [CommandIDs.open, CommandIDs.askError, CommandIDs.newConversation]) {
        palette.addItem({ command, category, args: { isPalette: true } });
      }
    }

    app.contextMenu.addItem({
      command: CommandIDs.askError,
      selector: ERROR_OUTPUT_SELECTOR,
      rank: 0,
      args: { origin: 'context-menu' }
    });
  }
};

export default plugin;

/**
 * Where a cited course notebook may be in the student's files, most likely first: under
 * the "Course folder" setting when it is set; else at the root, then in a folder named
 * after the course (how the demo and most hubs copy a course into a home).
 */
export function citationPaths(courseRoot: string, citation: ICitation): string[] {
  const clean = (p: string) => PathExt.normalize(p).replace(/^\/+/, '');
  const rel = clean(citation.path);
  if (!rel || rel.startsWith('..')) {
    return [];
  }
  const root = clean(courseRoot ?? '');
  const paths = root ? [clean(PathExt.join(root, rel))] : [rel];
  if (citation.course && !root) {
    paths.push(clean(PathExt.join(citation.course, rel)));
  }
  return paths;
}
