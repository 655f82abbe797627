// ESLint flat config. Type-checked rules for the code that matters most to get right
// (floating promises, misused promises, exhaustive switches), and the dependency
// direction of STYLE.md section 2 as per-folder import bans.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Bans imports of the given project folders from one folder. */
function onlyImports(files, banned) {
  return {
    files,
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: banned.map((b) => ({
            group: [`**/${b}/*`, `**/${b}`],
            message: `STYLE.md section 2: this folder may not import ${b}.`,
          })),
        },
      ],
    },
  };
}

export default tseslint.config(
  {
    ignores: ['node_modules/', 'dist/', 'dist-bench/', '**/gen/', '.tmp/', '.tmp-*/', 'test/interop/cpp/build/', '**/*.mjs', '*.js', 'bin/'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite'] },
          ],
        },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': [
        'error',
        { considerDefaultExhaustiveForUnions: true },
      ],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' },
      ],
      // capnp-es's generated classes are typed loosely in places (any-typed pipelines);
      // these rules would flag every use of them.
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/restrict-template-expressions': 'off',
      '@typescript-eslint/only-throw-error': 'off',
    },
  },
  onlyImports(['src/errors.ts', 'src/fileserver/9p/{constants,messages,codec,framer,errors}.ts'], [
    'rpc', 'namespace', 'fileserver', 'proxy', 'manifest', 'captable', 'admin', 'cli', 'server', 'gen', 'services',
  ]),
  onlyImports(['src/rpc/**'], ['namespace', 'fileserver', 'proxy', 'manifest', 'captable', 'admin', 'cli', 'server', 'services']),
  onlyImports(['src/fileserver/**'], ['namespace', 'proxy', 'manifest', 'captable', 'admin', 'cli', 'server', 'services']),
  onlyImports(['src/namespace/**'], ['9p', 'proxy', 'manifest', 'captable', 'admin', 'cli', 'server', 'services']),
  onlyImports(['src/proxy/**'], ['manifest', 'captable', 'admin', 'cli', 'server', 'services']),
  onlyImports(['src/manifest/**'], ['rpc', 'namespace', 'fileserver', 'proxy', 'captable', 'admin', 'cli', 'server', 'services']),
  // The capability table knows grants and namespaces; listeners and the HTTP app are
  // the composition root's (src/server).
  onlyImports(['src/captable/**'], ['9p', 'proxy', 'manifest', 'admin', 'cli', 'server', 'services']),
  onlyImports(['src/admin/**'], ['rpc', 'fileserver', 'manifest', 'cli', 'server', 'services']),
  // Services (connect, supervise, post) are wired by the composition root; they know the
  // RPC layer, the reflection, the client library (a service's own namespace) and the
  // manifest's types, never the server, the HTTP app, the CLI, the capability table or the
  // proxy.
  onlyImports(['src/services/**'], ['server', 'admin', 'cli', 'captable', 'proxy', '9p']),
  // The ANTS toolkit (sessions tree, hubs): built on the namespace, files, grants and RPC;
  // the composition root (src/server) feeds it.
  onlyImports(['src/ants/**'], ['9p', 'proxy', 'manifest', 'admin', 'cli', 'server', 'services']));
