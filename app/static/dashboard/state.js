// What the page remembers between views, and the timers of the view shown.

export const REFRESH_MS = 5000;
export const PAGE_SIZE = 50;
export const STATUSES = [
  "success",
  "failed",
  "timeout",
  "queued",
  "running",
  "missed",
  "skipped",
  "interrupted",
  "cancelled",
];

export const state = {
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

export function clearTimers() {
  for (const id of state.timers) clearInterval(id);
  state.timers = [];
}

export function every(ms, fn) {
  state.timers.push(setInterval(fn, ms));
}
