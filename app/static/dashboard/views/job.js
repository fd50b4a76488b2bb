// One job: its header and actions, stats, its timeline, the duration chart, executions
// and audit log.

import { actionButtons } from "../actions.js";
import { ApiError, api, errorText } from "../api.js";
import { badge, card, h, main, toast } from "../dom.js";
import { fmtDuration, fmtRate, fmtRelative, fmtTime } from "../format.js";
import { may } from "../roles.js";
import { every, REFRESH_MS, STATUSES, state } from "../state.js";
import { durationChart } from "./chart.js";
import { runDetail } from "./run.js";
import { renderTimeline } from "./timeline.js";

export function viewJob(jobId) {
  const view = state.view;
  const enc = encodeURIComponent(jobId);
  state.expanded = new Map();
  // The reason box stays put while the rest refreshes, so typing in it is not lost.
  const info = h("div", {}, h("p", { class: "muted", text: "Loading…" }));
  const reason = h("input", {
    id: "reason",
    type: "text",
    maxlength: 500,
    placeholder: "Reason for changes (optional)",
    hidden: !may("operator"),
  });
  const actions = h("div", {});
  const header = h(
    "section",
    { class: "panel", id: "job-header" },
    info,
    h("div", { class: "toolbar" }, reason, actions),
  );
  const stats = h("section", { class: "cards", id: "job-stats" });
  const chart = h("section", { class: "panel", id: "job-chart" });
  const timeline = h("section", { class: "panel", id: "job-timeline" });
  const timelineRun = h("div", { id: "timeline-run" });
  const backfill = backfillForm(jobId, reason, () => refresh("backfill"));
  const timelineSelected = { id: null };
  const filter = h(
    "select",
    {
      id: "status-filter",
      onchange: () => {
        state.statusFilter = filter.value;
        refresh();
      },
    },
    h("option", { value: "", text: "all statuses" }),
    STATUSES.map((st) => h("option", { value: st, text: st })),
  );
  filter.value = state.statusFilter;
  const executions = h("div", { id: "executions" });
  const audit = h("div", { id: "audit" });
  const scrapes = h("section", { class: "panel", id: "bot-sessions", hidden: true });
  state.auditOpen = new Set();
  main().replaceChildren(
    h(
      "nav",
      { class: "crumbs" },
      h("a", { href: "#/", text: "Jobs" }),
      " / ",
      h("span", { class: "mono", text: jobId }),
    ),
    header,
    stats,
    timeline,
    backfill,
    chart,
    scrapes,
    h(
      "section",
      { class: "panel" },
      h("div", { class: "toolbar" }, h("h2", { text: "Recent executions" }), filter),
      executions,
    ),
    h("section", { class: "panel" }, h("h2", { text: "Audit log" }), audit),
  );

  let gone = false;
  const refresh = async (action) => {
    if (action === "delete") {
      location.hash = "#/";
      return;
    }
    const [job, st, runs, chartRuns, log] = await Promise.allSettled([
      api("GET", `/tasks/${enc}`),
      api("GET", `/tasks/${enc}/stats`),
      api("GET", `/tasks/${enc}/executions`, { query: { limit: 50, status: state.statusFilter } }),
      api("GET", `/tasks/${enc}/executions`, { query: { limit: 60 } }),
      api("GET", `/tasks/${enc}/audit`, { query: { limit: 50 } }),
    ]);
    if (view !== state.view) return;
    renderTimeline(enc, timeline, timelineRun, timelineSelected);
    if (job.status === "fulfilled") {
      info.replaceChildren(...jobHeader(job.value));
      actions.replaceChildren(actionButtons(job.value, reason, refresh));
      if (job.value.bot_config_id !== null) showBotSessions(job.value.bot_config_id, scrapes);
    } else if (job.reason instanceof ApiError && job.reason.status === 404) {
      gone = true;
      info.replaceChildren(
        h("h1", { class: "mono", text: jobId }),
        h("p", { class: "muted", text: "This job no longer exists; its history remains." }),
      );
      reason.hidden = true;
      actions.replaceChildren();
    } else {
      info.replaceChildren(h("p", { class: "error", text: errorText(job.reason) }));
    }
    if (st.status === "fulfilled") stats.replaceChildren(...statCards(st.value));
    if (chartRuns.status === "fulfilled")
      chart.replaceChildren(
        h("h2", { text: "Durations and outcomes" }),
        durationChart(chartRuns.value),
      );
    if (runs.status === "fulfilled")
      executions.replaceChildren(executionsTable(runs.value, reason, refresh));
    else executions.replaceChildren(h("p", { class: "error", text: errorText(runs.reason) }));
    if (log.status === "fulfilled") audit.replaceChildren(auditTable(log.value));
    else audit.replaceChildren(h("p", { class: "error", text: errorText(log.reason) }));
    if (action === "run") {
      // The run writes its row first thing; look again shortly to catch its outcome.
      setTimeout(() => view === state.view && refresh(), 700);
    }
  };
  every(REFRESH_MS, () => {
    if (!gone) refresh();
  });
  return refresh();
}

