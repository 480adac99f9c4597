/**
 * Unit tests for the panel's pure modules (stream parser, answer state, context helpers)
 * and for its views that need only the DOM (sanitizer, sources, error box, vote bar,
 * tool steps, question box, message log): those files ask for jsdom in a
 * `@jest-environment jsdom` docblock.  None imports JupyterLab code at run time (types
 * only; Lumino's widgets in the sidebar test), so plain ts-jest is enough.
 */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/src'],
  testMatch: ['**/__tests__/**/*.spec.ts'],
  setupFiles: ['<rootDir>/src/__tests__/setup.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }]
  },
  moduleFileExtensions: ['ts', 'js', 'json']
};
