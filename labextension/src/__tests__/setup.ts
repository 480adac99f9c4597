/**
 * Run before every test file.  jsdom lacks `DragEvent`, which Lumino's widgets use at
 * load time; a plain mouse event stands in for it (no test drags anything).
 */

if (typeof window !== 'undefined' && !('DragEvent' in window)) {
  (window as unknown as { DragEvent: typeof MouseEvent }).DragEvent = class extends MouseEvent {};
}