// A bot job's last scrape sessions, with what each cost. Only the config's owner and
// superusers may read them; anyone else is told so instead.
async function showBotSessions(botConfigId, panel) {
  let page;
  try {
    page = await api("GET", "/scrape-sessions", {
      query: { bot_config_id: botConfigId, limit: 10 },
    });
  } catch (error) {
    panel.replaceChildren(
      h("h2", { text: "Last scrape sessions" }),
      h("p", { class: "muted", text: errorText(error) }),
    );
    panel.hidden = false;
    return;
  }
  const rows = page.items.map((x) =>
    h(
      "tr",
      { class: "scrape-session", "data-session-id": x.id },
      h("td", { class: "num", text: `#${x.id}` }),
      h("td", {}, badge(x.status)),
      h("td", { text: x.session_type }),
      h("td", { text: fmtTime(x.started_at) }),
      h("td", { class: "num", text: `${x.posts_new}/${x.posts_found}` }),
      h("td", { class: "num", text: `${x.comments_new}/${x.comments_found}` }),
      h("td", { class: "num", text: String(x.requests_made) }),
      h("td", { class: "num", text: fmtDuration(x.rate_limit_wait_seconds) }),
      h("td", { class: "error-cell", text: x.error_message || "" }),
    ),
  );
  const headings = [
    "",
    "Status",
    "Type",
    "Started",
    "Posts new/found",
    "Comments new/found",
    "Requests",
    "Waited",
    "Error",
  ];
  panel.replaceChildren(
    h("h2", { text: "Last scrape sessions" }),
    rows.length
      ? h(
          "table",
          { class: "grid", id: "bot-sessions-table" },
          h(
            "thead",
            {},
            h(
              "tr",
              {},
              headings.map((t) => h("th", { text: t })),
            ),
          ),
          h("tbody", {}, rows),
        )
      : h("p", { class: "muted", text: "No scrape sessions yet." }),
  );
  panel.hidden = false;
}

function jobHeader(job) {
  const facts = h(
    "dl",
    { class: "facts" },
    h("dt", { text: "Schedule" }),
    h("dd", {
      id: "job-schedule",
      title: job.trigger,
      text: job.trigger_description || job.trigger,
    }),
    h("dt", { text: "Next run" }),
    h("dd", {
      id: "job-next-run",
      text: job.next_run_time
        ? `${fmtTime(job.next_run_time)} (${fmtRelative(job.next_run_time)})`
        : "— (paused)",
    }),
    h("dt", { text: "Task" }),
    h("dd", { class: "mono", text: job.task || "—" }),
    h("dt", { text: "Params" }),
    h("dd", { class: "mono", text: JSON.stringify(job.params || {}) }),
    h("dt", { text: "Timeout" }),
    h("dd", { text: job.timeout_seconds ? fmtDuration(job.timeout_seconds) : "task default" }),
    h("dt", { text: "Overlap" }),
    h("dd", {
      id: "job-overlap",
      text:
        job.overlap === "allow_all"
          ? `allow_all: at most ${job.max_instances} at once`
          : `${job.overlap}: one at a time`,
    }),
    h("dt", { text: "Catch-up window" }),
    h("dd", {
      id: "job-catchup-window",
      text: job.catchup_window_seconds ? fmtDuration(job.catchup_window_seconds) : "none",
    }),
  );
  return [
    h(
      "div",
      { class: "toolbar" },
      h("h1", { id: "job-title", text: job.name }),
      job.paused ? badge("paused") : badge("active"),
      job.builtin ? badge("built in", "info") : null,
      job.bot_config_id !== null ? badge(`bot config ${job.bot_config_id}`, "info") : null,
    ),
    h("p", { class: "muted mono", text: job.id }),
    facts,
  ];
}

