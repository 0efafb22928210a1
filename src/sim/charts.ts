// Charts as SVG strings (line and grouped-bar), rendered to PNG with resvg. Self-contained: titles, axis
// labels, ticks and a legend are drawn so a chart reads without its table.
import { Resvg } from '@resvg/resvg-js';

export interface Series {
  name: string;
  points: readonly (readonly [number, number])[];
  /** Dashed line (used for "ours" variants so they stand apart from the paper's scheduler). */
  dashed?: boolean;
  /** Thick black line: the series the chart is about (the paper's TetriServe). */
  emphasis?: boolean;
  /** Half-width of the 95% confidence interval at each point (drawn as an error bar); NaN or absent: none. */
  ci?: readonly number[];
}

export interface LineChartSpec {
  title: string;
  subtitle?: string;
  xLabel: string;
  yLabel: string;
  series: readonly Series[];
  yMin?: number;
  yMax?: number;
  /** Format of y tick labels. */
  yFormat?: (v: number) => string;
  xTicks?: readonly number[];
}

export interface BarChartSpec {
  title: string;
  subtitle?: string;
  yLabel: string;
  /** Category labels along x. */
  categories: readonly string[];
  /** One bar per series in each category. */
  series: readonly { name: string; values: readonly number[]; emphasis?: boolean; ci?: readonly number[] }[];
  yMin?: number;
  yMax?: number;
  yFormat?: (v: number) => string;
}

const W = 1060;
const H = 540;
const M = { left: 80, right: 390, top: 70, bottom: 70 };
const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf', '#393b79', '#637939', '#e7969c', '#843c39'];

/** Emphasised series are black; the others take palette colours in order. */
function seriesColors(series: readonly { emphasis?: boolean }[]): string[] {
  let k = 0;
  return series.map((s) => (s.emphasis ? '#000000' : PALETTE[k++ % PALETTE.length]));
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function niceTicks(lo: number, hi: number, count = 6): number[] {
  const span = hi - lo || 1;
  const raw = span / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + 1e-9; v += step) out.push(+v.toFixed(10));
  return out;
}

function frame(title: string, subtitle: string | undefined, xLabel: string, yLabel: string): string[] {
  const parts: string[] = [];
  parts.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="white"/>`);
  parts.push(`<text x="${M.left}" y="30" font-family="DejaVu Sans" font-size="20" font-weight="bold" fill="#111">${esc(title)}</text>`);
  if (subtitle) parts.push(`<text x="${M.left}" y="52" font-family="DejaVu Sans" font-size="13" fill="#555">${esc(subtitle)}</text>`);
  parts.push(`<text x="${M.left + (W - M.left - M.right) / 2}" y="${H - 20}" text-anchor="middle" font-family="DejaVu Sans" font-size="15" fill="#222">${esc(xLabel)}</text>`);
  const cy = M.top + (H - M.top - M.bottom) / 2;
  parts.push(`<text x="22" y="${cy}" text-anchor="middle" transform="rotate(-90 22 ${cy})" font-family="DejaVu Sans" font-size="15" fill="#222">${esc(yLabel)}</text>`);
  return parts;
}

function legend(names: readonly { name: string; color: string; dashed?: boolean; bar?: boolean }[]): string[] {
  const parts: string[] = [];
  const x = W - M.right + 20;
  names.forEach((n, i) => {
    const y = M.top + 10 + i * 24;
    if (n.bar) parts.push(`<rect x="${x}" y="${y - 9}" width="22" height="14" fill="${n.color}"/>`);
    else parts.push(`<line x1="${x}" y1="${y - 2}" x2="${x + 26}" y2="${y - 2}" stroke="${n.color}" stroke-width="3"${n.dashed ? ' stroke-dasharray="7 4"' : ''}/><circle cx="${x + 13}" cy="${y - 2}" r="4" fill="${n.color}"/>`);
    parts.push(`<text x="${x + 34}" y="${y + 3}" font-family="DejaVu Sans" font-size="13" fill="#222">${esc(n.name)}</text>`);
  });
  return parts;
}

function yAxis(lo: number, hi: number, fmt: (v: number) => string): { y: (v: number) => number; parts: string[] } {
  const ph = H - M.top - M.bottom;
  const y = (v: number): number => M.top + ph - ((v - lo) / (hi - lo || 1)) * ph;
  const parts: string[] = [];
  for (const t of niceTicks(lo, hi)) {
    parts.push(`<line x1="${M.left}" y1="${y(t)}" x2="${W - M.right}" y2="${y(t)}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${M.left - 8}" y="${y(t) + 4}" text-anchor="end" font-family="DejaVu Sans" font-size="12" fill="#333">${esc(fmt(t))}</text>`);
  }
  parts.push(`<line x1="${M.left}" y1="${M.top}" x2="${M.left}" y2="${H - M.bottom}" stroke="#333"/>`);
  parts.push(`<line x1="${M.left}" y1="${H - M.bottom}" x2="${W - M.right}" y2="${H - M.bottom}" stroke="#333"/>`);
  return { y, parts };
}

export function lineChartSvg(spec: LineChartSpec): string {
  const all = spec.series.flatMap((s) => s.points).filter((p) => Number.isFinite(p[1]));
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]);
  const xlo = Math.min(...xs);
  const xhi = Math.max(...xs);
  const ylo = spec.yMin ?? Math.min(...ys);
  const yhi = spec.yMax ?? Math.max(...ys);
  const fmt = spec.yFormat ?? ((v: number) => String(v));
  const pw = W - M.left - M.right;
  const x = (v: number): number => M.left + ((v - xlo) / (xhi - xlo || 1)) * pw;
  const parts = frame(spec.title, spec.subtitle, spec.xLabel, spec.yLabel);
  const ax = yAxis(ylo, yhi, fmt);
  parts.push(...ax.parts);
  for (const t of spec.xTicks ?? niceTicks(xlo, xhi)) {
    parts.push(`<line x1="${x(t)}" y1="${H - M.bottom}" x2="${x(t)}" y2="${H - M.bottom + 5}" stroke="#333"/>`);
    parts.push(`<text x="${x(t)}" y="${H - M.bottom + 20}" text-anchor="middle" font-family="DejaVu Sans" font-size="12" fill="#333">${esc(String(+t.toFixed(3)))}</text>`);
  }
  const colors = seriesColors(spec.series);
  spec.series.forEach((s, i) => {
    const color = colors[i];
    // Break the line at missing values (NaN) instead of drawing through them.
    let d = '';
    let pen = false;
    for (const [px, py] of s.points) {
      if (!Number.isFinite(py)) {
        pen = false;
        continue;
      }
      d += `${pen ? 'L' : 'M'}${x(px).toFixed(1)},${ax.y(py).toFixed(1)} `;
      pen = true;
    }
    parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="${s.emphasis ? 4.5 : 2.5}"${s.dashed ? ' stroke-dasharray="7 4"' : ''}/>`);
    s.points.forEach(([px, py], j) => {
      const h = s.ci?.[j];
      if (Number.isFinite(py) && h !== undefined && Number.isFinite(h) && h > 0) parts.push(errorBar(x(px), ax.y(py + h), ax.y(py - h), color, 4));
    });
    if (s.points.length <= 40) for (const [px, py] of s.points) if (Number.isFinite(py)) parts.push(`<circle cx="${x(px).toFixed(1)}" cy="${ax.y(py).toFixed(1)}" r="3.5" fill="${color}"/>`);
  });
  parts.push(...legend(spec.series.map((s, i) => ({ name: s.name, color: colors[i], dashed: s.dashed }))));
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">${parts.join('')}</svg>`;
}

