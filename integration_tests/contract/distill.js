#!/usr/bin/env node
// Distils, from an unpacked `pipedrive` npm package (the official Node client, generated from
// Pipedrive's v1 and v2 OpenAPI documents), the facts the connector depends on, as JSON on stdout:
//
//   node distill.js <package dir> <repo src dir>
//
// - `get_endpoints`: the path of every GET operation of v1 and v2.
// - `list_endpoints`: every GET list endpoint of v1 and v2 (coverage).
// - `operations`: for every GET endpoint whose path the connector's source names (any
//   "/v1/..." or "/api/v2/..." string literal under <repo src dir>) and for every list endpoint:
//   path, query parameters (type, enum, required, documented default and maximum) and the
//   response model (`data` and `additional_data`: a record's properties, two levels down).
//
// Only facts are kept (names, types, enums, numbers, flags), never the client's prose or code.
// Keys are sorted, so the same client and source give the same bytes.
//
// Needs the `typescript` compiler package (5.x) resolvable from NODE_PATH or next to this file.
// `distill.sh` installs both packages in a scratch directory and runs this.
'use strict';

const fs = require('fs');
const path = require('path');
const ts = require('typescript');

const [pkgDir, srcDir] = process.argv.slice(2);
if (!pkgDir || !srcDir) {
  console.error('usage: node distill.js <unpacked pipedrive package dir> <repo src dir>');
  process.exit(2);
}

const pkg = JSON.parse(fs.readFileSync(path.join(pkgDir, 'package.json'), 'utf8'));
const VERSIONS = { v1: '/v1', v2: '/api/v2' };

// ---------------------------------------------------------------------------------------------
// Operations: path, method and query parameters from the generated request builders (*.js).

function jsdocOf(node) {
  return (node.jsDoc || []).flatMap((d) => d.tags || []);
}

function commentText(c) {
  if (c === undefined) return '';
  if (typeof c === 'string') return c;
  return c.map((p) => p.text || '').join('');
}

// The first template or string literal inside `node` (the path, possibly followed by .replace()).
function firstLiteral(node) {
  let found;
  (function walk(n) {
    if (found) return;
    if (ts.isNoSubstitutionTemplateLiteral(n) || ts.isStringLiteral(n)) {
      found = n.text;
      return;
    }
    ts.forEachChild(n, walk);
  })(node);
  return found;
}

function firstIdentifier(node) {
  let found;
  (function walk(n) {
    if (found) return;
    if (ts.isIdentifier(n)) {
      found = n.text;
      return;
    }
    ts.forEachChild(n, walk);
  })(node);
  return found;
}

// One request builder: `name: (args) => __awaiter(... { const localVarPath = `...`; ... })`.
function readBuilder(prop) {
  let localPath;
  let method;
  const query = []; // [query name, argument name]
  (function walk(n) {
    if (ts.isVariableDeclaration(n) && n.name.getText() === 'localVarPath' && n.initializer) {
      localPath = firstLiteral(n.initializer);
    }
    if (ts.isPropertyAssignment(n) && n.name.getText() === 'method' && ts.isStringLiteral(n.initializer)) {
      method = method || n.initializer.text;
    }
    if (
      ts.isBinaryExpression(n) &&
      n.operatorToken.kind === ts.SyntaxKind.EqualsToken &&
      ts.isElementAccessExpression(n.left) &&
      n.left.expression.getText() === 'localVarQueryParameter'
    ) {
      const name = n.left.argumentExpression.text;
      // The argument: the condition of the enclosing `if`, else the right-hand side.
      let arg;
      for (let p = n.parent; p && p !== prop; p = p.parent) {
        if (ts.isIfStatement(p)) {
          arg = firstIdentifier(p.expression);
          break;
        }
      }
      query.push([name, arg || firstIdentifier(n.right)]);
    }
    ts.forEachChild(n, walk);
  })(prop.initializer);
  if (localPath === undefined || method === undefined) return undefined;

  const docs = {};
  let deprecated = false;
  for (const tag of jsdocOf(prop)) {
    if (ts.isJSDocParameterTag(tag)) {
      docs[tag.name.getText()] = {
        type: tag.typeExpression ? tag.typeExpression.type : undefined,
        optional: tag.isBracketed,
        text: commentText(tag.comment),
      };
    } else if (ts.isJSDocDeprecatedTag(tag)) {
      deprecated = true;
    }
  }
  return { name: prop.name.getText(), localPath, method, query, docs, deprecated };
}

