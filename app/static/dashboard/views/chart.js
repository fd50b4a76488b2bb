import { badge, h, s } from "../dom.js";
import { fmtDuration, fmtTime } from "../format.js";
import { STATUSES } from "../state.js";

// Bars of run durations, oldest on the left, coloured by outcome. Runs that never ran
// (missed, skipped) or have not finished show as a short mark on the baseline.
export function durationChart(runs) {
  if (!runs.length) return h("p", { class: "muted", text: "No runs yet." });
  const ordered = [...runs].reverse();
  const width = 760;
  const height = 200;
  const left = 56;
  const bottom = 28;
  const top = 12;
  const plotH = height - bottom - top;
  const plotW = width - left - 8;
  const max = Math.max(...ordered.map((r) => r.duration_seconds || 0), 0.001);
  const slot = plotW / ordered.length;
  const barW = Math.max(2, Math.min(24, slot * 0.7));
  const bars = ordered.map((r, i) => {
    const value = r.duration_seconds;
    const barH = value ? Math.max(2, (value / max) * plotH) : 3;
    const x = left + i * slot + (slot - barW) / 2;
    return s(
      "rect",
      {
        class: `bar ${r.status}`,
        x: x.toFixed(1),
        y: (top + plotH - barH).toFixed(1),
        width: barW.toFixed(1),
        height: barH.toFixed(1),
        "data-execution-id": r.id,
      },
      s("title", {
        text: `#${r.id} ${r.status} · ${fmtTime(r.started_at)} · ${fmtDuration(value)}`,
      }),
    );
  });
  const svgEl = s(
    "svg",
    {
      class: "chart",
      viewBox: `0 0 ${width} ${height}`,
      role: "img",
      "aria-label": "Run durations and outcomes",
    },
    s("line", { class: "axis", x1: left, y1: top + plotH, x2: width - 8, y2: top + plotH }),
    s("line", { class: "axis", x1: left, y1: top, x2: left, y2: top + plotH }),
    s("text", {
      class: "tick",
      x: left - 6,
      y: top + 4,
      "text-anchor": "end",
      text: fmtDuration(max),
    }),
    s("text", { class: "tick", x: left - 6, y: top + plotH, "text-anchor": "end", text: "0" }),
    s("text", { class: "tick", x: left, y: height - 8, text: fmtTime(ordered[0].started_at) }),
    s("text", {
      class: "tick",
      x: width - 8,
      y: height - 8,
      "text-anchor": "end",
      text: fmtTime(ordered[ordered.length - 1].started_at),
    }),
    bars,
  );
  const present = STATUSES.filter((st) => ordered.some((r) => r.status === st));
  return h(
    "div",
    {},
    svgEl,
    h(
      "p",
      { class: "legend" },
      `Last ${ordered.length} runs, oldest first: `,
      present.map((st) => [badge(st), " "]),
    ),
  );
}
