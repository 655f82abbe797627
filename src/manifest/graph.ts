/**
 * Who sees what, as Graphviz dot: listeners -> the profiles they hand out -> the mount
 * points of each profile's namespace -> the capabilities in each union, the edges
 * numbered in search order. Render with `capns manifest graph m.yaml | dot -Tsvg > m.svg`.
 */
import { formatAddress } from './address.js';
import { buildOnPaper, capabilityInterface, serves } from './check.js';
import { formatInterfaceRef } from './interfaces.js';
import type { Manifest } from './types.js';

/** A dot ID: always quoted, with `"` and `\` escaped (dot's own rules). */
function id(text: string): string {
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

/**
 * The manifest as a dot digraph. Mount points are per profile (alice's /tmp is not
 * bob's); capabilities are shared nodes. An edge label reads `1`, `2`, ... (union order,
 * first searched first), then `create` (MCREATE, also drawn bold), `spec=...` and
 * `via /from` for members that a bind put there. Pure.
 */
export function manifestGraph(m: Manifest): string {
  const out: string[] = [];
  out.push('digraph capns {');
  out.push('  rankdir=LR;');
  out.push('  node [fontname="Helvetica", fontsize=11];');
  out.push('  edge [fontname="Helvetica", fontsize=9];');

  m.listeners.forEach((l, i) => {
    out.push(
      `  ${id(`listener:${i}`)} [shape=cds, label=${id(`${l.protocol} ${formatAddress(l.address)}${l.tls ? ' (tls)' : ''}`)}];`,
    );
    for (const p of m.profiles) {
      if (serves(l, p))
        out.push(`  ${id(`listener:${i}`)} -> ${id(`profile:${p.name}`)} [style=dashed];`);
    }
  });
  m.exports.forEach((e, i) => {
    const label = `export ${e.root}${e.readOnly ? ' (read-only)' : ''}\n${formatAddress(e.listen)}`;
    out.push(`  ${id(`export:${i}`)} [shape=cds, label=${id(label)}];`);
    out.push(`  ${id(`export:${i}`)} -> ${id(`profile:${e.profile}`)} [style=dashed];`);
  });

  for (const c of m.capabilities) {
    const iface = capabilityInterface(c);
    out.push(
      `  ${id(`cap:${c.name}`)} [shape=component, label=${id(`${c.name}\n${c.type}${iface === undefined ? '' : ` · ${formatInterfaceRef(iface)}`}`)}];`,
    );
    // A service's offers and a board's names are nodes of their own, below it.
    const parts = c.type === 'service' ? c.offers : c.type === 'srv' ? c.names : [];
    for (const part of parts) {
      const pi = capabilityInterface(c, part.name);
      out.push(`  ${id(`cap:${c.name}/${part.name}`)} [shape=component, label=${id(`${c.name}/${part.name}${pi === undefined ? '' : `\n${formatInterfaceRef(pi)}`}`)}];`);
      out.push(`  ${id(`cap:${c.name}`)} -> ${id(`cap:${c.name}/${part.name}`)} [style=dotted];`);
    }
  }

  for (const p of m.profiles) {
    const auth = [
      p.auth.tokens.length > 0
        ? `${p.auth.tokens.length} token${p.auth.tokens.length === 1 ? '' : 's'}`
        : '',
      p.auth.tlsSubjects.length > 0 ? 'tls' : '',
      p.auth.loopback ? 'loopback' : '',
    ].filter((a) => a !== '');
    out.push(
      `  ${id(`profile:${p.name}`)} [shape=box, style=rounded, label=${id(`${p.name}${auth.length > 0 ? `\n(${auth.join(', ')})` : ''}`)}];`,
    );
    const paper = buildOnPaper(m, p);
    for (const [at, stack] of paper.stacks) {
      const node = id(`path:${p.name}:${at}`);
      out.push(`  ${node} [shape=folder, label=${id(at)}];`);
      out.push(`  ${id(`profile:${p.name}`)} -> ${node};`);
      stack.forEach((member, i) => {
        const label = [
          String(i + 1),
          member.create ? 'create' : '',
          member.spec !== '' ? `spec=${member.spec}` : '',
          member.via !== undefined ? `via ${member.via}` : '',
        ]
          .filter((x) => x !== '')
          .join(' ');
        out.push(
          `  ${node} -> ${id(`cap:${member.label}`)} [label=${id(label)}${member.create ? ', style=bold' : ''}];`,
        );
      });
    }
  }
  out.push('}');
  return out.join('\n') + '\n';
}
