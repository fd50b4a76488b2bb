// Home: the overview cards and the table of jobs.

import { actionButtons } from "../actions.js";
import { api, errorText } from "../api.js";
import { $, badge, card, h, main } from "../dom.js";
import { fmtRate, fmtRelative, fmtTime } from "../format.js";
import { may } from "../roles.js";
import { every, PAGE_SIZE, REFRESH_MS, STATUSES, state } from "../state.js";

export function viewHome() {
  const view = state.view;
  const reason = h("input", {
    id: "reason",
    type: "text",
    maxlength: 500,
    placeholder: "Reason for changes (optional, kept in the audit log)",
    hidden: !may("operator"),
  });
  const overview = h(
    "section",
    { class: "overview", id: "overview" },
    h("p", { class: "muted", text: "Loading…" }),
  );
  const jobs = h(
    "section",
    { class: "panel" },
    h(
      "div",
      { class: "toolbar" },
      h("h2", { text: "Jobs" }),
      reason,
      may("admin") ? h("a", { class: "button primary", href: "#/new", text: "New job" }) : null,
    ),
    h("div", { id: "jobs" }, h("p", { class: "muted", text: "Loading…" })),
  );
  const stamp = h("p", { class: "muted stamp", id: "updated" });
  main().replaceChildren(h("h1", { text: "Overview" }), overview, jobs, stamp);

  const refresh = async () => {
    const [stats, page] = await Promise.allSettled([
      api("GET", "/tasks/system/stats"),
      api("GET", "/tasks", { query: { limit: PAGE_SIZE, offset: state.jobsOffset } }),
    ]);
    if (view !== state.view) return;
    if (stats.status === "fulfilled") overview.replaceChildren(...overviewCards(stats.value));
    else overview.replaceChildren(h("p", { class: "error", text: errorText(stats.reason) }));
    const target = $("#jobs");
    if (page.status === "fulfilled") target.replaceChildren(jobsTable(page.value, reason, refresh));
    else target.replaceChildren(h("p", { class: "error", text: errorText(page.reason) }));
    stamp.textContent = `Updated ${fmtTime(new Date().toISOString())}; refreshes every ${REFRESH_MS / 1000} s.`;
  };
  every(REFRESH_MS, refresh);
  return refresh();
}

function overviewCards(stats) {
  const leader = stats.leader;
  const leaderCard = card(
    "Scheduler leader",
    h("p", { class: "big", id: "leader-holder", text: leader.holder || "none" }),
    h(
      "p",
      {},
      badge(leader.alive ? "alive" : "down", leader.alive ? "success" : "failed"),
      leader.this_process ? " " : null,
      leader.this_process ? badge("this process", "info") : null,
    ),
    h("p", { class: "muted", text: leader.since ? `leading since ${fmtTime(leader.since)}` : "" }),
    h("p", {
      class: "muted",
      text: leader.heartbeat_at ? `heartbeat ${fmtRelative(leader.heartbeat_at)}` : "",
    }),
  );
  const jobsCard = card(
    "Jobs",
    h("p", { class: "big", text: String(stats.total_jobs) }),
    h("p", { class: "muted", text: `${stats.active_jobs} active, ${stats.paused_jobs} paused` }),
  );
  const running = stats.running_now || [];
  const runningCard = card(
    "Running now",
    h("p", { class: "big", id: "running-count", text: String(stats.running_executions) }),
    h(
      "ul",
      { class: "plain", id: "running-list" },
      running.slice(0, 8).map((r) =>
        h(
          "li",
          {},
          h("a", { href: `#/jobs/${encodeURIComponent(r.job_id)}`, text: r.job_id }),
          h("span", {
            class: "muted",
            text: ` since ${fmtRelative(r.started_at).replace(" ago", "")}`,
          }),
        ),
      ),
    ),
  );
  const counts = stats.last_24h || {};
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  const bar = h("div", { class: "stack" });
  for (const status of STATUSES) {
    if (!counts[status]) continue;
    const part = h("span", { class: `seg ${status}`, title: `${status}: ${counts[status]}` });
    part.style.flexGrow = String(counts[status]);
    bar.append(part);
  }
  const dayCard = card(
    "Last 24 hours",
    h("p", { class: "big", text: `${total} runs` }),
    total ? bar : null,
    h(
      "ul",
      { class: "chips", id: "last-24h" },
      STATUSES.filter((st) => counts[st]).map((st) =>
        h("li", { "data-status": st }, badge(st), ` ${counts[st]}`),
      ),
    ),
  );
  return [leaderCard, jobsCard, runningCard, workersCard(stats.workers || []), dayCard];
}