/** A vertical 95% CI bar from y top to y bottom (pixels) with caps of half-width w. */
function errorBar(cx: number, yTop: number, yBottom: number, color: string, w: number): string {
  const c = cx.toFixed(1);
  return `<path d="M${c},${yTop.toFixed(1)} L${c},${yBottom.toFixed(1)} M${(cx - w).toFixed(1)},${yTop.toFixed(1)} L${(cx + w).toFixed(1)},${yTop.toFixed(1)} M${(cx - w).toFixed(1)},${yBottom.toFixed(1)} L${(cx + w).toFixed(1)},${yBottom.toFixed(1)}" stroke="${color}" stroke-width="1.5" fill="none"/>`;
}

export function barChartSvg(spec: BarChartSpec): string {
  const vals = spec.series.flatMap((s) => s.values).filter(Number.isFinite);
  const ylo = spec.yMin ?? Math.min(0, ...vals);
  const yhi = spec.yMax ?? Math.max(...vals);
  const fmt = spec.yFormat ?? ((v: number) => String(v));
  const parts = frame(spec.title, spec.subtitle, '', spec.yLabel);
  const ax = yAxis(ylo, yhi, fmt);
  parts.push(...ax.parts);
  const pw = W - M.left - M.right;
  const cw = pw / spec.categories.length;
  const bw = (cw * 0.8) / spec.series.length;
  const colors = seriesColors(spec.series);
  spec.categories.forEach((c, ci) => {
    const x0 = M.left + ci * cw + cw * 0.1;
    parts.push(`<text x="${M.left + ci * cw + cw / 2}" y="${H - M.bottom + 20}" text-anchor="middle" font-family="DejaVu Sans" font-size="13" fill="#333">${esc(c)}</text>`);
    spec.series.forEach((s, si) => {
      const v = s.values[ci];
      if (!Number.isFinite(v)) return;
      const y0 = ax.y(Math.max(ylo, 0));
      const y1 = ax.y(v);
      parts.push(`<rect x="${(x0 + si * bw).toFixed(1)}" y="${Math.min(y0, y1).toFixed(1)}" width="${(bw * 0.92).toFixed(1)}" height="${Math.abs(y0 - y1).toFixed(1)}" fill="${colors[si]}"/>`);
      const h = s.ci?.[ci];
      if (h !== undefined && Number.isFinite(h) && h > 0) parts.push(errorBar(x0 + si * bw + bw * 0.46, ax.y(v + h), ax.y(v - h), '#222', Math.min(4, bw * 0.3)));
    });
  });
  parts.push(...legend(spec.series.map((s, i) => ({ name: s.name, color: colors[i], bar: true }))));
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}">${parts.join('')}</svg>`;
}

/** Renders an SVG string to PNG bytes (system fonts, white background). */
export function svgToPng(svg: string): Buffer {
  const r = new Resvg(svg, { background: 'white', font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' } });
  return r.render().asPng();
}
