/**
 * Unit tests for the panel's pure modules (stream parser, answer state, context helpers).
 * They import nothing from JupyterLab, so plain ts-jest in Node is enough.
 */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/src'],
  testMatch: ['**/__tests__/**/*.spec.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }]
  },
  moduleFileExtensions: ['ts', 'js', 'json']
};