// The worker processes of the broker executor; with EXECUTOR=local there are none and
// runs happen on the leader.
function workersCard(workers) {
  const alive = workers.filter((w) => w.alive).length;
  return card(
    "Workers",
    h("p", {
      class: "big",
      id: "workers-alive",
      text: workers.length ? `${alive} of ${workers.length} alive` : "none",
    }),
    workers.length
      ? h(
          "ul",
          { class: "plain", id: "workers-list" },
          workers.slice(0, 8).map((w) =>
            h(
              "li",
              { "data-worker-id": w.id },
              badge(w.alive ? "alive" : "down", w.alive ? "success" : "failed"),
              h("span", { text: ` ${w.id}` }),
              h("span", {
                class: "muted",
                text: ` on ${w.host}, ${w.running} running, heartbeat ${fmtRelative(w.last_heartbeat)}`,
              }),
            ),
          ),
        )
      : h("p", { class: "muted", text: "Runs happen on the scheduler leader." }),
  );
}

function jobsTable(page, reasonInput, refresh) {
  if (!page.items.length) return h("p", { class: "muted", text: "No jobs." });
  const rows = page.items.map((job) =>
    h(
      "tr",
      { "data-job-id": job.id, class: job.paused ? "is-paused" : null },
      h(
        "td",
        {},
        h("a", { class: "job-name", href: `#/jobs/${encodeURIComponent(job.id)}`, text: job.name }),
        h("div", { class: "muted mono", text: job.id }),
      ),
      h("td", { class: "mono", text: job.task || "—" }),
      h("td", {
        class: "schedule",
        title: job.trigger,
        text: job.trigger_description || job.trigger,
      }),
      h(
        "td",
        { class: "next-run" },
        job.next_run_time
          ? [
              h("div", { text: fmtTime(job.next_run_time) }),
              h("div", { class: "muted", text: fmtRelative(job.next_run_time) }),
            ]
          : h("span", { class: "muted", text: "—" }),
      ),
      h("td", { class: "state" }, job.paused ? badge("paused") : badge("active")),
      h(
        "td",
        { class: "last-status" },
        job.last_status ? badge(job.last_status) : h("span", { class: "muted", text: "never run" }),
      ),
      h("td", { class: "success-rate num", text: fmtRate(job.success_rate) }),
      h("td", {}, actionButtons(job, reasonInput, refresh)),
    ),
  );
  const pager = h(
    "div",
    { class: "pager" },
    h("button", {
      type: "button",
      text: "← Previous",
      disabled: page.offset === 0,
      onclick: () => {
        state.jobsOffset = Math.max(0, page.offset - PAGE_SIZE);
        refresh();
      },
    }),
    h("span", {
      class: "muted",
      text: `${page.offset + 1}–${page.offset + page.items.length} of ${page.total}`,
    }),
    h("button", {
      type: "button",
      text: "Next →",
      disabled: page.offset + page.items.length >= page.total,
      onclick: () => {
        state.jobsOffset = page.offset + PAGE_SIZE;
        refresh();
      },
    }),
  );
  return h(
    "div",
    {},
    h(
      "table",
      { class: "grid", id: "jobs-table" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ["Name", "Task", "Schedule", "Next run", "State", "Last status", "Success rate", ""].map(
            (t) => h("th", { text: t }),
          ),
        ),
      ),
      h("tbody", {}, rows),
    ),
    pager,
  );
}
