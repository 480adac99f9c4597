/**
 * ESLint for the panel's TypeScript, set up as JupyterLab's extension template does:
 * typescript-eslint's recommended rules, Prettier run as a rule (so `eslint --fix`
 * formats too), interfaces named `IThing`, braces on every block.
 */
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import prettierRecommended from 'eslint-plugin-prettier/recommended';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default defineConfig(
  { ignores: ['node_modules/', 'lib/', '.yarn/', '**/*.d.ts'] },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/naming-convention': [
        'error',
        {
          selector: 'interface',
          format: ['PascalCase'],
          custom: { regex: '^I[A-Z]', match: true }
        }
      ],
      '@typescript-eslint/no-unused-vars': ['error', { args: 'none' }],
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-namespace': 'off',
      '@typescript-eslint/no-use-before-define': 'off',
      curly: ['error', 'all'],
      eqeqeq: 'error',
      'prefer-arrow-callback': 'error'
    }
  },
  {
    // Node's own config files (jest.config.js is CommonJS).
    files: ['*.js'],
    languageOptions: { sourceType: 'commonjs', globals: globals.node }
  },
  prettierRecommended
);
