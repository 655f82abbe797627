#!/usr/bin/env node
// Regenerates src/gen from schema/*.capnp, the generated code of the RPC test schemas
// (test/fixtures/rpc/test.capnp -> test/fixtures/rpc/gen, old/test.capnp -> old/gen), and
// the example service's (examples/kv/kv.capnp -> examples/kv/gen, kv.capnp.bin).
//
// capnp-es's `-ojs,dts` transpiles each generated file in memory and cannot resolve one
// schema's import of another (`./common.js`), so this script asks it for TypeScript
// (`-ots`) in a scratch directory and transpiles that with the compiler options capnp-es
// itself uses. Output: one .js and one .d.ts per schema, never edited by hand.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import ts from 'typescript';

const root = resolve(import.meta.dirname, '..');

/** Generates `outDir` from every .capnp file directly in `schemaDir`. */
function generate(schemaDir, outDir, extraFiles = {}) {
  // Inside the project so that the generated code's `import 'capnp-es'` resolves.
  mkdirSync(join(root, 'node_modules', '.cache'), { recursive: true });
  const scratch = mkdtempSync(join(root, 'node_modules', '.cache', 'capns-gen-'));

  try {
    const schemas = readdirSync(schemaDir)
      .filter((f) => f.endsWith('.capnp'))
      .sort();
    execFileSync(
      join(root, 'node_modules', '.bin', 'capnp-es'),
      [...schemas.map((s) => join(schemaDir, s)), `--src-prefix=${schemaDir}`, `-ots:${scratch}`],
      { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] },
    );
    const sources = readdirSync(scratch)
      .filter((f) => f.endsWith('.ts'))
      .map((f) => join(scratch, f));
    const options = {
      module: ts.ModuleKind.ESNext,
      moduleResolution: ts.ModuleResolutionKind.Bundler,
      target: ts.ScriptTarget.ES2022,
      strict: true,
      noImplicitReturns: true,
      preserveConstEnums: true,
      removeComments: false,
      skipLibCheck: true,
      declaration: true,
      outDir: scratch + '-out',
      rootDir: scratch,
      typeRoots: [join(root, 'node_modules', '@types')],
    };
    const program = ts.createProgram(sources, options);
    const result = program.emit();
    const diagnostics = [...ts.getPreEmitDiagnostics(program), ...result.diagnostics];
    if (diagnostics.length > 0) {
      const host = {
        getCanonicalFileName: (f) => f,
        getCurrentDirectory: () => root,
        getNewLine: () => '\n',
      };
      process.stderr.write(ts.formatDiagnostics(diagnostics, host));
      process.exit(1);
    }
    rmSync(outDir, { recursive: true, force: true });
    mkdirSync(outDir, { recursive: true });
    for (const f of readdirSync(options.outDir).sort()) {
      writeFileSync(join(outDir, f), readFileSync(join(options.outDir, f)));
    }
    for (const [f, text] of Object.entries(extraFiles)) writeFileSync(join(outDir, f), text);
    rmSync(options.outDir, { recursive: true, force: true });
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

// The reflection data is computed first and written with the rest of src/gen, so that
// src/gen is never seen without it for longer than the other files.
generate(join(root, 'schema'), join(root, 'src', 'gen'), await reflectionFiles(join(root, 'schema')));
generate(join(root, 'test', 'fixtures', 'rpc'), join(root, 'test', 'fixtures', 'rpc', 'gen'));
generate(
  join(root, 'test', 'fixtures', 'rpc', 'old'),
  join(root, 'test', 'fixtures', 'rpc', 'old', 'gen'),
);
// The example service's schema: TypeScript for its programs (examples/kv/gen), and the
// compiled form its manifest names (what `capns schema compile kv.capnp` writes: the same
// compiler arguments), so that running the example needs no compiler.
const kvDir = join(root, 'examples', 'kv');
generate(kvDir, join(kvDir, 'gen'));
writeFileSync(
  join(kvDir, 'kv.capnp.bin'),
  execFileSync('capnp', ['compile', '-o-', `--src-prefix=${kvDir}`, `-I${kvDir}`, join(kvDir, 'kv.capnp')], { maxBuffer: 64 << 20 }),
);

// ---- reflection data for `capns call` ---------------------------------------------------
//
// capnp-es's generated classes have no field reflection, so the schema's shape is emitted
// here as data: every struct (layout: data words, pointers, field offsets and types,
// defaults, unions, groups), enum and interface (methods with their param and result
// structs) of schema/*.capnp, decoded from the CodeGeneratorRequest that `capnp compile
// -o-` writes. src/reflect reads it to convert JSON to and from any method's params and
// results. Written as src/gen/reflection.{js,d.ts} so the build copies it with the rest.
async function reflectionFiles(schemaDir) {
  const $ = await import('capnp-es');
  const { CodeGeneratorRequest, Type_Which, Value_Which, Field_Which } = await import('capnp-es/capnp/schema');
  const schemas = readdirSync(schemaDir)
    .filter((f) => f.endsWith('.capnp'))
    .sort();
  const bytes = execFileSync('capnp', ['compile', '-o-', `--src-prefix=${schemaDir}`, ...schemas.map((s) => join(schemaDir, s))], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 64 * 1024 * 1024,
  });
  const req = new $.Message(bytes, false).getRoot(CodeGeneratorRequest);
  const hex = (id) => '0x' + id.toString(16).padStart(16, '0');
  const PRIMITIVES = {
    [Type_Which.VOID]: 'void',
    [Type_Which.BOOL]: 'bool',
    [Type_Which.INT8]: 'int8',
    [Type_Which.INT16]: 'int16',
    [Type_Which.INT32]: 'int32',
    [Type_Which.INT64]: 'int64',
    [Type_Which.UINT8]: 'uint8',
    [Type_Which.UINT16]: 'uint16',
    [Type_Which.UINT32]: 'uint32',
    [Type_Which.UINT64]: 'uint64',
    [Type_Which.FLOAT32]: 'float32',
    [Type_Which.FLOAT64]: 'float64',
    [Type_Which.TEXT]: 'text',
    [Type_Which.DATA]: 'data',
  };
  function type(t) {
    const w = t.which();
    if (PRIMITIVES[w] !== undefined) return { kind: PRIMITIVES[w] };
    switch (w) {
      case Type_Which.LIST:
        return { kind: 'list', element: type(t.list.elementType) };
      case Type_Which.ENUM:
        return { kind: 'enum', id: hex(t.enum.typeId) };
      case Type_Which.STRUCT:
        return { kind: 'struct', id: hex(t.struct.typeId) };
      case Type_Which.INTERFACE:
        return { kind: 'interface', id: hex(t.interface.typeId) };
      case Type_Which.ANY_POINTER: {
        const a = t.anyPointer;
        const capability = a._isUnconstrained && a.unconstrained._isCapability;
        return { kind: 'anyPointer', capability };
      }
      default:
        throw new Error(`reflection: unknown type ${w}`);
    }
  }
  // Explicit defaults of data fields (pointer defaults are not used by our schemas).
  function defaultOf(v) {
    switch (v.which()) {
      case Value_Which.BOOL: return v.bool;
      case Value_Which.INT8: return v.int8;
      case Value_Which.INT16: return v.int16;
      case Value_Which.INT32: return v.int32;
      case Value_Which.INT64: return v.int64.toString();
      case Value_Which.UINT8: return v.uint8;
      case Value_Which.UINT16: return v.uint16;
      case Value_Which.UINT32: return v.uint32;
      case Value_Which.UINT64: return v.uint64.toString();
      case Value_Which.FLOAT32: return v.float32;
      case Value_Which.FLOAT64: return v.float64;
      case Value_Which.ENUM: return v.enum;
      default: return undefined;
    }
  }
  const out = { structs: {}, enums: {}, interfaces: {} };
  const nodes = [...req.nodes].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  for (const n of nodes) {
    const full = n.displayName;
    const colon = full.indexOf(':');
    const file = full.slice(0, colon);
    const name = full.slice(colon + 1);
    if (n._isStruct) {
      const s = n.struct;
      const fields = [...s.fields].map((f) => {
        const field = { name: f.name, codeOrder: f.codeOrder };
        if (f.discriminantValue !== 0xffff) field.discriminant = f.discriminantValue;
        if (f.which() === Field_Which.GROUP) {
          field.group = hex(f.group.typeId);
        } else {
          field.offset = f.slot.offset;
          field.type = type(f.slot.type);
          if (f.slot.hadExplicitDefault) {
            const d = defaultOf(f.slot.defaultValue);
            if (d !== undefined) field.default = d;
          }
        }
        return field;
      });
      fields.sort((a, b) => a.codeOrder - b.codeOrder);
      for (const f of fields) delete f.codeOrder;
      out.structs[hex(n.id)] = {
        name,
        file,
        dataWords: s.dataWordCount,
        pointers: s.pointerCount,
        ...(s.isGroup ? { isGroup: true } : {}),
        ...(s.discriminantCount > 0 ? { discriminantCount: s.discriminantCount, discriminantOffset: s.discriminantOffset } : {}),
        fields,
      };
    } else if (n._isEnum) {
      out.enums[hex(n.id)] = { name, file, enumerants: [...n.enum.enumerants].map((e) => e.name) };
    } else if (n._isInterface) {
      const i = n.interface;
      out.interfaces[hex(n.id)] = {
        name,
        file,
        superclasses: [...i.superclasses].map((s) => hex(s.id)),
        methods: [...i.methods].map((m, id) => ({
          name: m.name,
          id,
          params: hex(m.paramStructType),
          results: hex(m.resultStructType),
        })),
      };
    }
  }
  const header = '// This file has been automatically generated by scripts/gen.mjs from schema/*.capnp: never edit it.\n';
  const js = `${header}/** @type {import('./reflection.js').SchemaReflection} */\nconst reflection = ${JSON.stringify(out, null, 1)};\nexport default reflection;\n`;
  const dts = `${header}/** A type in a field or list, as schema.capnp's Type says. Ids are 0x-prefixed 16-digit hex. */
export type ReflectedType =
  | { kind: 'void' | 'bool' | 'int8' | 'int16' | 'int32' | 'int64' | 'uint8' | 'uint16' | 'uint32' | 'uint64' | 'float32' | 'float64' | 'text' | 'data' }
  | { kind: 'list'; element: ReflectedType }
  | { kind: 'enum' | 'struct' | 'interface'; id: string }
  | { kind: 'anyPointer'; capability: boolean };
/** A field: a slot (offset in units of its size; pointers index the pointer section) or a group. */
export interface ReflectedField {
  name: string;
  /** The union discriminant value selecting this field; absent outside unions. */
  discriminant?: number;
  offset?: number;
  type?: ReflectedType;
  /** Explicit default of a data field (64-bit values as decimal strings; enums as ordinals). */
  default?: number | string | boolean;
  /** The group's struct id (a group shares its parent's sections). */
  group?: string;
}
export interface ReflectedStruct {
  name: string;
  file: string;
  dataWords: number;
  pointers: number;
  isGroup?: boolean;
  discriminantCount?: number;
  /** In units of 16 bits. */
  discriminantOffset?: number;
  fields: ReflectedField[];
}
export interface ReflectedEnum {
  name: string;
  file: string;
  enumerants: string[];
}
export interface ReflectedMethod {
  name: string;
  id: number;
  params: string;
  results: string;
}
export interface ReflectedInterface {
  name: string;
  file: string;
  superclasses: string[];
  methods: ReflectedMethod[];
}
export interface SchemaReflection {
  structs: Record<string, ReflectedStruct>;
  enums: Record<string, ReflectedEnum>;
  interfaces: Record<string, ReflectedInterface>;
}
declare const reflection: SchemaReflection;
export default reflection;
`;
  return { 'reflection.js': js, 'reflection.d.ts': dts };
}