function builders(jsFile) {
  const text = fs.readFileSync(jsFile, 'utf8');
  const sf = ts.createSourceFile(jsFile, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.JS);
  const out = [];
  (function walk(n) {
    if (
      ts.isPropertyAssignment(n) &&
      n.initializer &&
      (ts.isArrowFunction(n.initializer) || ts.isFunctionExpression(n.initializer))
    ) {
      const b = readBuilder(n);
      if (b) {
        out.push(b);
        return;
      }
    }
    ts.forEachChild(n, walk);
  })(sf);
  return out;
}

// A JSDoc type of a query parameter, as a small JSON Schema-like descriptor.
function paramType(node) {
  if (!node) return { type: 'any' };
  if (ts.isParenthesizedTypeNode(node)) return paramType(node.type);
  if (ts.isUnionTypeNode(node)) {
    const parts = node.types.map(paramType);
    if (parts.every((p) => p.enum)) {
      const kinds = [...new Set(parts.map((p) => p.type))];
      if (kinds.length === 1) {
        return { type: kinds[0], enum: sortValues(parts.flatMap((p) => p.enum)) };
      }
    }
    return { type: sortValues([...new Set(parts.map((p) => p.type).flat())]) };
  }
  if (ts.isLiteralTypeNode(node)) {
    const l = node.literal;
    if (ts.isStringLiteral(l)) return { type: 'string', enum: [l.text] };
    if (ts.isNumericLiteral(l)) return { type: 'number', enum: [Number(l.text)] };
    if (l.kind === ts.SyntaxKind.TrueKeyword || l.kind === ts.SyntaxKind.FalseKeyword) {
      return { type: 'boolean' };
    }
  }
  if (ts.isArrayTypeNode(node)) return { type: 'array', items: paramType(node.elementType) };
  if (ts.isTypeReferenceNode(node)) {
    const name = node.typeName.getText();
    if (name === 'Array' && node.typeArguments && node.typeArguments.length === 1) {
      return { type: 'array', items: paramType(node.typeArguments[0]) };
    }
    if (name === 'Date') return { type: 'string', format: 'date' };
    return { type: 'object', model: name };
  }
  switch (node.kind) {
    case ts.SyntaxKind.NumberKeyword:
      return { type: 'number' };
    case ts.SyntaxKind.StringKeyword:
      return { type: 'string' };
    case ts.SyntaxKind.BooleanKeyword:
      return { type: 'boolean' };
    default:
      return { type: 'any' };
  }
}

function sortValues(values) {
  return [...new Set(values)].sort((a, b) =>
    typeof a === typeof b ? (a < b ? -1 : a > b ? 1 : 0) : typeof a < typeof b ? -1 : 1,
  );
}

