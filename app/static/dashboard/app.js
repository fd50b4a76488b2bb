// The scheduler dashboard: a small single-page app over the task API.
// No framework and no build step. Every piece of text from the API goes into the page
// through textContent or attributes, never as markup.
"use strict";

(() => {
  const API = "/api/v1";
  const REFRESH_MS = 5000;
  const PAGE_SIZE = 50;
  const STATUSES = ["success", "failed", "timeout", "running", "missed", "skipped", "interrupted"];
  const TRIGGER_TYPES = ["interval", "cron", "date"];
  const INTERVAL_UNITS = ["weeks", "days", "hours", "minutes", "seconds"];
  const CRON_FIELDS = ["month", "day", "day_of_week", "hour", "minute", "second"];
  const SHARED_TRIGGER_FIELDS = ["timezone", "start_date", "end_date", "jitter"];
  // Each role may do what the ones before it may. The page only offers what the
  // signed-in user's role allows; the API enforces it either way.
  const ROLES = ["viewer", "operator", "admin"];

  const state = {
    me: null,
    role: null, // the user's role in the task system; a superuser is an admin
    timers: [],
    jobsOffset: 0,
    armedDelete: null, // the job whose Delete button asks for confirmation
    expanded: new Map(), // execution id -> its detail, once loaded
    auditOpen: new Set(), // audit entries whose JSON is shown
    statusFilter: "",
    view: 0, // bumped on every navigation, so late answers of a left view are dropped
  };

  // --- DOM -----------------------------------------------------------------------

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    applyAttrs(el, attrs);
    appendAll(el, children);
    return el;
  }

  function s(tag, attrs, ...children) {
    const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
    applyAttrs(el, attrs);
    appendAll(el, children);
    return el;
  }

  function applyAttrs(el, attrs) {
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "text") el.textContent = String(value);
      else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
      else if (key === "value") el.value = value;
      else if (key === "checked") el.checked = Boolean(value);
      else el.setAttribute(key, value === true ? "" : String(value));
    }
  }

  function appendAll(el, children) {
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
  }

  const $ = (selector, root = document) => root.querySelector(selector);
  const main = () => $("#main");

  function toast(message, kind = "info") {
    const box = $("#toast");
    box.textContent = message;
    box.className = `toast ${kind}`;
    box.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => {
      box.hidden = true;
    }, kind === "error" ? 8000 : 4000);
  }

  // --- API -----------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, detail) {
      super(typeof detail === "string" ? detail : `HTTP ${status}`);
      this.status = status;
      this.detail = detail;
    }
  }

  const tokens = {
    get access() {
      return sessionStorage.getItem("access_token");
    },
    get refresh() {
      return sessionStorage.getItem("refresh_token");
    },
    set(pair) {
      sessionStorage.setItem("access_token", pair.access_token);
      sessionStorage.setItem("refresh_token", pair.refresh_token);
    },
    clear() {
      sessionStorage.removeItem("access_token");
      sessionStorage.removeItem("refresh_token");
    },
  };

  async function api(method, path, { json, form, query, retry = true } = {}) {
    const headers = { Accept: "application/json" };
    if (tokens.access) headers.Authorization = `Bearer ${tokens.access}`;
    let body;
    if (json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(json);
    } else if (form !== undefined) {
      body = new URLSearchParams(form);
    }
    let url = API + path;
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query || {})) {
      if (value !== undefined && value !== null && value !== "") params.set(key, value);
    }
    if ([...params].length) url += `?${params}`;
    const response = await fetch(url, { method, headers, body });
    if (response.status === 401 && retry && tokens.refresh && (await refreshTokens())) {
      return api(method, path, { json, form, query, retry: false });
    }
    const text = await response.text();
    let data = null;
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = { detail: text };
      }
    }
    if (response.status === 401 && !path.startsWith("/auth/")) {
      tokens.clear();
      showLogin("Your session has ended; please sign in again.");
      throw new ApiError(401, data && data.detail);
    }
    if (!response.ok) throw new ApiError(response.status, data ? data.detail : null);
    return data;
  }

  // One refresh at a time: the views load several things at once, and presenting the
  // same refresh token twice counts as reuse, which revokes the whole session.
  let refreshing = null;

  function refreshTokens() {
    if (!refreshing) {
      refreshing = (async () => {
        try {
          const pair = await api("POST", "/auth/refresh", {
            json: { refresh_token: tokens.refresh },
            retry: false,
          });
          tokens.set(pair);
          return true;
        } catch {
          return false;
        }
      })().finally(() => {
        refreshing = null;
      });
    }
    return refreshing;
  }

  function errorText(error) {
    if (!(error instanceof ApiError)) return String(error && error.message ? error.message : error);
    if (typeof error.detail === "string") return error.detail;
    if (Array.isArray(error.detail)) {
      return error.detail.map((e) => `${(e.loc || []).slice(1).join(".")}: ${e.msg}`).join("; ");
    }
    return error.message;
  }

  // --- formatting ----------------------------------------------------------------

  const pad = (n) => String(n).padStart(2, "0");

  function fmtTime(iso) {
    if (!iso) return "—";
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return iso;
    return (
      `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ` +
      `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} UTC`
    );
  }

  function fmtRelative(iso) {
    if (!iso) return "";
    const seconds = (new Date(iso).getTime() - Date.now()) / 1000;
    const abs = Math.abs(seconds);
    let text;
    if (abs < 60) text = `${Math.round(abs)} s`;
    else if (abs < 3600) text = `${Math.round(abs / 60)} min`;
    else if (abs < 86400 * 2) text = `${Math.round(abs / 360) / 10} h`;
    else text = `${Math.round(abs / 86400)} days`;
    return seconds >= 0 ? `in ${text}` : `${text} ago`;
  }

  function fmtDuration(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
    if (seconds < 120) return `${seconds.toFixed(seconds < 10 ? 2 : 1)} s`;
    return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  }

  // A fire time as the API gives it, in the trigger's own zone: "Mon 2027-01-04 03:00:00".
  function fmtFire(iso, zone) {
    const match = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.\d+)?(Z|[+-]\d{2}:\d{2})?$/.exec(iso);
    if (!match) return iso;
    const weekday = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"][
      new Date(`${match[1]}T00:00:00Z`).getUTCDay()
    ];
    const offset = !match[3] || match[3] === "Z" || match[3] === "+00:00" ? "" : ` (${match[3]})`;
    return `${weekday} ${match[1]} ${match[2]} ${zone || "UTC"}${offset}`;
  }

  function fmtRate(rate) {
    return rate === null || rate === undefined ? "—" : `${Number(rate).toFixed(rate % 1 ? 1 : 0)}%`;
  }

  function badge(text, kind) {
    return h("span", { class: `badge ${kind || text}`, text });
  }

  // --- roles ---------------------------------------------------------------------

  function roleOf(me) {
    return me && me.is_superuser ? "admin" : (me && me.role) || null;
  }

  function may(needed) {
    return state.role !== null && ROLES.indexOf(state.role) >= ROLES.indexOf(needed);
  }

  // --- routing -------------------------------------------------------------------

  function clearTimers() {
    for (const id of state.timers) clearInterval(id);
    state.timers = [];
  }

  function every(ms, fn) {
    state.timers.push(setInterval(fn, ms));
  }

  async function route() {
    clearTimers();
    state.view += 1;
    if (!tokens.access) return showLogin();
    if (!state.me) {
      try {
        state.me = await api("GET", "/users/me");
      } catch (error) {
        if (error instanceof ApiError && error.status === 401) return undefined;
        return showFatal(errorText(error));
      }
    }
    state.role = roleOf(state.me);
    showUser();
    if (!state.role) {
      return showFatal("The scheduler dashboard is for users with a role in the task system (viewer, operator or admin); this account has none.");
    }
    const hash = location.hash.replace(/^#/, "") || "/";
    let match;
    if (hash === "/" || hash === "") return viewHome();
    if (hash === "/new" && may("admin")) return viewForm(null);
    if ((match = /^\/jobs\/([^/]+)\/edit$/.exec(hash))) {
      const jobId = decodeURIComponent(match[1]);
      if (may("admin")) return viewForm(jobId);
      location.hash = `#/jobs/${encodeURIComponent(jobId)}`;
      return undefined;
    }
    if ((match = /^\/jobs\/([^/]+)$/.exec(hash))) return viewJob(decodeURIComponent(match[1]));
    location.hash = "#/";
    return undefined;
  }

  function showUser() {
    $("#who").textContent = state.me ? state.me.email : "";
    $("#who-role").textContent = state.me && state.role ? state.role : "";
    $("#logout").hidden = !state.me;
    $("#topnav").hidden = !(state.me && state.role);
    $("#nav-new").hidden = !may("admin");
  }

  function showFatal(message) {
    main().replaceChildren(h("section", { class: "panel" }, h("p", { class: "error", text: message })));
  }

  function showLogin(message) {
    clearTimers();
    state.me = null;
    state.role = null;
    showUser();
    const error = h("p", { class: "error", id: "login-error", text: message || "" });
    const form = h(
      "form",
      { class: "panel login", id: "login-form", onsubmit: onLogin },
      h("h1", { text: "Sign in" }),
      h("label", { class: "field" }, "Email", h("input", { name: "username", type: "email", autocomplete: "username", required: true })),
      h("label", { class: "field" }, "Password", h("input", { name: "password", type: "password", autocomplete: "current-password", required: true })),
      error,
      h("button", { type: "submit", class: "primary", text: "Sign in" }),
    );
    main().replaceChildren(form);
    $("input[name=username]", form).focus();
  }

  async function onLogin(event) {
    event.preventDefault();
    const form = event.currentTarget;
    const data = new FormData(form);
    try {
      const pair = await api("POST", "/auth/login", {
        form: { username: data.get("username"), password: data.get("password") },
        retry: false,
      });
      tokens.set(pair);
      state.me = null;
      await route();
    } catch (error) {
      $("#login-error").textContent =
        error instanceof ApiError && error.status === 401 ? "Wrong email or password." : errorText(error);
    }
  }

  async function onLogout() {
    const refresh = tokens.refresh;
    tokens.clear();
    if (refresh) {
      try {
        await api("POST", "/auth/logout", { json: { refresh_token: refresh }, retry: false });
      } catch {
        // The tokens are gone from this tab either way.
      }
    }
    showLogin();
  }

  // --- job actions ---------------------------------------------------------------

  function managed(job) {
    return job.builtin || job.bot_config_id !== null;
  }

  async function jobAction(job, action, reason, after) {
    const paths = {
      pause: ["POST", `/tasks/${encodeURIComponent(job.id)}/pause`],
      resume: ["POST", `/tasks/${encodeURIComponent(job.id)}/resume`],
      run: ["POST", `/tasks/${encodeURIComponent(job.id)}/run`],
      delete: ["DELETE", `/tasks/${encodeURIComponent(job.id)}`],
    };
    const [method, path] = paths[action];
    try {
      const result = await api(method, path, { query: { reason } });
      const done = {
        pause: `Paused ${job.id}.`,
        resume: `Resumed ${job.id}.`,
        run: `Started ${job.id} (execution #${result.execution_id}).`,
        delete: `Deleted ${job.id}.`,
      };
      toast(done[action], "ok");
    } catch (error) {
      toast(`${action} ${job.id}: ${errorText(error)}`, "error");
    }
    if (after) await after(action);
  }

  function actionButtons(job, reasonInput, after) {
    const reason = () => (reasonInput && reasonInput.value.trim()) || undefined;
    const buttons = [];
    if (may("operator")) {
      buttons.push(
        job.paused
          ? h("button", { type: "button", "data-action": "resume", text: "Resume", onclick: () => jobAction(job, "resume", reason(), after) })
          : h("button", { type: "button", "data-action": "pause", text: "Pause", onclick: () => jobAction(job, "pause", reason(), after) }),
        h("button", { type: "button", "data-action": "run", text: "Run now", onclick: () => jobAction(job, "run", reason(), after) }),
      );
    }
    if (!may("admin")) return h("div", { class: "actions" }, buttons);
    buttons.push(h("a", { class: "button", "data-action": "edit", href: `#/jobs/${encodeURIComponent(job.id)}/edit`, text: "Edit" }));
    if (managed(job)) {
      buttons.push(
        h("button", {
          type: "button",
          "data-action": "delete",
          disabled: true,
          title: job.builtin ? "Built-in jobs cannot be deleted; pause them instead" : "Follows its bot config",
          text: "Delete",
        }),
      );
    } else if (state.armedDelete === job.id) {
      buttons.push(
        h("button", {
          type: "button",
          class: "danger",
          "data-action": "confirm-delete",
          text: "Confirm delete",
          onclick: () => {
            state.armedDelete = null;
            jobAction(job, "delete", reason(), after);
          },
        }),
      );
    } else {
      buttons.push(
        h("button", {
          type: "button",
          "data-action": "delete",
          text: "Delete",
          onclick: (event) => {
            state.armedDelete = job.id;
            const confirm = h("button", {
              type: "button",
              class: "danger",
              "data-action": "confirm-delete",
              text: "Confirm delete",
              onclick: () => {
                state.armedDelete = null;
                jobAction(job, "delete", reason(), after);
              },
            });
            event.currentTarget.replaceWith(confirm);
            setTimeout(() => {
              if (state.armedDelete === job.id) state.armedDelete = null;
            }, 6000);
          },
        }),
      );
    }
    return h("div", { class: "actions" }, buttons);
  }

  // --- home: overview and jobs ---------------------------------------------------

  function viewHome() {
    const view = state.view;
    const reason = h("input", {
      id: "reason",
      type: "text",
      maxlength: 500,
      placeholder: "Reason for changes (optional, kept in the audit log)",
      hidden: !may("operator"),
    });
    const overview = h("section", { class: "overview", id: "overview" }, h("p", { class: "muted", text: "Loading…" }));
    const jobs = h("section", { class: "panel" },
      h("div", { class: "toolbar" },
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

  function card(title, ...body) {
    return h("div", { class: "card" }, h("h3", { text: title }), ...body);
  }

  function overviewCards(stats) {
    const leader = stats.leader;
    const leaderCard = card(
      "Scheduler leader",
      h("p", { class: "big", id: "leader-holder", text: leader.holder || "none" }),
      h("p", {},
        badge(leader.alive ? "alive" : "down", leader.alive ? "success" : "failed"),
        leader.this_process ? " " : null,
        leader.this_process ? badge("this process", "info") : null,
      ),
      h("p", { class: "muted", text: leader.since ? `leading since ${fmtTime(leader.since)}` : "" }),
      h("p", { class: "muted", text: leader.heartbeat_at ? `heartbeat ${fmtRelative(leader.heartbeat_at)}` : "" }),
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
      h("ul", { class: "plain", id: "running-list" },
        running.slice(0, 8).map((r) =>
          h("li", {},
            h("a", { href: `#/jobs/${encodeURIComponent(r.job_id)}`, text: r.job_id }),
            h("span", { class: "muted", text: ` since ${fmtRelative(r.started_at).replace(" ago", "")}` }),
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
      h("ul", { class: "chips", id: "last-24h" },
        STATUSES.filter((st) => counts[st]).map((st) =>
          h("li", { "data-status": st }, badge(st), ` ${counts[st]}`),
        ),
      ),
    );
    return [leaderCard, jobsCard, runningCard, dayCard];
  }

  function jobsTable(page, reasonInput, refresh) {
    if (!page.items.length) return h("p", { class: "muted", text: "No jobs." });
    const rows = page.items.map((job) =>
      h("tr", { "data-job-id": job.id, class: job.paused ? "is-paused" : null },
        h("td", {},
          h("a", { class: "job-name", href: `#/jobs/${encodeURIComponent(job.id)}`, text: job.name }),
          h("div", { class: "muted mono", text: job.id }),
        ),
        h("td", { class: "mono", text: job.task || "—" }),
        h("td", { class: "schedule", title: job.trigger, text: job.trigger_description || job.trigger }),
        h("td", { class: "next-run" },
          job.next_run_time
            ? [h("div", { text: fmtTime(job.next_run_time) }), h("div", { class: "muted", text: fmtRelative(job.next_run_time) })]
            : h("span", { class: "muted", text: "—" }),
        ),
        h("td", { class: "state" }, job.paused ? badge("paused") : badge("active")),
        h("td", { class: "last-status" }, job.last_status ? badge(job.last_status) : h("span", { class: "muted", text: "never run" })),
        h("td", { class: "success-rate num", text: fmtRate(job.success_rate) }),
        h("td", {}, actionButtons(job, reasonInput, refresh)),
      ),
    );
    const pager = h("div", { class: "pager" },
      h("button", {
        type: "button",
        text: "← Previous",
        disabled: page.offset === 0,
        onclick: () => {
          state.jobsOffset = Math.max(0, page.offset - PAGE_SIZE);
          refresh();
        },
      }),
      h("span", { class: "muted", text: `${page.offset + 1}–${page.offset + page.items.length} of ${page.total}` }),
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
    return h("div", {},
      h("table", { class: "grid", id: "jobs-table" },
        h("thead", {}, h("tr", {},
          ["Name", "Task", "Schedule", "Next run", "State", "Last status", "Success rate", ""].map((t) => h("th", { text: t })),
        )),
        h("tbody", {}, rows),
      ),
      pager,
    );
  }

  // --- one job -------------------------------------------------------------------

  function viewJob(jobId) {
    const view = state.view;
    const enc = encodeURIComponent(jobId);
    state.expanded = new Map();
    // The reason box stays put while the rest refreshes, so typing in it is not lost.
    const info = h("div", {}, h("p", { class: "muted", text: "Loading…" }));
    const reason = h("input", { id: "reason", type: "text", maxlength: 500, placeholder: "Reason for changes (optional)", hidden: !may("operator") });
    const actions = h("div", {});
    const header = h("section", { class: "panel", id: "job-header" }, info, h("div", { class: "toolbar" }, reason, actions));
    const stats = h("section", { class: "cards", id: "job-stats" });
    const chart = h("section", { class: "panel", id: "job-chart" });
    const filter = h("select", { id: "status-filter", onchange: () => {
      state.statusFilter = filter.value;
      refresh();
    } }, h("option", { value: "", text: "all statuses" }), STATUSES.map((st) => h("option", { value: st, text: st })));
    filter.value = state.statusFilter;
    const executions = h("div", { id: "executions" });
    const audit = h("div", { id: "audit" });
    const scrapes = h("section", { class: "panel", id: "bot-sessions", hidden: true });
    state.auditOpen = new Set();
    main().replaceChildren(
      h("nav", { class: "crumbs" }, h("a", { href: "#/", text: "Jobs" }), " / ", h("span", { class: "mono", text: jobId })),
      header,
      stats,
      chart,
      scrapes,
      h("section", { class: "panel" }, h("div", { class: "toolbar" }, h("h2", { text: "Recent executions" }), filter), executions),
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
      if (job.status === "fulfilled") {
        info.replaceChildren(...jobHeader(job.value));
        actions.replaceChildren(actionButtons(job.value, reason, refresh));
        if (job.value.bot_config_id !== null) showBotSessions(job.value.bot_config_id, scrapes);
      } else if (job.reason instanceof ApiError && job.reason.status === 404) {
        gone = true;
        info.replaceChildren(h("h1", { class: "mono", text: jobId }), h("p", { class: "muted", text: "This job no longer exists; its history remains." }));
        reason.hidden = true;
        actions.replaceChildren();
      } else {
        info.replaceChildren(h("p", { class: "error", text: errorText(job.reason) }));
      }
      if (st.status === "fulfilled") stats.replaceChildren(...statCards(st.value));
      if (chartRuns.status === "fulfilled") chart.replaceChildren(h("h2", { text: "Durations and outcomes" }), durationChart(chartRuns.value));
      if (runs.status === "fulfilled") executions.replaceChildren(executionsTable(runs.value));
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
      page = await api("GET", "/scrape-sessions", { query: { bot_config_id: botConfigId, limit: 10 } });
    } catch (error) {
      panel.replaceChildren(h("h2", { text: "Last scrape sessions" }), h("p", { class: "muted", text: errorText(error) }));
      panel.hidden = false;
      return;
    }
    const rows = page.items.map((x) =>
      h("tr", { class: "scrape-session", "data-session-id": x.id },
        h("td", { class: "num", text: `#${x.id}` }),
        h("td", {}, badge(x.status)),
        h("td", { text: x.session_type }),
        h("td", { text: fmtTime(x.started_at) }),
        h("td", { class: "num", text: `${x.posts_new}/${x.posts_found}` }),
        h("td", { class: "num", text: `${x.comments_new}/${x.comments_found}` }),
        h("td", { class: "num", text: String(x.requests_made) }),
        h("td", { class: "num", text: fmtDuration(x.rate_limit_wait_seconds) }),
        h("td", { class: "error-cell", text: x.error_message || "" }),
      ));
    panel.replaceChildren(
      h("h2", { text: "Last scrape sessions" }),
      rows.length
        ? h("table", { class: "grid", id: "bot-sessions-table" },
          h("thead", {}, h("tr", {}, ["", "Status", "Type", "Started", "Posts new/found", "Comments new/found", "Requests", "Waited", "Error"].map((t) => h("th", { text: t })))),
          h("tbody", {}, rows))
        : h("p", { class: "muted", text: "No scrape sessions yet." }),
    );
    panel.hidden = false;
  }

  function jobHeader(job) {
    const facts = h("dl", { class: "facts" },
      h("dt", { text: "Schedule" }), h("dd", { id: "job-schedule", title: job.trigger, text: job.trigger_description || job.trigger }),
      h("dt", { text: "Next run" }), h("dd", { id: "job-next-run", text: job.next_run_time ? `${fmtTime(job.next_run_time)} (${fmtRelative(job.next_run_time)})` : "— (paused)" }),
      h("dt", { text: "Task" }), h("dd", { class: "mono", text: job.task || "—" }),
      h("dt", { text: "Params" }), h("dd", { class: "mono", text: JSON.stringify(job.params || {}) }),
      h("dt", { text: "Timeout" }), h("dd", { text: job.timeout_seconds ? fmtDuration(job.timeout_seconds) : "task default" }),
      h("dt", { text: "Overlap" }), h("dd", { text: `at most ${job.max_instances} at once` }),
    );
    return [
      h("div", { class: "toolbar" },
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
      card("Runs", h("p", { class: "big", text: String(st.total_runs) }), h("p", { class: "muted", text: `${st.successful_runs} ok, ${st.failed_runs} failed, ${st.running_runs} running` })),
      card("Success rate", h("p", { class: "big", id: "stat-success-rate", text: st.total_runs ? fmtRate(st.success_rate) : "—" })),
      card("Duration", h("p", { class: "big", text: fmtDuration(st.avg_duration_seconds || null) }), h("p", { class: "muted", text: `average; p95 ${fmtDuration(st.p95_duration_seconds)}` })),
      card("Last success", h("p", { text: fmtTime(st.last_success_at) }), h("p", { class: "muted", text: fmtRelative(st.last_success_at) })),
      card("Last failure", h("p", { text: fmtTime(st.last_failure_at) }), h("p", { class: "muted", text: fmtRelative(st.last_failure_at) })),
    ];
  }

  // Bars of run durations, oldest on the left, coloured by outcome. Runs that never ran
  // (missed, skipped) or have not finished show as a short mark on the baseline.
  function durationChart(runs) {
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
      return s("rect", {
        class: `bar ${r.status}`,
        x: x.toFixed(1),
        y: (top + plotH - barH).toFixed(1),
        width: barW.toFixed(1),
        height: barH.toFixed(1),
        "data-execution-id": r.id,
      }, s("title", { text: `#${r.id} ${r.status} · ${fmtTime(r.started_at)} · ${fmtDuration(value)}` }));
    });
    const svgEl = s("svg", { class: "chart", viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "Run durations and outcomes" },
      s("line", { class: "axis", x1: left, y1: top + plotH, x2: width - 8, y2: top + plotH }),
      s("line", { class: "axis", x1: left, y1: top, x2: left, y2: top + plotH }),
      s("text", { class: "tick", x: left - 6, y: top + 4, "text-anchor": "end", text: fmtDuration(max) }),
      s("text", { class: "tick", x: left - 6, y: top + plotH, "text-anchor": "end", text: "0" }),
      s("text", { class: "tick", x: left, y: height - 8, text: fmtTime(ordered[0].started_at) }),
      s("text", { class: "tick", x: width - 8, y: height - 8, "text-anchor": "end", text: fmtTime(ordered[ordered.length - 1].started_at) }),
      bars,
    );
    const present = STATUSES.filter((st) => ordered.some((r) => r.status === st));
    return h("div", {},
      svgEl,
      h("p", { class: "legend" }, `Last ${ordered.length} runs, oldest first: `, present.map((st) => [badge(st), " "])),
    );
  }

  function executionsTable(runs) {
    if (!runs.length) return h("p", { class: "muted", text: "No executions." });
    const body = h("tbody");
    for (const r of runs) {
      const row = h("tr", { "data-execution-id": r.id, class: "execution" },
        h("td", { class: "num", text: `#${r.id}` }),
        h("td", {}, badge(r.status)),
        h("td", { text: r.trigger }),
        h("td", { text: fmtTime(r.scheduled_at) }),
        h("td", { text: fmtTime(r.started_at) }),
        h("td", { class: "num", text: fmtDuration(r.duration_seconds) }),
        h("td", { class: "error-cell", text: r.error_message || "" }),
      );
      const detailRow = h("tr", { class: "detail", hidden: true }, h("td", { colspan: 7 }));
      const toggle = h("button", { type: "button", class: "link", "data-action": "details", text: "Details" });
      toggle.addEventListener("click", () => toggleDetail(r.id, detailRow));
      row.append(h("td", {}, toggle));
      body.append(row, detailRow);
      if (state.expanded.has(r.id)) renderDetail(state.expanded.get(r.id), detailRow);
    }
    return h("table", { class: "grid", id: "executions-table" },
      h("thead", {}, h("tr", {}, ["", "Status", "Trigger", "Scheduled", "Started", "Duration", "Error", ""].map((t) => h("th", { text: t })))),
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
    detailRow.firstChild.replaceChildren(
      h("div", { class: "detail-body" },
        h("p", { class: "muted", text: `Runner ${detail.runner || "—"}; completed ${fmtTime(detail.completed_at)}` }),
        detail.error_traceback ? h("pre", { class: "traceback", text: detail.error_traceback }) : null,
        detail.result !== null && detail.result !== undefined
          ? h("pre", { class: "result", text: JSON.stringify(detail.result, null, 2) })
          : null,
      ),
    );
  }

  function changeSummary(before, after) {
    if (!before && after) return after.execution_id !== undefined ? `execution #${after.execution_id}` : "created";
    if (before && !after) return "deleted";
    if (!before || !after) return "";
    const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])];
    const changed = keys.filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]) && k !== "next_run_time" && k !== "trigger_spec");
    return changed.map((k) => `${k}: ${JSON.stringify(before[k])} → ${JSON.stringify(after[k])}`).join("; ");
  }

  function auditTable(page) {
    if (!page.items.length) return h("p", { class: "muted", text: "No changes recorded." });
    const body = h("tbody");
    for (const e of page.items) {
      const json = h("pre", { class: "result", hidden: !state.auditOpen.has(e.id), text: JSON.stringify({ before: e.before, after: e.after }, null, 2) });
      body.append(
        h("tr", { class: "audit-entry", "data-action": e.action },
          h("td", { text: fmtTime(e.created_at) }),
          h("td", { class: "actor", text: e.api_key_name ? `${e.actor_email}, key ${e.api_key_name}` : e.actor_email }),
          h("td", {}, badge(e.action, "info"), e.source === "bot_config" ? h("span", { class: "muted", text: " via bot config" }) : null),
          h("td", { class: "reason", text: e.reason || "" }),
          h("td", {},
            h("span", { text: changeSummary(e.before, e.after) }), " ",
            h("button", { type: "button", class: "link", text: "JSON", onclick: () => {
              json.hidden = !json.hidden;
              if (json.hidden) state.auditOpen.delete(e.id);
              else state.auditOpen.add(e.id);
            } }),
            json,
          ),
        ),
      );
    }
    return h("table", { class: "grid", id: "audit-table" },
      h("thead", {}, h("tr", {}, ["When", "Who", "Action", "Reason", "Change"].map((t) => h("th", { text: t })))),
      body,
    );
  }

  // --- create / edit form --------------------------------------------------------

  function field(key, label, input, hint) {
    return h("label", { class: "field", "data-field": key },
      h("span", { class: "label", text: label }),
      input,
      hint ? h("span", { class: "hint", text: hint }) : null,
      h("span", { class: "field-error", "data-error-for": key }),
    );
  }

  function input(name, attrs = {}) {
    return h("input", { name, type: "text", ...attrs });
  }

  // The non-null type of a JSON schema property ("integer", "string", ...), or null
  // for anything a single input cannot hold.
  function simpleType(prop) {
    if (prop.type && typeof prop.type === "string") return prop.type;
    const options = (prop.anyOf || []).filter((o) => o.type !== "null");
    return options.length === 1 && typeof options[0].type === "string" ? options[0].type : null;
  }

  function paramsFields(task, values) {
    const box = h("div", { class: "params", id: "params-fields" });
    if (!task) return box;
    const schema = task.params_schema || {};
    const props = schema.properties || {};
    const required = new Set(schema.required || []);
    const names = Object.keys(props);
    if (!names.length) box.append(h("p", { class: "muted", text: "This task takes no parameters." }));
    for (const name of names) {
      const prop = props[name];
      const type = simpleType(prop);
      const label = `${prop.title || name}${required.has(name) ? " *" : ""}`;
      const value = values && name in values ? values[name] : prop.default;
      let el;
      if (type === "boolean") {
        el = h("input", { type: "checkbox", name: `param:${name}`, "data-type": type, checked: Boolean(value) });
      } else if (type === "integer" || type === "number" || type === "string") {
        el = input(`param:${name}`, {
          type: type === "string" ? "text" : "number",
          step: type === "integer" ? "1" : "any",
          "data-type": type,
          value: value === undefined || value === null ? "" : String(value),
        });
      } else {
        el = h("textarea", { name: `param:${name}`, "data-type": "json", rows: 2, value: value === undefined ? "" : JSON.stringify(value) });
      }
      box.append(field(`params.${name}`, label, el, prop.description));
    }
    box.append(h("span", { class: "field-error", "data-error-for": "params" }));
    return box;
  }

  // The params as the task's model takes them. A value equal to its default is left
  // out, so the job follows the task's default if that ever changes.
  function readParams(form, task) {
    const params = {};
    const schema = (task && task.params_schema) || {};
    const props = schema.properties || {};
    const required = new Set(schema.required || []);
    for (const el of form.querySelectorAll("[name^='param:']")) {
      const name = el.name.slice("param:".length);
      const type = el.dataset.type;
      let value;
      if (type === "boolean") {
        value = el.checked;
      } else if (el.value === "" && !required.has(name)) {
        continue;
      } else if (type === "integer" || type === "number") {
        value = el.value === "" ? null : Number(el.value);
      } else if (type === "json") {
        try {
          value = JSON.parse(el.value);
        } catch {
          throw new FormError(`params.${name}`, "not valid JSON");
        }
      } else {
        value = el.value;
      }
      const prop = props[name] || {};
      if (!required.has(name) && "default" in prop && JSON.stringify(prop.default) === JSON.stringify(value)) {
        continue;
      }
      params[name] = value;
    }
    return params;
  }

  class FormError extends Error {
    constructor(key, message) {
      super(message);
      this.key = key;
    }
  }

  function triggerFieldset(spec, locked) {
    const type = h("select", { name: "trigger_type", id: "trigger-type", disabled: locked }, TRIGGER_TYPES.map((t) => h("option", { value: t, text: t })));
    type.value = spec.type || "cron";
    const num = (name, value) => input(name, { type: "number", min: 0, step: "any", value: value ?? "", disabled: locked });
    const interval = h("div", { class: "trigger-panel row", "data-panel": "interval" },
      INTERVAL_UNITS.map((u) => field(`trigger.interval.${u}`, u, num(`interval:${u}`, spec.type === "interval" ? spec[u] : ""))),
    );
    const hasFields = spec.type === "cron" && !spec.expression && CRON_FIELDS.some((f) => spec[f] !== undefined);
    const cronMode = h("select", { name: "cron_mode", id: "cron-mode", disabled: locked },
      h("option", { value: "expression", text: "crontab expression" }),
      h("option", { value: "fields", text: "cron fields" }),
    );
    cronMode.value = hasFields ? "fields" : "expression";
    const expression = field("trigger.cron.expression", "Expression",
      input("cron:expression", { id: "cron-expression", placeholder: "0 3 * * *  (minute hour day month weekday; 0 or 7 = Sunday)", value: (spec.type === "cron" && spec.expression) || "", disabled: locked }),
      "Five crontab fields, or six with seconds first.");
    const fields = h("div", { class: "row", "data-cron-mode": "fields" },
      CRON_FIELDS.map((f) => field(`trigger.cron.${f}`, f.replace("_", " "), input(`cron:${f}`, { value: spec.type === "cron" && spec[f] !== undefined && spec[f] !== null ? spec[f] : "", placeholder: "*", disabled: locked }))),
    );
    const expressionBox = h("div", { "data-cron-mode": "expression" }, expression);
    const cron = h("div", { class: "trigger-panel", "data-panel": "cron" }, field("trigger.cron.mode", "Cron as", cronMode), expressionBox, fields);
    const date = h("div", { class: "trigger-panel", "data-panel": "date" },
      field("trigger.date.run_date", "Run at", input("date:run_date", { placeholder: "2027-01-01T09:00:00Z", value: spec.type === "date" ? spec.run_date || "" : "", disabled: locked }), "ISO 8601 with a zone offset"),
    );
    const shared = h("div", { class: "row", "data-shared": "" },
      field("trigger.timezone", "Time zone", input("trigger:timezone", { value: spec.timezone || "UTC", disabled: locked })),
      field("trigger.start_date", "Start", input("trigger:start_date", { value: spec.start_date || "", placeholder: "optional", disabled: locked })),
      field("trigger.end_date", "End", input("trigger:end_date", { value: spec.end_date || "", placeholder: "optional", disabled: locked })),
      field("trigger.jitter", "Jitter (s)", input("trigger:jitter", { type: "number", min: 0, value: spec.jitter ?? "", disabled: locked })),
    );
    const sync = () => {
      for (const panel of [interval, cron, date]) panel.hidden = panel.dataset.panel !== type.value;
      expressionBox.hidden = cronMode.value !== "expression";
      fields.hidden = cronMode.value !== "fields";
      for (const el of shared.querySelectorAll("[data-field]")) {
        el.hidden = type.value === "date" && el.dataset.field !== "trigger.timezone";
      }
    };
    type.addEventListener("change", sync);
    cronMode.addEventListener("change", sync);
    sync();
    return h("fieldset", { id: "trigger-fieldset" },
      h("legend", { text: "Trigger" }),
      locked ? h("p", { class: "muted", text: "This job's trigger follows its bot config's interval." }) : null,
      field("trigger.type", "Type", type),
      interval,
      cron,
      date,
      shared,
      h("span", { class: "field-error", "data-error-for": "trigger" }),
    );
  }

  function readTrigger(form) {
    const value = (name) => {
      const el = form.querySelector(`[name='${name}']`);
      return el ? el.value.trim() : "";
    };
    const type = value("trigger_type");
    const spec = { type };
    if (type === "interval") {
      for (const unit of INTERVAL_UNITS) if (value(`interval:${unit}`) !== "") spec[unit] = Number(value(`interval:${unit}`));
    } else if (type === "cron") {
      if (value("cron_mode") === "expression") spec.expression = value("cron:expression");
      else for (const f of CRON_FIELDS) if (value(`cron:${f}`) !== "") spec[f] = value(`cron:${f}`);
    } else {
      spec.run_date = value("date:run_date");
    }
    if (value("trigger:timezone") !== "") spec.timezone = value("trigger:timezone");
    if (type !== "date") {
      if (value("trigger:start_date") !== "") spec.start_date = value("trigger:start_date");
      if (value("trigger:end_date") !== "") spec.end_date = value("trigger:end_date");
      if (value("trigger:jitter") !== "") spec.jitter = Number(value("trigger:jitter"));
    }
    return spec;
  }

  // Which field of the form an API error is about: the most specific one shown.
  function errorKey(loc, form) {
    const path = (loc || []).filter((p) => p !== "body").map(String);
    if (path[0] === "trigger" && TRIGGER_TYPES.includes(path[1]) && SHARED_TRIGGER_FIELDS.includes(path[2])) {
      path.splice(1, 1);
    }
    if (path[0] === "timezone") path.unshift("trigger");
    // A cron trigger that does not parse is about its expression, when one was typed.
    if (path.length === 2 && path[0] === "trigger" && path[1] === "cron") {
      const mode = form.querySelector("[name='cron_mode']");
      if (mode && mode.value === "expression") path.push("expression");
    }
    for (let n = path.length; n > 0; n -= 1) {
      const key = path.slice(0, n).join(".");
      const target = form.querySelector(`[data-error-for="${CSS.escape(key)}"]`);
      if (target && !target.closest("[hidden]")) return key;
    }
    return null;
  }

  function clearErrors(form) {
    for (const el of form.querySelectorAll(".field-error")) el.textContent = "";
    for (const el of form.querySelectorAll(".has-error")) el.classList.remove("has-error");
    $("#form-error", form).textContent = "";
  }

  function showErrors(form, error) {
    const general = [];
    const put = (key, message) => {
      const target = key && form.querySelector(`[data-error-for="${CSS.escape(key)}"]`);
      if (!target) {
        general.push(message);
        return;
      }
      target.textContent = target.textContent ? `${target.textContent}; ${message}` : message;
      const wrapper = target.closest("[data-field]");
      if (wrapper) wrapper.classList.add("has-error");
    };
    if (error instanceof FormError) put(error.key, error.message);
    else if (error instanceof ApiError && Array.isArray(error.detail)) {
      for (const item of error.detail) put(errorKey(item.loc, form), cleanMessage(item.msg));
    } else general.push(errorText(error));
    $("#form-error", form).textContent = general.join("; ");
  }

  function cleanMessage(message) {
    return String(message || "").replace(/^Value error, /, "");
  }

  async function viewForm(jobId) {
    const view = state.view;
    main().replaceChildren(h("p", { class: "muted", text: "Loading…" }));
    let tasks;
    let job = null;
    try {
      [tasks, job] = await Promise.all([
        api("GET", "/tasks/registry"),
        jobId ? api("GET", `/tasks/${encodeURIComponent(jobId)}`) : Promise.resolve(null),
      ]);
    } catch (error) {
      return showFatal(errorText(error));
    }
    if (view !== state.view) return undefined;
    const editing = job !== null;
    const byName = new Map(tasks.map((t) => [t.name, t]));
    const spec = editing ? job.trigger_spec || { type: "cron" } : { type: "cron", timezone: "UTC" };
    const triggerLocked = editing && job.bot_config_id !== null;
    const taskLocked = editing && managed(job);

    const taskSelect = h("select", { name: "task", id: "task-select", disabled: taskLocked },
      editing ? null : h("option", { value: "", text: "— choose a task —" }),
      tasks.map((t) => h("option", { value: t.name, text: t.name })),
    );
    if (editing) taskSelect.value = job.task || "";
    const taskHelp = h("p", { class: "muted", id: "task-description" });
    const paramsBox = h("div", {});
    const renderParams = (values) => {
      const task = byName.get(taskSelect.value);
      taskHelp.textContent = task ? task.description : "";
      paramsBox.replaceChildren(paramsFields(task, values));
      for (const el of paramsBox.querySelectorAll("input, textarea")) el.disabled = taskLocked;
    };
    taskSelect.addEventListener("change", () => renderParams(null));

    const previewList = h("ol", { id: "preview-list" });
    const previewText = h("p", { class: "muted", id: "preview-description" });
    const previewButton = h("button", { type: "button", id: "preview-button", text: "Preview next runs" });
    const submit = h("button", { type: "submit", class: "primary", id: "save-button", text: editing ? "Save changes" : "Create job" });

    const form = h("form", { id: "job-form", class: "panel", novalidate: true },
      h("h1", { text: editing ? `Edit ${job.name}` : "New job" }),
      h("fieldset", {},
        h("legend", { text: "Job" }),
        editing
          ? h("p", { class: "mono", text: job.id })
          : field("id", "Id *", input("id", { id: "job-id", placeholder: "nightly_report", autocomplete: "off" }), "Letters, digits and _ . : -"),
        field("name", "Name", input("name", { id: "job-name", value: editing ? job.name : "" })),
        field("task", "Task *", taskSelect),
        taskHelp,
      ),
      h("fieldset", {}, h("legend", { text: "Parameters" }), paramsBox),
      triggerFieldset(spec, triggerLocked),
      h("fieldset", { class: "row" },
        h("legend", { text: "Options" }),
        field("timeout_seconds", "Timeout (s)", input("timeout_seconds", { type: "number", min: 0, step: "any", value: editing && job.timeout_seconds ? job.timeout_seconds : "", placeholder: "task default" })),
        field("max_instances", "Max instances", input("max_instances", { type: "number", min: 1, step: 1, value: editing ? job.max_instances : 1 })),
        field("misfire_grace_time", "Misfire grace (s)", input("misfire_grace_time", { type: "number", min: 1, step: 1, value: editing && job.misfire_grace_time ? job.misfire_grace_time : "", placeholder: "run late runs" })),
        field("coalesce", "Coalesce missed runs", h("input", { type: "checkbox", name: "coalesce", checked: editing ? job.coalesce !== false : true })),
        editing ? null : field("paused", "Create paused", h("input", { type: "checkbox", name: "paused" })),
      ),
      field("reason", "Reason (audit log)", input("reason", { maxlength: 500, placeholder: "optional" })),
      h("section", { class: "preview", id: "preview" },
        h("div", { class: "toolbar" }, h("h2", { text: "Next fire times" }), previewButton),
        previewText,
        previewList,
      ),
      h("p", { class: "error", id: "form-error" }),
      h("div", { class: "toolbar" },
        submit,
        h("a", { class: "button", href: editing ? `#/jobs/${encodeURIComponent(job.id)}` : "#/", text: "Cancel" }),
      ),
    );
    main().replaceChildren(form);
    renderParams(editing ? job.params || {} : null);

    const optionNumber = (name) => {
      const value = form.querySelector(`[name='${name}']`).value.trim();
      return value === "" ? null : Number(value);
    };
    const readAll = () => ({
      name: form.querySelector("[name='name']").value.trim() || null,
      task: taskSelect.value,
      params: readParams(form, byName.get(taskSelect.value)),
      trigger: readTrigger(form),
      timeout_seconds: optionNumber("timeout_seconds"),
      max_instances: optionNumber("max_instances"),
      misfire_grace_time: optionNumber("misfire_grace_time"),
      coalesce: form.querySelector("[name='coalesce']").checked,
    });
    const initial = editing ? JSON.stringify(readAll()) : null;

    const preview = async () => {
      clearErrors(form);
      let trigger;
      try {
        trigger = readTrigger(form);
      } catch (error) {
        showErrors(form, error);
        return false;
      }
      previewButton.disabled = true;
      try {
        const result = await api("POST", "/tasks/preview", { json: { trigger, count: 5 } });
        previewText.textContent = result.next_fire_times.length
          ? `${result.description}. Times in ${result.timezone}:`
          : `${result.description}: no more fire times.`;
        previewList.replaceChildren(...result.next_fire_times.map((t) => h("li", { text: fmtFire(t, result.timezone) })));
        return true;
      } catch (error) {
        previewText.textContent = "";
        previewList.replaceChildren();
        showErrors(form, error);
        return false;
      } finally {
        previewButton.disabled = false;
      }
    };
    previewButton.addEventListener("click", preview);
    let debounce = null;
    $("#trigger-fieldset", form).addEventListener("input", () => {
      clearTimeout(debounce);
      debounce = setTimeout(preview, 600);
    });
    $("#trigger-fieldset", form).addEventListener("change", () => {
      clearTimeout(debounce);
      debounce = setTimeout(preview, 150);
    });

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      clearTimeout(debounce);
      submit.disabled = true;
      try {
        // Nothing is saved unless the trigger previews cleanly first.
        if (!(await preview())) return;
        let values;
        try {
          values = readAll();
        } catch (error) {
          showErrors(form, error);
          return;
        }
        const reason = form.querySelector("[name='reason']").value.trim() || null;
        let saved;
        if (editing) {
          const before = JSON.parse(initial);
          const changes = {};
          for (const [key, value] of Object.entries(values)) {
            if (JSON.stringify(value) !== JSON.stringify(before[key])) changes[key] = value;
          }
          if (taskLocked) {
            delete changes.task;
            delete changes.params;
          }
          if (!Object.keys(changes).length) {
            toast("Nothing changed.");
            location.hash = `#/jobs/${encodeURIComponent(job.id)}`;
            return;
          }
          if (reason) changes.reason = reason;
          saved = await api("PATCH", `/tasks/${encodeURIComponent(job.id)}`, { json: changes });
        } else {
          const body = { id: form.querySelector("[name='id']").value.trim() };
          for (const [key, value] of Object.entries(values)) if (value !== null) body[key] = value;
          body.paused = form.querySelector("[name='paused']").checked;
          if (reason) body.reason = reason;
          saved = await api("POST", "/tasks", { json: body });
        }
        toast(editing ? `Saved ${saved.id}.` : `Created ${saved.id}.`, "ok");
        location.hash = `#/jobs/${encodeURIComponent(saved.id)}`;
      } catch (error) {
        showErrors(form, error);
      } finally {
        submit.disabled = false;
      }
    });
    if (editing) preview();
    return undefined;
  }

  // --- start ---------------------------------------------------------------------

  document.addEventListener("DOMContentLoaded", () => {
    $("#logout").addEventListener("click", onLogout);
    window.addEventListener("hashchange", route);
    route();
  });
})();
