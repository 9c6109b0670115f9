// Chart.js (vendored: static/vendor/chart.umd.min.js) with the page's theme: colours come from the
// CSS variables, billed amounts are hatched (so that colour is never the only signal).

export function css(name) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || "#888";
}

export function stateColour(key) {
  return css(`--st-${key}`);
}

const patterns = new Map();
/** Diagonal hatching over a colour: how billed spans and billed amounts are drawn. */
export function hatch(colour, stripe = css("--billed")) {
  const key = `${colour}|${stripe}`;
  let p = patterns.get(key);
  if (p) return p;
  const c = document.createElement("canvas");
  c.width = c.height = 8;
  const g = c.getContext("2d");
  g.fillStyle = colour;
  g.fillRect(0, 0, 8, 8);
  g.strokeStyle = stripe;
  g.lineWidth = 2;
  g.beginPath();
  g.moveTo(-2, 2); g.lineTo(2, -2);
  g.moveTo(0, 8); g.lineTo(8, 0);
  g.moveTo(6, 10); g.lineTo(10, 6);
  g.stroke();
  p = g.createPattern(c, "repeat");
  patterns.set(key, p);
  return p;
}

export function resetPatterns() {
  patterns.clear();
}

export function ChartJs() {
  return window.Chart;
}

/** Defaults that follow the theme; call again when the theme changes. */
export function applyTheme() {
  const Chart = ChartJs();
  if (!Chart) return;
  Chart.defaults.color = css("--text");
  Chart.defaults.borderColor = css("--border");
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.animation = false; // live data: redraws are instant, never animated
  Chart.defaults.maintainAspectRatio = false;
  Chart.defaults.responsive = true;
  resetPatterns();
}

/** A chart on a canvas, replaced when the canvas already has one. */
export function chartOn(canvas, config) {
  const Chart = ChartJs();
  if (!Chart) return null;
  Chart.getChart(canvas)?.destroy();
  return new Chart(canvas, config);
}
