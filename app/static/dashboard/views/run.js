// One run in detail: who ran it, its traceback and what it logged side by side, and
// its result.

import { h } from "../dom.js";
import { fmtTime } from "../format.js";

function logLines(detail) {
  if (!detail.logs?.length) {
    return h("p", { class: "muted", text: "This run logged nothing." });
  }
  return h(
    "ol",
    { class: "run-logs" },
    detail.logs.map((line) =>
      h(
        "li",
        { class: `log-line level-${String(line.level).toLowerCase()}` },
        h("span", { class: "log-time", text: fmtTime(line.time) }),
        " ",
        h("span", { class: "log-level", text: line.level }),
        " ",
        h("span", { class: "log-message", text: line.message }),
      ),
    ),
  );
}

export function runDetail(detail) {
  return h(
    "div",
    { class: "detail-body", "data-execution-id": detail.id },
    h("p", {
      class: "muted",
      text: `Run #${detail.id}, ${detail.status}; runner ${detail.runner || "—"}; completed ${fmtTime(detail.completed_at)}`,
    }),
    h(
      "div",
      { class: "run-columns" },
      detail.error_traceback
        ? h(
            "div",
            {},
            h("h4", { text: "Traceback" }),
            h("pre", { class: "traceback", text: detail.error_traceback }),
          )
        : null,
      h(
        "div",
        { class: "run-log-box" },
        h("h4", { text: detail.logs_truncated ? "Logs (truncated)" : "Logs" }),
        logLines(detail),
      ),
    ),
    detail.result !== null && detail.result !== undefined
      ? h("pre", { class: "result", text: JSON.stringify(detail.result, null, 2) })
      : null,
  );
}