// What the parameter's documentation states beyond its type: the page size default and maximum,
// the most values a comma list or array may hold, whether it takes a comma list, and for `sort`
// the fields it takes and whether a direction may follow each.
function documentedFacts(name, type, text) {
  const out = {};
  const t = text.replace(/&lt;br\/&gt;/g, ' ');
  const num = (re) => {
    const m = t.match(re);
    return m ? Number(m[1]) : undefined;
  };
  if (type.type === 'number') {
    const max = num(/maximum value of (\d+)/i) ?? num(/upper limit is (\d+)/i);
    if (max !== undefined) out.maximum = max;
    const def = num(/if not provided,(?: up to)? (\d+) items/i);
    if (def !== undefined) out.default = def;
  }
  if (type.type === 'string' || type.type === 'array') {
    const items =
      num(/a maximum of (\d+) (?:keys|[a-z ]*ids)/i) ??
      num(/maximum (\d+) ids/i) ??
      num(/up to (\d+) entity ids/i);
    if (items !== undefined) out.max_items = items;
  }
  // v1 `sort`: "field ASC, field DESC"; the fields it takes, where listed in prose.
  if (/sorting mode/i.test(t)) out.with_direction = true;
  const listed = t.match(/supported fields: (.*)/i);
  if (listed && type.enum === undefined) {
    out.fields = sortValues([...listed[1].matchAll(/&#x60;([A-Za-z0-9_]+)&#x60;/g)].map((m) => m[1]));
  }
  // The string forms of a few parameters are lists of values.
  if (type.type === 'string' && type.enum === undefined && /comma.separated/i.test(t)) {
    out.comma_list = true;
  } else if (type.enum && /comma.separated|multiple .* can be included/i.test(t)) {
    out.comma_list = true;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Response models: the awaited return type of each `*Api` class method, read with the checker.

function program() {
  const roots = Object.keys(VERSIONS).map((v) => path.join(pkgDir, 'dist', 'versions', v, 'api.d.ts'));
  return ts.createProgram(roots, {
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2020,
    moduleResolution: ts.ModuleResolutionKind.Node10,
  });
}

function responseTypes(prog, checker, dtsFile) {
  const sf = prog.getSourceFile(dtsFile);
  const out = {};
  if (!sf) return out;
  for (const st of sf.statements) {
    if (!ts.isClassDeclaration(st)) continue;
    for (const m of st.members) {
      if (!ts.isMethodDeclaration(m)) continue;
      const sig = checker.getSignatureFromDeclaration(m);
      if (!sig) continue;
      const ret = checker.getReturnTypeOfSignature(sig);
      out[m.name.getText()] = checker.getAwaitedType(ret) || ret;
    }
  }
  return out;
}

function describer(checker) {
  function kindOf(t) {
    const f = t.flags;
    if (f & ts.TypeFlags.Null) return 'null';
    if (f & ts.TypeFlags.Undefined || f & ts.TypeFlags.Void) return 'undefined';
    if (f & ts.TypeFlags.NumberLike) return 'number';
    if (f & ts.TypeFlags.StringLike) return 'string';
    if (f & ts.TypeFlags.BooleanLike) return 'boolean';
    if (f & (ts.TypeFlags.Any | ts.TypeFlags.Unknown)) return 'any';
    if (checker.isArrayType(t) || checker.isTupleType(t)) return 'array';
    if (f & ts.TypeFlags.Object || f & ts.TypeFlags.Intersection || f & ts.TypeFlags.NonPrimitive) {
      return 'object';
    }
    return 'any';
  }

  function describe(type, depth) {
    const members = type.isUnion() ? type.types : [type];
    const out = {};
    const kinds = new Set();
    const literals = [];
    let allLiteral = true;
    const objects = [];
    const arrays = [];
    for (const m of members) {
      const k = kindOf(m);
      if (k === 'null') {
        out.nullable = true;
        continue;
      }
      if (k === 'undefined') continue;
      kinds.add(k);
      if (m.isStringLiteral() || m.isNumberLiteral()) literals.push(m.value);
      else if (k !== 'boolean') allLiteral = false;
      if (k === 'boolean') allLiteral = false;
      if (k === 'object') objects.push(m);
      if (k === 'array') arrays.push(m);
    }
    if (kinds.has('any')) {
      out.type = 'any';
      return order(out);
    }
    const list = [...kinds].sort();
    out.type = list.length === 1 ? list[0] : list;
    if (allLiteral && literals.length > 0 && list.length === 1) out.enum = sortValues(literals);
    if (arrays.length > 0) {
      const elems = arrays.map((a) => checker.getTypeArguments(a)[0]).filter(Boolean);
      if (elems.length > 0) out.items = describe(elems[0], depth);
    }
    if (objects.length > 0) {
      const o = objects[0];
      const props = checker.getPropertiesOfType(o);
      if (props.length === 0 || checker.getIndexInfosOfType(o).length > 0) out.open = true;
      if (depth > 0 && props.length > 0) {
        out.properties = {};
        for (const p of [...props].sort((a, b) => (a.name < b.name ? -1 : 1))) {
          const decl = p.valueDeclaration || (p.declarations || [])[0];
          const pt = decl ? checker.getTypeOfSymbolAtLocation(p, decl) : checker.getTypeOfSymbol(p);
          const d = describe(pt, depth - 1);
          if (/include_fields/.test(ts.displayPartsToString(p.getDocumentationComment(checker)))) {
            d.on_request = true;
          }
          out.properties[p.name] = d;
        }
      }
    }
    return order(out);
  }
  return describe;
}

function order(o) {
  const sorted = {};
  for (const k of Object.keys(o).sort()) sorted[k] = o[k];
  return sorted;
}

// ---------------------------------------------------------------------------------------------

function pathsInSource(dir) {
  const found = new Set();
  (function walk(d) {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.rs')) {
        const text = fs.readFileSync(p, 'utf8');
        for (const m of text.matchAll(/"(\/(?:v1|api\/v2)\/[A-Za-z0-9_{}./-]*)"/g)) found.add(m[1]);
      }
    }
  })(dir);
  return found;
}

// `{id}`, `{field_code}`, ... all stand for one path segment.
const shape = (p) => p.replace(/\{[^}]*\}/g, '{}');

function main() {
  const prog = program();
  const checker = prog.getTypeChecker();
  const describe = describer(checker);
  const wanted = new Set([...pathsInSource(srcDir)].map(shape));

  const all = [];
  for (const [v, prefix] of Object.entries(VERSIONS)) {
    const apiDir = path.join(pkgDir, 'dist', 'versions', v, 'api');
    for (const file of fs.readdirSync(apiDir).filter((f) => f.endsWith('.js')).sort()) {
      const responses = responseTypes(prog, checker, path.join(apiDir, file.replace(/\.js$/, '.d.ts')));
      for (const b of builders(path.join(apiDir, file))) {
        if (b.method !== 'GET') continue;
        const query = {};
        for (const [name, arg] of b.query) {
          const doc = b.docs[arg] || {};
          const type = paramType(doc.type);
          query[name] = order({
            ...type,
            ...documentedFacts(name, type, doc.text || ''),
            required: doc.optional === false,
          });
        }
        const resp = responses[b.name];
        let data;
        let additional;
        if (resp) {
          const d = resp.getProperty('data');
          const a = resp.getProperty('additional_data');
          const typeOf = (s) => checker.getTypeOfSymbolAtLocation(s, s.valueDeclaration || s.declarations[0]);
          if (d) {
            data = describe(typeOf(d), 3);
            // Records wrapped in an object (goals: `data.goals`) get the same depth as others.
            const inner = Object.values(data.properties || {});
            if (inner.length === 1 && inner[0].type === 'array') data = describe(typeOf(d), 4);
          }
          if (a) additional = describe(typeOf(a), 2);
        }
        all.push({
          beta: file === 'beta-api.js',
          version: v,
          path: prefix + b.localPath,
          operation: b.name,
          deprecated: b.deprecated,
          query: order(query),
          data,
          additional,
        });
      }
    }
  }

  // The v2 beta API repeats some operations of the other API files: one entry per path,
  // marked beta when the beta API has it.
  const merged = new Map();
  for (const op of all) {
    const key = op.path;
    const seen = merged.get(key);
    if (!seen) {
      merged.set(key, op);
      continue;
    }
    const same = (a, b) => JSON.stringify([a.query, a.data, a.additional]) === JSON.stringify([b.query, b.data, b.additional]);
    if (!same(seen, op)) {
      console.error(`note: ${key} differs between ${seen.operation} and ${op.operation}; keeping the non-beta one`);
    }
    const keep = seen.beta ? op : seen;
    merged.set(key, { ...keep, beta: seen.beta || op.beta, deprecated: seen.deprecated && op.deprecated });
  }
  const ops = [...merged.values()].sort((a, b) => (a.path < b.path ? -1 : 1));

  // A list: its data is an array, or it pages, or its data is an object holding one array and
  // nothing else of its own (goals: `data.goals`).
  const pages = (op) => ['limit', 'cursor', 'start'].some((q) => q in op.query);
  const wrapped = (op) => {
    const props = op.data && op.data.properties ? Object.entries(op.data.properties) : [];
    return props.length === 1 && props[0][1].type === 'array' ? props[0][0] : undefined;
  };
  const isList = (op) => (op.data && op.data.type === 'array') || pages(op) || wrapped(op) !== undefined;
  const paging = (op) =>
    'cursor' in op.query ? 'cursor' : 'start' in op.query ? 'offset' : 'limit' in op.query ? 'limit' : 'none';

  const list = ops.filter(isList).map((op) =>
    order({
      path: op.path,
      version: op.version,
      beta: op.beta,
      deprecated: op.deprecated,
      paging: paging(op),
      records: wrapped(op) ? `data.${wrapped(op)}` : op.data && op.data.type === 'array' ? 'data' : 'data (object)',
      required_query: Object.keys(op.query).filter((q) => op.query[q].required),
    }),
  );

  const operations = {};
  for (const op of ops) {
    if (!isList(op) && !wanted.has(shape(op.path))) continue;
    const entry = {
      version: op.version,
      path: op.path,
      operation: op.operation,
      beta: op.beta,
      deprecated: op.deprecated,
      query: op.query,
      response: order({ data: op.data, additional_data: op.additional }),
    };
    operations[op.path] = order(entry);
  }

  const out = {
    about:
      'Facts distilled from the official Pipedrive Node client by integration_tests/contract/distill.sh; ' +
      'checked against the stream table and schemas/ by integration_tests/contract.rs. Regenerate, do not edit.',
    client: { package: pkg.name, version: pkg.version },
    get_endpoints: ops.map((op) => op.path),
    list_endpoints: list,
    operations,
  };
  process.stdout.write(JSON.stringify(out, null, 2) + '\n');
}

main();