function statCards(st) {
  return [
    card(
      "Runs",
      h("p", { class: "big", text: String(st.total_runs) }),
      h("p", {
        class: "muted",
        text: `${st.successful_runs} ok, ${st.failed_runs} failed, ${st.running_runs} running`,
      }),
    ),
    card(
      "Success rate",
      h("p", {
        class: "big",
        id: "stat-success-rate",
        text: st.total_runs ? fmtRate(st.success_rate) : "—",
      }),
    ),
    card(
      "Duration",
      h("p", { class: "big", text: fmtDuration(st.avg_duration_seconds || null) }),
      h("p", { class: "muted", text: `average; p95 ${fmtDuration(st.p95_duration_seconds)}` }),
    ),
    card(
      "Last success",
      h("p", { text: fmtTime(st.last_success_at) }),
      h("p", { class: "muted", text: fmtRelative(st.last_success_at) }),
    ),
    card(
      "Last failure",
      h("p", { text: fmtTime(st.last_failure_at) }),
      h("p", { class: "muted", text: fmtRelative(st.last_failure_at) }),
    ),
  ];
}

// Past slots of the job, run on request: the times are the browser's local time.
function backfillForm(jobId, reasonInput, after) {
  const start = h("input", { id: "backfill-start", type: "datetime-local", required: true });
  const end = h("input", { id: "backfill-end", type: "datetime-local", required: true });
  const submit = async (event) => {
    event.preventDefault();
    if (!start.value || !end.value) {
      toast("Backfill: give a start and an end.", "error");
      return;
    }
    try {
      const result = await api("POST", `/tasks/${encodeURIComponent(jobId)}/backfill`, {
        json: {
          start: new Date(start.value).toISOString(),
          end: new Date(end.value).toISOString(),
          reason: reasonInput?.value.trim() || undefined,
        },
      });
      toast(`Backfill of ${jobId}: ${result.runs} slot(s) to run.`, "ok");
    } catch (error) {
      toast(`backfill ${jobId}: ${errorText(error)}`, "error");
    }
    await after();
  };
  return h(
    "section",
    { class: "panel", id: "job-backfill", hidden: !may("operator") },
    h("h2", { text: "Backfill" }),
    h(
      "form",
      { class: "toolbar", id: "backfill-form", onsubmit: submit },
      h("label", {}, "From ", start),
      h("label", {}, "until (not including) ", end),
      h("button", { type: "submit", "data-action": "backfill", text: "Run past slots" }),
    ),
  );
}

// An operator may cancel a run that has not finished.
function cancelButton(run, reasonInput, after) {
  if (!may("operator") || !["running", "queued", "waiting"].includes(run.status)) return "";
  return h("button", {
    type: "button",
    class: "danger",
    "data-action": "cancel",
    text: "Cancel",
    onclick: async () => {
      try {
        await api("POST", `/tasks/executions/${run.id}/cancel`, {
          query: { reason: reasonInput?.value.trim() || undefined },
        });
        toast(`Cancelled execution #${run.id}.`, "ok");
      } catch (error) {
        toast(`cancel #${run.id}: ${errorText(error)}`, "error");
      }
      if (after) await after("cancel");
    },
  });
}

