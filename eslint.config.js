// Lint rules, including the layer rules of docs/architecture.md:
// src/raft imports nothing of ours outside src/raft and no Node API;
// the operator reaches nodes only through its admin client; the cluster page (src/ui) is browser code.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'test/controlplane/**/*.go', 'data/**', 'bench/results/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: false } },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      eqeqeq: ['error', 'always'],
      'no-console': 'off',
    },
  },
  {
    files: ['src/raft/**/*.ts'],
    ignores: ['src/raft/**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['node:*'], message: 'src/raft is pure: no Node APIs.' },
            { group: ['../*', '!../raft/*'], message: 'src/raft imports nothing outside src/raft.' },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'setTimeout', message: 'src/raft has no timers: time enters through tick().' },
        { name: 'setInterval', message: 'src/raft has no timers: time enters through tick().' },
        { name: 'process', message: 'src/raft does no I/O.' },
      ],
      'no-restricted-properties': [
        'error',
        { object: 'Math', property: 'random', message: 'Use the injected RandomSource.' },
        { object: 'Date', property: 'now', message: 'Time enters through tick().' },
      ],
      'no-restricted-syntax': [
        'error',
        { selector: 'FunctionDeclaration[async=true]', message: 'src/raft is synchronous.' },
        { selector: 'ArrowFunctionExpression[async=true]', message: 'src/raft is synchronous.' },
        { selector: 'MethodDefinition[value.async=true]', message: 'src/raft is synchronous.' },
      ],
    },
  },
  {
    files: ['src/operator/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['../node/*', '../storage/*', '../transport/*', '../kv/*'], message: 'The operator speaks to nodes only through src/operator/admin-client.ts.' },
          ],
        },
      ],
    },
  },
  {
    // The cluster page runs in a browser and is served from src/ui's compiled files only: no Node APIs,
    // and nothing of ours outside src/ui at run time (the API's wire types are erased, so type imports are fine).
    files: ['src/ui/**/*.ts'],
    ignores: ['src/ui/**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['node:*'], message: 'src/ui runs in the browser: no Node APIs.' },
            { regex: '^\\.\\./(?!api/)', message: 'src/ui loads only its own modules in the browser.' },
            { group: ['../api/*'], allowTypeImports: true, message: 'src/ui may import only types from src/api (they are erased).' },
          ],
        },
      ],
      'no-restricted-globals': [
        'error',
        { name: 'process', message: 'src/ui runs in the browser.' },
        { name: 'Buffer', message: 'src/ui runs in the browser.' },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
);
