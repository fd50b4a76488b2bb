// A job's timeline: a strip of its slots around now, coloured by outcome, with a
// legend. Clicking a slot that ran opens that run below the strip.

import { api, errorText } from "../api.js";
import { h } from "../dom.js";
import { fmtTime } from "../format.js";
import { runDetail } from "./run.js";

export const OUTCOMES = [
  "success",
  "failed",
  "timeout",
  "interrupted",
  "missed",
  "skipped",
  "cancelled",
  "running",
  "waiting",
  "paused",
  "upcoming",
];

// Hours before and after now, widest first: a job that fires often gets a narrower
// window, since one timeline holds at most 1000 slots.
const WINDOWS = [24, 6, 1];

async function loadTimeline(enc) {
  let lastError = null;
  for (const hours of WINDOWS) {
    const now = Date.now();
    const query = {
      start: new Date(now - hours * 3600_000).toISOString(),
      end: new Date(now + hours * 3600_000).toISOString(),
    };
    try {
      return { hours, timeline: await api("GET", `/tasks/${enc}/timeline`, { query }) };
    } catch (error) {
      lastError = error;
      if (error.status !== 422) break;
    }
  }
  throw lastError;
}

function legend() {
  return h(
    "ul",
    { class: "timeline-legend", id: "timeline-legend" },
    OUTCOMES.map((outcome) =>
      h("li", {}, h("span", { class: `swatch outcome-${outcome}` }), h("span", { text: outcome })),
    ),
  );
}

async function openRun(executionId, box) {
  box.replaceChildren(h("p", { class: "muted", text: "Loading…" }));
  try {
    box.replaceChildren(runDetail(await api("GET", `/tasks/executions/${executionId}`)));
  } catch (error) {
    box.replaceChildren(h("p", { class: "error", text: errorText(error) }));
  }
}

function strip(timeline, box, selected) {
  if (!timeline.slots.length) {
    return h("p", { class: "muted", text: "No slots in this window." });
  }
  return h(
    "ol",
    { class: "timeline-strip", id: "timeline-strip" },
    timeline.slots.map((slot) => {
      const last = slot.execution_ids[slot.execution_ids.length - 1];
      const attempts = slot.attempts > 1 ? `, ${slot.attempts} attempts` : "";
      const label = `${fmtTime(slot.time)}: ${slot.outcome} (${slot.trigger}${attempts})`;
      const cell = h("li", {
        class: `slot outcome-${slot.outcome}${last === selected.id ? " selected" : ""}`,
        title: label,
        "aria-label": label,
        "data-outcome": slot.outcome,
        "data-trigger": slot.trigger,
        "data-execution-id": last === undefined ? null : last,
      });
      if (last !== undefined) {
        cell.tabIndex = 0;
        const open = () => {
          selected.id = last;
          for (const other of cell.parentNode.children) other.classList.remove("selected");
          cell.classList.add("selected");
          openRun(last, box);
        };
        cell.addEventListener("click", open);
        cell.addEventListener("keydown", (event) => {
          if (event.key === "Enter" || event.key === " ") open();
        });
      }
      return cell;
    }),
  );
}

// The panel's content; `selected` keeps the open run across refreshes.
export async function renderTimeline(enc, panel, box, selected) {
  let loaded;
  try {
    loaded = await loadTimeline(enc);
  } catch (error) {
    panel.replaceChildren(
      h("h2", { text: "Timeline" }),
      h("p", { class: "error", text: errorText(error) }),
    );
    return;
  }
  panel.replaceChildren(
    h("h2", { text: "Timeline" }),
    h("p", {
      class: "muted",
      id: "timeline-window",
      text: `${loaded.hours} h before and after now; click a slot that ran to open its run.`,
    }),
    strip(loaded.timeline, box, selected),
    legend(),
    box,
  );
}