function executionsTable(runs, reasonInput, after) {
  if (!runs.length) return h("p", { class: "muted", text: "No executions." });
  const body = h("tbody");
  for (const r of runs) {
    const row = h(
      "tr",
      { "data-execution-id": r.id, class: "execution" },
      h("td", { class: "num", text: `#${r.id}` }),
      h("td", {}, badge(r.status)),
      h("td", { text: r.trigger }),
      h("td", { text: fmtTime(r.scheduled_at) }),
      h("td", { text: fmtTime(r.started_at) }),
      h("td", { class: "num", text: fmtDuration(r.duration_seconds) }),
      h("td", { class: "error-cell", text: r.error_message || "" }),
    );
    const detailRow = h("tr", { class: "detail", hidden: true }, h("td", { colspan: 7 }));
    const toggle = h("button", {
      type: "button",
      class: "link",
      "data-action": "details",
      text: "Details",
    });
    toggle.addEventListener("click", () => toggleDetail(r.id, detailRow));
    row.append(h("td", {}, toggle, cancelButton(r, reasonInput, after)));
    body.append(row, detailRow);
    if (state.expanded.has(r.id)) renderDetail(state.expanded.get(r.id), detailRow);
  }
  return h(
    "table",
    { class: "grid", id: "executions-table" },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        ["", "Status", "Trigger", "Scheduled", "Started", "Duration", "Error", ""].map((t) =>
          h("th", { text: t }),
        ),
      ),
    ),
    body,
  );
}

async function toggleDetail(id, detailRow) {
  if (state.expanded.has(id)) {
    state.expanded.delete(id);
    detailRow.hidden = true;
    return;
  }
  try {
    const detail = await api("GET", `/tasks/executions/${id}`);
    state.expanded.set(id, detail);
    renderDetail(detail, detailRow);
  } catch (error) {
    toast(errorText(error), "error");
  }
}

function renderDetail(detail, detailRow) {
  detailRow.hidden = false;
  detailRow.firstChild.replaceChildren(runDetail(detail));
}

function changeSummary(before, after) {
  if (!before && after)
    return after.execution_id !== undefined ? `execution #${after.execution_id}` : "created";
  if (before && !after) return "deleted";
  if (!before || !after) return "";
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])];
  const changed = keys.filter(
    (k) =>
      JSON.stringify(before[k]) !== JSON.stringify(after[k]) &&
      k !== "next_run_time" &&
      k !== "trigger_spec",
  );
  return changed
    .map((k) => `${k}: ${JSON.stringify(before[k])} → ${JSON.stringify(after[k])}`)
    .join("; ");
}

function auditTable(page) {
  if (!page.items.length) return h("p", { class: "muted", text: "No changes recorded." });
  const body = h("tbody");
  for (const e of page.items) {
    const json = h("pre", {
      class: "result",
      hidden: !state.auditOpen.has(e.id),
      text: JSON.stringify({ before: e.before, after: e.after }, null, 2),
    });
    body.append(
      h(
        "tr",
        { class: "audit-entry", "data-action": e.action },
        h("td", { text: fmtTime(e.created_at) }),
        h("td", {
          class: "actor",
          text: e.api_key_name ? `${e.actor_email}, key ${e.api_key_name}` : e.actor_email,
        }),
        h(
          "td",
          {},
          badge(e.action, "info"),
          e.source === "bot_config" ? h("span", { class: "muted", text: " via bot config" }) : null,
        ),
        h("td", { class: "reason", text: e.reason || "" }),
        h(
          "td",
          {},
          h("span", { text: changeSummary(e.before, e.after) }),
          " ",
          h("button", {
            type: "button",
            class: "link",
            text: "JSON",
            onclick: () => {
              json.hidden = !json.hidden;
              if (json.hidden) state.auditOpen.delete(e.id);
              else state.auditOpen.add(e.id);
            },
          }),
          json,
        ),
      ),
    );
  }
  return h(
    "table",
    { class: "grid", id: "audit-table" },
    h(
      "thead",
      {},
      h(
        "tr",
        {},
        ["When", "Who", "Action", "Reason", "Change"].map((t) => h("th", { text: t })),
      ),
    ),
    body,
  );
}
