//! The page's one style sheet, inline (the Content-Security-Policy allows inline styles only):
//! light and dark colours, and a print layout.

pub(super) const STYLE: &str = r#"
:root {
  --fg: #1f2328; --muted: #59636e; --bg: #ffffff; --panel: #f6f8fa; --line: #d1d9e0;
  --accent: #0969da; --accent-soft: #9ec5f8; --waste: #e3a008; --warn-bg: #fff8c5;
  --warn-line: #d4a72c; --good: #1a7f37;
}
@media screen and (prefers-color-scheme: dark) {
  :root {
    --fg: #e6edf3; --muted: #9198a1; --bg: #0d1117; --panel: #151b23; --line: #3d444d;
    --accent: #4493f8; --accent-soft: #1f4a80; --waste: #d29922; --warn-bg: #272115;
    --warn-line: #9e6a03; --good: #3fb950;
  }
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; text-size-adjust: 100%; }
body {
  margin: 0; background: var(--bg); color: var(--fg);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
}
.page { max-width: 1120px; margin: 0 auto; padding: 28px 24px 48px; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace;
  font-size: 0.88em; overflow-wrap: anywhere; }
.eyebrow { margin: 0; color: var(--muted); font-size: 13px; text-transform: uppercase;
  letter-spacing: 0.08em; font-weight: 600; }
h1 { margin: 2px 0 6px; font-weight: 600; line-height: 1.2; }
h1 .total { font-size: 40px; font-weight: 700; font-variant-numeric: tabular-nums; }
h1 .subject { font-size: 20px; color: var(--muted); font-weight: 500; margin-left: 8px; }
ul.facts { list-style: none; margin: 0; padding: 0; display: flex; flex-wrap: wrap;
  gap: 2px 18px; color: var(--muted); font-size: 14px; }
.tag { display: inline-block; padding: 0 7px; border: 1px solid var(--line); border-radius: 10px;
  font-size: 12px; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(165px, 1fr)); gap: 12px;
  margin: 22px 0 8px; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 8px;
  padding: 10px 14px; }
.card.wide { grid-column: span 2; }
.card .label { color: var(--muted); font-size: 12px; text-transform: uppercase;
  letter-spacing: 0.05em; font-weight: 600; }
.card .value { font-size: 22px; font-weight: 600; font-variant-numeric: tabular-nums;
  overflow-wrap: anywhere; }
.card .note { color: var(--muted); font-size: 13px; }
.warning { border-left: 4px solid var(--warn-line); background: var(--warn-bg);
  padding: 8px 14px; border-radius: 6px; margin: 10px 0; }
h2 { font-size: 20px; margin: 34px 0 12px; padding-bottom: 6px;
  border-bottom: 1px solid var(--line); }
.hint { color: var(--muted); font-size: 13px; font-weight: normal; }
.muted { color: var(--muted); }
ol.findings { list-style: none; margin: 0; padding: 0; display: grid; gap: 10px; }
.finding { border: 1px solid var(--line); border-left: 4px solid var(--good); border-radius: 8px;
  padding: 10px 16px; background: var(--panel); display: flow-root; }
.finding h3 { margin: 0 0 2px; font-size: 16px; overflow-wrap: anywhere; }
.finding p { margin: 0 0 2px; overflow-wrap: anywhere; }
.finding .saving { float: right; margin: 0 0 4px 16px; color: var(--good); font-weight: 600;
  white-space: nowrap; }
.finding .evidence { color: var(--muted); font-size: 13px; }
.projection { font-size: 16px; }
.charts { display: grid; gap: 16px; }
figure.chart { margin: 0; border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; }
figcaption { font-weight: 600; margin-bottom: 8px; }
svg { display: block; width: 100%; height: auto; overflow: visible; }
svg text { fill: var(--fg); font-size: 12px; font-family: inherit; }
svg text.value, svg text.muted { fill: var(--muted); }
svg .bar { fill: var(--accent); }
svg .bar-soft { fill: var(--accent-soft); }
svg .waste { fill: var(--waste); }
svg .axis { stroke: var(--line); stroke-width: 1; }
svg .line { fill: none; stroke: var(--waste); stroke-width: 2; stroke-linejoin: round; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 18px; color: var(--muted); font-size: 13px;
  margin-top: 6px; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 5px;
  vertical-align: -1px; }
.swatch.bar { background: var(--accent); }
.swatch.bar-soft { background: var(--accent-soft); }
.swatch.waste { background: var(--waste); }
.swatch.line { background: var(--waste); height: 3px; vertical-align: 3px; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 14px; }
th, td { padding: 5px 10px; border-bottom: 1px solid var(--line); text-align: left;
  vertical-align: top; }
td { overflow-wrap: anywhere; }
th { font-size: 12px; text-transform: uppercase; letter-spacing: 0.04em; color: var(--muted);
  font-weight: 600; white-space: nowrap; }
th.num, td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap;
  overflow-wrap: normal; }
tbody tr:hover { background: var(--panel); }
.more { color: var(--muted); font-style: italic; }
footer { margin-top: 40px; padding-top: 12px; border-top: 1px solid var(--line);
  color: var(--muted); font-size: 13px; }
@media print {
  :root { --fg: #000; --muted: #444; --bg: #fff; --panel: #fff; --line: #bbb;
    --warn-bg: #fff; --good: #1a7f37; }
  body { font-size: 10pt; background: #fff; color: #000; }
  .page { max-width: none; padding: 0; }
  h1 .total { font-size: 26pt; }
  .card, .finding, figure.chart, .warning, tr { break-inside: avoid; page-break-inside: avoid; }
  h2, h3, figcaption { break-after: avoid; page-break-after: avoid; }
  thead { display: table-header-group; }
  .table-wrap { overflow: visible; }
  tbody tr:hover { background: none; }
  svg, .swatch { print-color-adjust: exact; -webkit-print-color-adjust: exact; }
}
@page { margin: 14mm; }
"#;
